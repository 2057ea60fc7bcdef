//! The NAPI-style poll loop of one receive queue: poll at most `budget` packets,
//! run them through GRO, complete the poll (flush GRO as `napi_complete_done`
//! does, or hold aggregates up to `rx_usecs` like `gro_flush_timeout`), then
//! hand the result to transmit, where GSO cuts super-frames to the wire MSS and
//! the whole batch goes onto the TX ring in one reservation.
//!
//! This module owns the per-poll policy (budget, GRO hold, adaptive busy
//! polling) and the counters of one queue; it does not open sockets (that is
//! [`crate::port`]) and holds no lock between polls. Everything a poll needs
//! (batches, the GRO flow table) is allocated once in [`Napi::new`]: the steady
//! state allocates nothing.
//!
//! Interrupt mitigation in ethtool's terms (`ethtool -c`):
//! - `rx-frames` = `budget`: packets one poll takes off the RX ring;
//! - `rx-usecs` = how long GRO may hold an aggregate when the ring ran dry
//!   (0: flush at the end of every poll, the kernel's default);
//! - `adaptive-rx`: under load, keep polling without syscalls (busy poll); when
//!   a poll finds nothing for `busy_usecs`, sleep in `poll()` until the kernel
//!   has packets. Without it the loop sleeps as soon as a poll finds nothing.

use std::time::Instant;

use crate::batch::Batch;
use crate::gro::{Gro, GroConfig, GroStats};
use crate::gso::{self, GsoError, GsoOptions};
use crate::packet::Packet;
use crate::pool::{FrameMemory, FramePool};
use crate::wire::{dissect_head, L3, L4};

/// Poll-loop settings of one queue (the ethtool `-c`/`-k` knobs that apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NapiConfig {
    /// Packets per poll (`rx-frames`), 1..=4096.
    pub budget: u32,
    /// GRO on receive (`rx-gro`); `None` = off.
    pub gro: Option<GroConfig>,
    /// Longest GRO hold once the ring ran dry, microseconds (`rx-usecs`).
    pub rx_usecs: u32,
    /// Busy-poll under load, sleep when idle (`adaptive-rx`).
    pub adaptive: bool,
    /// With `adaptive`, how long polls that find nothing keep spinning before the
    /// loop sleeps, microseconds.
    pub busy_usecs: u32,
    /// GSO on transmit (`tx-tcp-segmentation`, `tx-udp-segmentation`): super-frames
    /// are cut to the wire MSS. Off: a frame larger than the MTU is dropped and counted.
    pub gso: bool,
    /// The egress MTU (L3 bytes), which sets the wire MSS.
    pub mtu: u32,
}

impl Default for NapiConfig {
    fn default() -> Self {
        NapiConfig {
            budget: 64,
            gro: Some(GroConfig::default()),
            rx_usecs: 0,
            adaptive: true,
            busy_usecs: 50,
            gso: true,
            mtu: 1500,
        }
    }
}

/// Counters of one queue (names follow `ethtool -S`; see `docs/port.md`).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Packets handed on after GRO (aggregates count once).
    pub rx_delivered: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Super-frames GSO cut, and the segments it made of them.
    pub gso_superframes: u64,
    pub gso_segments: u64,
    /// Super-frames GSO refused (malformed, too many segments, ...): sent as they are
    /// when they fit the MTU, else dropped and counted in `tx_mtu_drops`.
    pub gso_errors: u64,
    /// Frames larger than the egress MTU that could not be segmented: dropped.
    pub tx_mtu_drops: u64,
    /// Frames dropped because the frame pool ran out while segmenting.
    pub tx_pool_drops: u64,
    /// Frames dropped because the transmit side failed (interface gone, timeout).
    pub tx_errors: u64,
    /// Frames received where no destination takes them (forwarding one way only).
    pub rx_no_route: u64,
    /// Polls that found packets, polls that found none while busy polling, sleeps
    /// in `poll()`, and sleeps that ended with packets ready (the "interrupts").
    pub napi_polls: u64,
    pub napi_busy_polls: u64,
    pub napi_sleeps: u64,
    pub napi_wakeups: u64,
    /// Polls that used the whole budget (more was waiting: `time_squeeze`-like).
    pub napi_budget_exhausted: u64,
    /// Switches of the adaptive loop between busy polling and sleeping.
    pub adaptive_to_busy: u64,
    pub adaptive_to_sleep: u64,
    /// TX kicks (`sendto`) and `poll()` syscalls this queue's loop made.
    pub tx_kicks: u64,
    pub poll_syscalls: u64,
    pub gro: GroStats,
}

/// What happened to a frame on its way to the TX batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// Queued on the TX batch (as one frame or as this many segments).
    Queued(usize),
    /// Dropped and counted.
    Dropped,
}

/// The receive half (GRO) and transmit staging (GSO) of one queue.
#[derive(Debug)]
pub struct Napi {
    cfg: NapiConfig,
    gro: Option<Gro>,
    /// Packets taken off the RX ring in this poll.
    pub rx: Batch,
    /// GRO's output, in order, waiting for transmit (or Python).
    pub out: Batch,
    /// Frames ready for the TX ring.
    pub tx: Batch,
    pub counters: QueueCounters,
    /// Test hook (`Port.inject_fault`): flip one payload byte of the next super-frame
    /// before it is segmented, so the segments carry valid checksums over wrong data.
    /// What an end-to-end check (the demo's SHA-256) must catch.
    pub corrupt_next: bool,
    epoch: Instant,
}

impl Napi {
    /// Allocates every batch and the GRO table once. `tx_capacity` is at least the
    /// largest segment count one super-frame may need (a TX ring's worth is right).
    pub fn new(cfg: NapiConfig, tx_capacity: usize) -> Napi {
        let budget = cfg.budget.clamp(1, 4096) as usize;
        let flows = cfg.gro.map_or(0, |g| g.max_flows.max(1));
        Napi {
            cfg,
            gro: cfg.gro.map(Gro::new),
            rx: Batch::with_capacity(budget),
            // Every received packet yields at most one output, plus what the table held.
            out: Batch::with_capacity(2 * budget + flows + 4),
            tx: Batch::with_capacity(tx_capacity.max(budget)),
            counters: QueueCounters::default(),
            corrupt_next: false,
            epoch: Instant::now(),
        }
    }

    pub fn config(&self) -> &NapiConfig {
        &self.cfg
    }

    /// Nanoseconds since this queue started (GRO's clock).
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Turns GRO on or off between polls (`ethtool -K rx-gro`): switching off
    /// flushes what is held into `out` first, so nothing is lost.
    pub fn set_gro<M: FrameMemory>(&mut self, pool: &mut FramePool<M>, gro: Option<GroConfig>) {
        if let Some(mut g) = self.gro.take() {
            self.flush_into_out(pool, &mut g);
            self.fold_gro_stats(&g);
        }
        self.cfg.gro = gro;
        self.gro = gro.map(Gro::new);
    }

    /// Changes the coalescing knobs between polls (`ethtool -C`).
    pub fn set_coalesce(&mut self, budget: u32, rx_usecs: u32, adaptive: bool, busy_usecs: u32) {
        // The batches keep their capacity: a larger budget is capped by it.
        self.cfg.budget = budget.clamp(1, self.rx.capacity() as u32);
        self.cfg.rx_usecs = rx_usecs;
        self.cfg.adaptive = adaptive;
        self.cfg.busy_usecs = busy_usecs;
    }

    pub fn set_gso(&mut self, on: bool) {
        self.cfg.gso = on;
    }

    /// Packets GRO holds right now.
    pub fn held(&self) -> usize {
        self.gro.as_ref().map_or(0, |g| g.held())
    }

    /// Counters with GRO's folded in.
    pub fn snapshot(&self) -> QueueCounters {
        let mut c = self.counters;
        if let Some(g) = &self.gro {
            c.gro = add_gro(&c.gro, g.stats());
        }
        c
    }

    fn fold_gro_stats(&mut self, g: &Gro) {
        self.counters.gro = add_gro(&self.counters.gro, g.stats());
    }

    /// The rest of a poll after the ring was read into `self.rx`: every packet
    /// through GRO into `out`; then, if the ring ran dry (`drained`), complete the
    /// poll: flush everything (`rx_usecs == 0`) or what was held longer than
    /// `rx_usecs`. Under load (budget used up) aggregates stay held for the next
    /// poll, as in the kernel, but never longer than `rx_usecs` (or one poll).
    pub fn receive<M: FrameMemory>(&mut self, pool: &mut FramePool<M>, drained: bool) {
        let now = self.now_ns();
        let n = self.rx.len() as u64;
        self.counters.rx_packets += n;
        if n > 0 {
            self.counters.napi_polls += 1;
        }
        if self.rx.len() >= self.cfg.budget as usize {
            self.counters.napi_budget_exhausted += 1;
        }
        for p in self.rx.drain() {
            self.counters.rx_bytes += p.len() as u64;
            let p = match self.gro.as_mut() {
                Some(g) => match g.receive(pool, p, now, &mut self.out) {
                    Ok(()) => continue,
                    Err(p) => p,
                },
                None => p,
            };
            // No GRO (or no room, which the batch sizes rule out): deliver as is.
            if let Err(p) = self.out.push(p) {
                self.counters.tx_errors += 1;
                pool.release(p);
            }
        }
        if let Some(g) = self.gro.as_mut() {
            let hold = self.cfg.rx_usecs as u64 * 1000;
            if drained && hold == 0 {
                g.flush(pool, &mut self.out);
            } else if g.held() > 0 {
                // Held over from a busy poll: at most one poll (hold 0) or `rx_usecs`.
                g.flush_older_than(pool, now, hold, &mut self.out);
            }
        }
    }

    /// Flushes whatever GRO holds (stop, reconfiguration, or the hold expired).
    pub fn flush<M: FrameMemory>(&mut self, pool: &mut FramePool<M>) {
        if let Some(mut g) = self.gro.take() {
            self.flush_into_out(pool, &mut g);
            self.gro = Some(g);
        }
    }

    fn flush_into_out<M: FrameMemory>(&mut self, pool: &mut FramePool<M>, g: &mut Gro) {
        while g.held() > 0 && self.out.room() > 0 {
            g.flush(pool, &mut self.out);
        }
    }

    /// How long the loop may sleep before a held aggregate must leave, in
    /// microseconds (`None`: nothing held).
    pub fn hold_usecs(&self) -> Option<u32> {
        (self.held() > 0).then_some(self.cfg.rx_usecs)
    }

    /// Moves `out` onto the TX batch, cutting super-frames with GSO, until `out`
    /// is empty or the TX batch is full. Returns false when packets are left in
    /// `out` (transmit, then call again). This queue is its own egress.
    pub fn stage_tx<M: FrameMemory>(&mut self, pool: &mut FramePool<M>) -> bool {
        let mut egress = Egress {
            cfg: self.cfg,
            counters: &mut self.counters,
        };
        stage(
            pool,
            &mut self.out,
            &mut self.tx,
            &mut egress,
            &mut self.corrupt_next,
        )
    }

    /// [`Napi::stage_tx`] for forwarding: GSO and the MTU are the egress queue's
    /// (`egress`), and so are the GSO/TX drop counters; this queue keeps
    /// `rx_delivered`.
    pub fn stage_tx_for<M: FrameMemory>(
        &mut self,
        pool: &mut FramePool<M>,
        egress: &mut Napi,
    ) -> bool {
        let before = self.out.len();
        let mut e = Egress {
            cfg: egress.cfg,
            counters: &mut egress.counters,
        };
        let done = stage(
            pool,
            &mut self.out,
            &mut self.tx,
            &mut e,
            &mut self.corrupt_next,
        );
        self.counters.rx_delivered += (before - self.out.len()) as u64;
        done
    }
}

/// The transmit side that staging works for: its settings and counters.
struct Egress<'a> {
    cfg: NapiConfig,
    counters: &'a mut QueueCounters,
}

/// `out` → `tx` (GSO as `eg` says). See [`Napi::stage_tx`].
fn stage<M: FrameMemory>(
    pool: &mut FramePool<M>,
    out: &mut Batch,
    tx: &mut Batch,
    eg: &mut Egress<'_>,
    corrupt_next: &mut bool,
) -> bool {
    // `out` is in delivery order; pop from the back after reversing once.
    out.reverse();
    let mut done = true;
    while let Some(p) = out.pop() {
        if *corrupt_next && p.gso_segs > 1 {
            *corrupt_next = false;
            if let Some(b) = pool.head_mut(&p).last_mut() {
                *b ^= 0x01;
            }
        }
        if let Err(p) = stage_one(pool, &eg.cfg, p, tx, eg.counters) {
            // No room on the TX batch for its segments: keep it for the next round.
            // A push onto a batch we just popped from cannot fail.
            if let Err(p) = out.push(p) {
                pool.release(p);
            }
            done = false;
            break;
        }
    }
    out.reverse();
    done
}

/// The wire MSS of a TCP/UDP packet for an egress MTU: MTU minus its L3 and L4
/// headers. `None` for anything else or a malformed head.
pub fn wire_mss<M: FrameMemory>(pool: &FramePool<M>, p: &Packet, mtu: u32) -> Option<u16> {
    let lay = dissect_head(pool.head(p), p.len()).ok()?;
    if !matches!(lay.l3, L3::V4 | L3::V6) || !matches!(lay.l4, L4::Tcp | L4::Udp) {
        return None;
    }
    let hdrs = (lay.payload_off - lay.l3_off) as u32;
    let mss = mtu.checked_sub(hdrs)?;
    (mss > 0).then_some(mss.min(u16::MAX as u32) as u16)
}

/// L3 length of a frame (what the MTU limits): its length less the L2 header.
fn l3_len<M: FrameMemory>(pool: &FramePool<M>, p: &Packet) -> usize {
    match dissect_head(pool.head(p), p.len()) {
        Ok(lay) => lay.end - lay.l3_off,
        // Not TCP/UDP over IP: assume an untagged Ethernet header.
        Err(_) => p.len().saturating_sub(14),
    }
}

/// One packet onto `tx`: as is when it fits the MTU, else cut by GSO (its own
/// `gso_size`, capped by the wire MSS). `Err(p)` = not enough room on `tx` now.
fn stage_one<M: FrameMemory>(
    pool: &mut FramePool<M>,
    cfg: &NapiConfig,
    mut p: Packet,
    tx: &mut Batch,
    c: &mut QueueCounters,
) -> Result<Staged, Packet> {
    let fits = p.len() <= 14 + 8 + cfg.mtu as usize || l3_len(pool, &p) <= cfg.mtu as usize;
    if fits {
        if tx.room() == 0 {
            return Err(p);
        }
        // A GRO aggregate of one segment, or a frame within the MTU: wire-ready.
        if p.gso_segs <= 1 {
            p.clear_offload();
        }
        return match tx.push(p) {
            Ok(()) => Ok(Staged::Queued(1)),
            Err(p) => Err(p),
        };
    }
    if !cfg.gso {
        c.tx_mtu_drops += 1;
        pool.release(p);
        return Ok(Staged::Dropped);
    }
    let wire = wire_mss(pool, &p, cfg.mtu);
    let mss = match (p.gso_size, wire) {
        (g, Some(w)) if g > 0 => Some(g.min(w)),
        (_, w) => w,
    };
    let Some(mss) = mss else {
        c.gso_errors += 1;
        c.tx_mtu_drops += 1;
        pool.release(p);
        return Ok(Staged::Dropped);
    };
    let opts = GsoOptions {
        mss: Some(mss),
        fixed_id: false,
    };
    match gso::segment(pool, p, opts, tx) {
        Ok(n) => {
            c.gso_superframes += 1;
            c.gso_segments += n as u64;
            Ok(Staged::Queued(n))
        }
        Err((p, GsoError::BatchFull { needed, .. })) if needed <= tx.capacity() => Err(p),
        Err((p, e)) => {
            c.gso_errors += 1;
            match e {
                GsoError::PoolExhausted => c.tx_pool_drops += 1,
                _ => c.tx_mtu_drops += 1,
            }
            pool.release(p);
            Ok(Staged::Dropped)
        }
    }
}

fn add_gro(a: &GroStats, b: &GroStats) -> GroStats {
    let mut s = *a;
    s.add(b);
    s
}
