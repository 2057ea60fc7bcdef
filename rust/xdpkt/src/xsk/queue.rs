//! One queue's datapath: the four rings of one AF_XDP socket and the frames it
//! moves between them and the shared UMEM's [`FramePool`](crate::pool::FramePool).
//!
//! Every frame of the UMEM is in exactly one place, tracked by a one-byte tag per
//! frame (kept in [`Shared`], the state the sockets of one UMEM share):
//! - *free*: on the pool's free list;
//! - *user*: in a `Packet`/`Frame` handle held by user code (RX'd or being built);
//! - *fill*: handed to the kernel for reception (fill ring, or the kernel's RX cache);
//! - *tx*: on the TX ring or being transmitted; *completion*: back on the completion
//!   ring, not reaped yet.
//!
//! `free + user + fill + tx + completion == frames`, always ([`Places`]). A
//! descriptor the kernel hands back is bounds-checked *and* must name a frame this
//! socket gave it (the tag), so a corrupt ring can never make two owners of a frame.
//! This module is the only one that turns ring entries into `Frame` handles and back
//! (`FramePool::adopt`/`surrender`).
//!
//! Transmit: a [`Batch`] goes onto the TX ring in one reservation; the kernel is
//! kicked only while it has unconsumed descriptors (copy mode processes at most its
//! per-call budget — 32 by default, raised to the ring size through
//! `XDP_MAX_TX_SKB_BUDGET` when the kernel has it), and completions are reaped
//! between kicks.
//!
//! It never sleeps: `wait` does, through `reap`/`kick_if_needed`/`tx_out` (the one
//! wait here is `xmit` yielding, bounded by its timeout, while the TX ring is full).
//! It never opens or binds anything (`setup` does and hands it the rings), and keeps
//! no socket-level state (closed, interface gone: the `XskSocket` facade).

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::packet::Packet;
use crate::pool::{Frame, FrameMemory};

use super::prog::XdpProgram;
use super::ring::{ConsRing, ProdRing, XdpDesc};
use super::setup::Mode;
use super::sys::{self, XdpStatistics};
use super::umem::UmemPool;
use super::wait::sole_owner;
use super::{Error, IfName};

/// Where the UMEM's frames are. `free + user + fill + tx + completion == total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Places {
    pub free: u32,
    pub user: u32,
    pub fill: u32,
    pub tx: u32,
    pub completion: u32,
    pub total: u32,
}

impl Places {
    pub fn sum(&self) -> u32 {
        self.free + self.user + self.fill + self.tx + self.completion
    }
    pub fn is_consistent(&self) -> bool {
        self.sum() == self.total
    }
}

/// Counters of one socket plus the kernel's `XDP_STATISTICS` and the UMEM places.
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Descriptors from the kernel that failed bounds or ownership checks (never touched).
    pub rx_bad_descs: u64,
    pub completion_bad_descs: u64,
    /// Packets dropped by `send` because they do not fit one frame.
    pub tx_oversize: u64,
    /// `sendto` kicks issued.
    pub tx_kicks: u64,
    pub kernel: XdpStatistics,
    pub places: Places,
}

// Frame tags: who has the frame besides the pool.
const TAG_POOL: u8 = 0; // free or user (the pool tells which)
const fn tag_fill(slot: u8) -> u8 {
    1 + slot * 2
}
const fn tag_tx(slot: u8) -> u8 {
    2 + slot * 2
}
const MAX_MEMBERS: usize = 127;

#[derive(Default, Clone, Copy)]
struct Member {
    live: bool,
    fill: u32,
    /// Submitted to TX and not reaped yet (on the TX ring, in flight, or on the completion ring).
    tx_out: u32,
    /// Last seen completion-ring occupancy (exact for the socket asking; a snapshot for the others).
    completion: u32,
}

/// UMEM state shared by the sockets of one UMEM.
pub struct Shared {
    pool: UmemPool,
    tags: Box<[u8]>,
    members: Vec<Member>,
    /// Bound sockets of this UMEM (any of them can anchor an `XDP_SHARED_UMEM` bind).
    fds: Vec<Weak<OwnedFd>>,
}

impl Shared {
    /// A UMEM's state before any socket is bound to it: every frame in the pool.
    pub(super) fn new(pool: UmemPool) -> Shared {
        let tags = vec![TAG_POOL; pool.frame_count() as usize].into_boxed_slice();
        Shared {
            pool,
            tags,
            members: Vec::new(),
            fds: Vec::new(),
        }
    }
    /// Registers a bound socket: its fd may anchor later `XDP_SHARED_UMEM` binds, and
    /// it gets a member slot (the tags of the frames it lends the kernel). `None` when
    /// `MAX_MEMBERS` sockets share the UMEM already.
    pub(super) fn join(&mut self, fd: &Arc<OwnedFd>) -> Option<u8> {
        self.fds.retain(|w| w.strong_count() > 0);
        self.fds.push(Arc::downgrade(fd));
        let slot = match self.members.iter().position(|m| !m.live) {
            Some(i) => i,
            None if self.members.len() < MAX_MEMBERS => {
                self.members.push(Member::default());
                self.members.len() - 1
            }
            None => return None,
        };
        self.members[slot] = Member {
            live: true,
            ..Member::default()
        };
        Some(slot as u8)
    }
    /// A bound socket of this UMEM, to anchor an `XDP_SHARED_UMEM` bind.
    pub(super) fn anchor(&self) -> Option<Arc<OwnedFd>> {
        self.fds.iter().find_map(|w| w.upgrade())
    }
    /// The frame pool (read packet bytes, build packets for `send`).
    pub fn pool(&mut self) -> &mut UmemPool {
        &mut self.pool
    }
    pub fn pool_ref(&self) -> &UmemPool {
        &self.pool
    }
    fn places(&self) -> Places {
        let mut p = Places {
            free: self.pool.free_count() as u32,
            user: self.pool.held_count(),
            total: self.pool.frame_count(),
            ..Places::default()
        };
        for m in self.members.iter() {
            p.fill += m.fill;
            let c = m.completion.min(m.tx_out);
            p.completion += c;
            p.tx += m.tx_out - c;
        }
        p
    }
    /// Moves a frame the kernel gave back (tag checked by the caller) to the pool.
    fn take_back(&mut self, idx: u32, off: u32, len: u32) -> Option<Frame> {
        let f = self.pool.adopt(idx, off, len).ok()?;
        if let Some(t) = self.tags.get_mut(idx as usize) {
            *t = TAG_POOL;
        }
        Some(f)
    }
}

/// A UMEM shared between sockets: lock it to reach the frame pool.
pub type SharedUmem = Arc<Mutex<Shared>>;

pub(super) fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The rings of one socket, mapped by `setup`.
pub(super) struct Rings {
    pub(super) rx: ConsRing<XdpDesc>,
    pub(super) tx: ProdRing<XdpDesc>,
    pub(super) fill: ProdRing<u64>,
    pub(super) comp: ConsRing<u64>,
}

/// How a socket was bound (what a socket sharing its UMEM inherits).
#[derive(Clone, Copy)]
pub(super) struct Binding {
    pub(super) mode: Mode,
    pub(super) need_wakeup: bool,
    pub(super) multi_buffer: bool,
}

/// One bound socket's datapath: its rings, its member slot of the shared UMEM, and
/// its counters.
pub(super) struct Queue {
    // Field order = drop order: rings unmap before the socket fd closes, the
    // program (link) goes last so the queue is never redirected to a closed socket.
    rx: ConsRing<XdpDesc>,
    tx: ProdRing<XdpDesc>,
    fill: ProdRing<u64>,
    comp: ConsRing<u64>,
    fd: Arc<OwnedFd>,
    shared: SharedUmem,
    slot: u8,
    prog: Arc<XdpProgram>,
    mode: Mode,
    need_wakeup: bool,
    stats: SocketStats,
    frame_size: u32,
    multi_buffer: bool,
    /// A multi-buffer packet whose last fragment has not been read yet.
    partial: Option<Packet>,
    /// Frames the fill ring is kept topped up to (at most its size): what the socket was
    /// given at open. Several sockets on one UMEM must not lend it all to the kernel.
    fill_target: u32,
    /// Forwarding: completions come back onto the fill ring in FIFO order
    /// ([`Queue::recycle_to`]), so `rx_burst` tops the ring up from the pool only
    /// when it runs below a quarter of its target (which keeps that order).
    low_water: bool,
}

impl Queue {
    /// The datapath of a socket `setup` has bound: `fd` is in `shared` under `slot`
    /// and in `prog`'s XSKMAP. No frame is on its rings yet.
    pub(super) fn new(
        rings: Rings,
        fd: Arc<OwnedFd>,
        shared: SharedUmem,
        slot: u8,
        prog: Arc<XdpProgram>,
        bind: Binding,
        frame_size: u32,
    ) -> Queue {
        let Rings { rx, tx, fill, comp } = rings;
        Queue {
            rx,
            tx,
            fill,
            comp,
            fd,
            shared,
            slot,
            prog,
            mode: bind.mode,
            need_wakeup: bind.need_wakeup,
            stats: SocketStats::default(),
            frame_size,
            multi_buffer: bind.multi_buffer,
            partial: None,
            fill_target: u32::MAX,
            low_water: false,
        }
    }

    /// The mode obtained (never `Auto`).
    pub(super) fn mode(&self) -> Mode {
        self.mode
    }
    pub(super) fn binding(&self) -> Binding {
        Binding {
            mode: self.mode,
            need_wakeup: self.need_wakeup,
            multi_buffer: self.multi_buffer,
        }
    }
    pub(super) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }
    pub(super) fn umem(&self) -> &SharedUmem {
        &self.shared
    }
    /// Whether our XDP program is attached through a BPF link held by this process.
    pub(super) fn owns_program(&self) -> bool {
        self.prog.owns_link()
    }
    /// The counters as they are (kernel statistics and places as of the last `stats`).
    pub(super) fn counters(&self) -> SocketStats {
        self.stats
    }

    /// Counters, kernel statistics and frame places.
    pub(super) fn stats(&mut self) -> Result<SocketStats, Error> {
        let kernel =
            sys::statistics(&self.fd).map_err(|e| Error::os("getsockopt(XDP_STATISTICS)", e))?;
        let mut s = lock(&self.shared);
        let pend = self.comp.pending();
        if let Some(m) = s.members.get_mut(self.slot as usize) {
            m.completion = pend;
        }
        let places = s.places();
        drop(s);
        self.stats.kernel = kernel;
        self.stats.places = places;
        Ok(self.stats)
    }

    /// Frames on the fill ring the kernel has not taken yet.
    pub(super) fn fill_level(&mut self) -> u32 {
        let size = self.fill.size();
        size - self.fill.free(size).min(size)
    }

    /// Descriptors on the TX ring the kernel has not consumed yet.
    pub(super) fn tx_pending(&self) -> u32 {
        self.tx.pending()
    }

    /// Largest packet `xmit` takes: one frame, or (multi-buffer) the kernel's fragment limit.
    pub(super) fn max_packet(&self) -> usize {
        let cap = lock(&self.shared).pool.frame_capacity();
        if self.multi_buffer {
            cap * MAX_TX_FRAGS as usize
        } else {
            cap
        }
    }

    /// Copies `bytes` into a fresh packet (one frame, or a chain in multi-buffer mode).
    pub(super) fn packet_from(&self, bytes: &[u8]) -> Result<Packet, Error> {
        let max = self.max_packet();
        let mut s = lock(&self.shared);
        if bytes.len() > max {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        s.pool.packet_from(bytes).map_err(|_| Error::Exhausted)
    }

    /// Returns a batch's packets to the pool.
    pub(super) fn release(&self, batch: &mut Batch) {
        self.release_rest(batch.drain());
    }

    /// Test hook: a raw descriptor (no frame) on the TX ring, then a kick.
    pub(super) fn push_raw_tx_desc(&mut self, addr: u64, len: u32) -> bool {
        let (start, got) = self.tx.reserve(1);
        if got == 0 {
            return false;
        }
        self.tx.write(
            start,
            XdpDesc {
                addr,
                len,
                options: 0,
            },
        );
        self.tx.submit();
        let _ = sys::kick_tx(&self.fd);
        true
    }

    /// Forwards this socket's RX ring onto its own TX ring (see `XskSocket::forward`).
    pub(super) fn forward_self(
        &mut self,
        budget: u32,
        edit: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(usize, u64), Error> {
        if self.multi_buffer {
            return Err(Error::Config("forward does not take multi-buffer sockets"));
        }
        self.recycle();
        let r = self.forward_to(None, budget, edit);
        self.refill_if_low();
        if r.0 > 0 {
            self.kick_if_needed().map(|_| r)
        } else {
            Ok(r)
        }
    }

    /// Forwards this socket's RX ring onto `dst`'s TX ring (see `XskSocket::forward`).
    /// Does not kick `dst`: the caller does, so that a gone interface is blamed on `dst`.
    pub(super) fn forward_into(
        &mut self,
        dst: &mut Queue,
        budget: u32,
        edit: &mut dyn FnMut(&mut [u8]),
    ) -> Result<(usize, u64), Error> {
        if !Arc::ptr_eq(&self.shared, &dst.shared) {
            return Err(Error::Config("forward needs sockets sharing one UMEM"));
        }
        if self.multi_buffer || dst.multi_buffer {
            return Err(Error::Config("forward does not take multi-buffer sockets"));
        }
        dst.recycle_to(self);
        let r = self.forward_to(Some(dst), budget, edit);
        self.refill_if_low();
        Ok(r)
    }
}

/// Completions on `comp` (transmitted by socket `tx_slot`) go straight onto `fill`
/// (socket `fill_slot`'s fill ring), in order; what does not fit goes to the pool.
/// A completion that does not name a frame `tx_slot` transmitted is counted and
/// skipped, never touched.
fn recycle_parts(
    comp: &mut ConsRing<u64>,
    stats: &mut SocketStats,
    tx_slot: u8,
    fill: &mut ProdRing<u64>,
    fill_slot: u8,
    shared: &SharedUmem,
    frame_size: u32,
) -> u32 {
    let (start, got) = comp.peek(comp.size());
    if got == 0 {
        return 0;
    }
    let room = fill.free(got).min(got);
    let (fstart, fgot) = fill.reserve(room);
    let mut s = lock(shared);
    let (tx_tag, fill_tag) = (tag_tx(tx_slot), tag_fill(fill_slot));
    let shift = frame_size.trailing_zeros();
    let (mut n, mut filled) = (0u32, 0u32);
    for i in 0..got {
        let Some(addr) = comp.read(start.wrapping_add(i)) else {
            break;
        };
        let idx = addr >> shift;
        if idx >= s.pool.frame_count() as u64 || s.tags.get(idx as usize) != Some(&tx_tag) {
            stats.completion_bad_descs += 1;
            continue;
        }
        n += 1;
        if filled < fgot {
            if let Some(t) = s.tags.get_mut(idx as usize) {
                *t = fill_tag;
            }
            // The fill ring takes the frame's start: the kernel places the packet itself.
            fill.write(fstart.wrapping_add(filled), idx << shift);
            filled += 1;
        } else if let Some(f) = s.take_back(idx as u32, 0, 0) {
            s.pool.free(f);
        }
    }
    if let Some(m) = s.members.get_mut(tx_slot as usize) {
        m.tx_out = m.tx_out.saturating_sub(n);
        m.completion = 0;
    }
    if let Some(m) = s.members.get_mut(fill_slot as usize) {
        m.fill += filled;
    }
    drop(s);
    fill.unreserve(fgot - filled);
    fill.submit();
    comp.release(got);
    n
}

/// Descriptors one multi-buffer packet may use on TX (the kernel's MAX_SKB_FRAGS in copy mode).
const MAX_TX_FRAGS: u32 = 17;

impl Queue {
    /// Forwarding's top-up: completions go straight back to the fill ring
    /// (`recycle`), so frames circulate in one FIFO order, the order the kernel
    /// allocates them in and walks its per-frame state (`xp_alloc`); frames from the
    /// free pool are mixed in only when the fill ring runs below a quarter, which
    /// keeps that order (measured: `xp_alloc` fell from 9 % to 1 % of the
    /// forwarding CPU on veth, l2fwd +20-40 %).
    fn refill_if_low(&mut self) -> u32 {
        let size = self.fill.size();
        let held = size - self.fill.free(size).min(size);
        if held >= (size / 4).max(1) {
            return 0;
        }
        self.refill(size)
    }

    pub(super) fn refill(&mut self, max: u32) -> u32 {
        let want = self.fill.free(max).min(max);
        if want == 0 {
            return 0;
        }
        let mut s = lock(&self.shared);
        let want = want.min(s.pool.free_count() as u32);
        let (start, got) = self.fill.reserve(want);
        let mut n = 0;
        while n < got {
            let Some(f) = s.pool.alloc() else { break };
            let idx = s.pool.surrender(f);
            if let Some(t) = s.tags.get_mut(idx as usize) {
                *t = tag_fill(self.slot);
            }
            self.fill
                .write(start.wrapping_add(n), idx as u64 * self.frame_size as u64);
            n += 1;
        }
        // `got` slots were reserved; the pool had at least `got` free frames (checked above).
        self.fill.submit();
        if let Some(m) = s.members.get_mut(self.slot as usize) {
            m.fill += n;
        }
        n
    }

    pub(super) fn rx_burst(&mut self, batch: &mut Batch, budget: usize) -> usize {
        let want = budget.min(batch.room()).min(u32::MAX as usize) as u32;
        if want == 0 {
            return 0;
        }
        let (start, got) = self.rx.peek(want);
        let mut n = 0usize;
        let mut taken = 0u32;
        if got > 0 {
            let mut s = lock(&self.shared);
            let fill_tag = tag_fill(self.slot);
            for i in 0..got {
                let Some(d) = self.rx.read(start.wrapping_add(i)) else {
                    break;
                };
                let located = s.pool.memory().locate(d.addr, d.len);
                let ok = located.filter(|&(idx, _)| s.tags.get(idx as usize) == Some(&fill_tag));
                let Some((idx, off)) = ok else {
                    // Out of bounds or not a frame we lent the kernel: never touch it (and
                    // a packet it was a fragment of is incomplete: drop what we have of it).
                    self.stats.rx_bad_descs += 1;
                    if let Some(p) = self.partial.take() {
                        s.pool.release(p);
                    }
                    continue;
                };
                let Some(f) = s.take_back(idx, off, d.len) else {
                    self.stats.rx_bad_descs += 1;
                    continue;
                };
                taken += 1;
                self.stats.rx_bytes += d.len as u64;
                // Multi-buffer: XDP_PKT_CONTD says another fragment of this packet follows.
                let more = self.multi_buffer && d.options & libc::XDP_PKT_CONTD != 0;
                let pkt = match self.partial.take() {
                    Some(mut p) => {
                        s.pool.append(&mut p, f);
                        p
                    }
                    None => Packet::from_frame(f, d.len),
                };
                if more {
                    self.partial = Some(pkt);
                    continue;
                }
                if let Err(p) = batch.push(pkt) {
                    s.pool.release(p);
                    continue;
                }
                n += 1;
            }
            // The frames taken back left the kernel's RX side (delivered or not).
            if let Some(m) = s.members.get_mut(self.slot as usize) {
                m.fill = m.fill.saturating_sub(taken);
            }
            drop(s);
            self.rx.release(got);
            self.stats.rx_packets += n as u64;
        }
        // Keep the kernel supplied: top the fill ring up to this socket's share of frames.
        let size = self.fill.size();
        let held = size - self.fill.free(size).min(size);
        let target = self.fill_target.min(size);
        let low = if self.low_water { target / 4 } else { target };
        if held < low.max(1) {
            self.refill(target - held);
        }
        n
    }

    /// See [`Queue::low_water`].
    pub(super) fn set_low_water(&mut self, on: bool) {
        self.low_water = on;
    }

    /// The fill level `rx_burst` keeps (set once at open).
    pub(super) fn set_fill_target(&mut self, frames: u32) {
        self.fill_target = frames.max(1);
    }

    /// RX ring → TX ring of `dst` (or our own), same addresses: the zero-copy forward.
    fn forward_to(
        &mut self,
        dst: Option<&mut Queue>,
        budget: u32,
        edit: &mut dyn FnMut(&mut [u8]),
    ) -> (usize, u64) {
        let Queue {
            rx,
            tx: own_tx,
            shared,
            slot,
            stats,
            ..
        } = self;
        let (tx, dslot, dstats) = match dst {
            Some(d) => (&mut d.tx, d.slot, Some(&mut d.stats)),
            None => (own_tx, *slot, None),
        };
        let room = tx.free(budget.min(tx.size()));
        let (start, got) = rx.peek(budget.min(room));
        if got == 0 {
            return (0, 0);
        }
        let (tstart, tgot) = tx.reserve(got);
        // The room was checked above, so tgot == got; never take more RX than TX slots.
        let got = got.min(tgot);
        let mut used = 0u32;
        let mut bytes = 0u64;
        let mut s = lock(shared);
        let (fill_tag, tx_tag) = (tag_fill(*slot), tag_tx(dslot));
        for i in 0..got {
            let Some(d) = rx.read(start.wrapping_add(i)) else {
                break;
            };
            let located = s.pool.memory().locate(d.addr, d.len);
            let ok = located.filter(|&(idx, _)| s.tags.get(idx as usize) == Some(&fill_tag));
            let Some((idx, off)) = ok else {
                // Not a frame we lent the kernel: never touch it, never send it.
                stats.rx_bad_descs += 1;
                continue;
            };
            if let Some(t) = s.tags.get_mut(idx as usize) {
                *t = tx_tag;
            }
            if let Some(b) = s
                .pool
                .memory_mut()
                .frame_mut(idx)
                .get_mut(off as usize..(off + d.len) as usize)
            {
                edit(b);
            }
            tx.write(
                tstart.wrapping_add(used),
                XdpDesc {
                    addr: d.addr,
                    len: d.len,
                    options: 0,
                },
            );
            used += 1;
            bytes += d.len as u64;
        }
        if let Some(m) = s.members.get_mut(*slot as usize) {
            m.fill = m.fill.saturating_sub(used);
        }
        if let Some(m) = s.members.get_mut(dslot as usize) {
            m.tx_out += used;
        }
        drop(s);
        rx.release(got);
        tx.unreserve(tgot - used);
        tx.submit();
        stats.rx_packets += used as u64;
        stats.rx_bytes += bytes;
        let ds = match dstats {
            Some(d) => d,
            None => stats,
        };
        ds.tx_packets += used as u64;
        ds.tx_bytes += bytes;
        (used as usize, bytes)
    }

    /// Reaps completions straight back onto this socket's fill ring (xdpsock's l2fwd
    /// recycling: no trip through the pool); what the fill ring has no room for goes to
    /// the pool. Returns the frames reaped.
    fn recycle(&mut self) -> u32 {
        let Queue {
            comp,
            fill,
            shared,
            slot,
            stats,
            frame_size,
            ..
        } = self;
        recycle_parts(comp, stats, *slot, fill, *slot, shared, *frame_size)
    }

    /// Like [`Queue::recycle`], but this (destination) socket's completions go onto
    /// `src`'s fill ring: in forwarding, those frames were received by `src`, so they
    /// go back where they are needed. (Onto the destination's own fill ring, a
    /// one-way flow parked them all there, where nothing arrives, and starved the
    /// source once the UMEM was no larger than a ring.)
    pub(super) fn recycle_to(&mut self, src: &mut Queue) -> u32 {
        let Queue {
            comp,
            shared,
            slot,
            stats,
            frame_size,
            ..
        } = self;
        recycle_parts(
            comp,
            stats,
            *slot,
            &mut src.fill,
            src.slot,
            shared,
            *frame_size,
        )
    }

    pub(super) fn reap(&mut self) -> u32 {
        let (start, got) = self.comp.peek(self.comp.size());
        if got == 0 {
            return 0;
        }
        let mut s = lock(&self.shared);
        let tx_tag = tag_tx(self.slot);
        let mut n = 0;
        for i in 0..got {
            let Some(addr) = self.comp.read(start.wrapping_add(i)) else {
                break;
            };
            let idx = addr >> self.frame_size.trailing_zeros();
            if idx >= s.pool.frame_count() as u64 || s.tags.get(idx as usize) != Some(&tx_tag) {
                self.stats.completion_bad_descs += 1;
                continue;
            }
            if let Some(f) = s.take_back(idx as u32, 0, 0) {
                s.pool.free(f);
                n += 1;
            }
        }
        if let Some(m) = s.members.get_mut(self.slot as usize) {
            m.tx_out = m.tx_out.saturating_sub(n);
            m.completion = 0;
        }
        drop(s);
        self.comp.release(got);
        n
    }

    pub(super) fn kick(&mut self) -> Result<(), Error> {
        self.stats.tx_kicks += 1;
        match sys::kick_tx(&self.fd) {
            // Busy driver or full completion ring: the caller reaps and retries.
            Ok(()) | Err(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::EINTR) => Ok(()),
            Err(libc::ENXIO | libc::ENETDOWN | libc::ENODEV) => Err(Error::InterfaceGone {
                ifname: IfName::new(""),
            }),
            Err(e) => Err(Error::os("sendto (TX kick)", e)),
        }
    }

    /// Kicks when the kernel has descriptors to consume and (need_wakeup) wants a kick.
    pub(super) fn kick_if_needed(&mut self) -> Result<bool, Error> {
        if self.tx.pending() == 0 {
            return Ok(false);
        }
        // Copy and skb mode transmit only inside sendto(); zero-copy only needs a
        // wakeup when the driver asked for one.
        if self.mode != Mode::ZeroCopy || !self.need_wakeup || self.tx.needs_wakeup() {
            self.kick()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// TX descriptors a packet takes: its frames in multi-buffer mode (up to the kernel's
    /// fragment limit), else one (a chained packet is linearised or dropped).
    fn tx_slots(&self, p: &Packet) -> u32 {
        if self.multi_buffer && p.nframes() <= MAX_TX_FRAGS {
            p.nframes()
        } else {
            1
        }
    }

    pub(super) fn xmit(&mut self, batch: &mut Batch, timeout: Duration) -> Result<usize, Error> {
        let mut queued = 0usize;
        let mut deadline: Option<Instant> = None;
        let tx_tag = tag_tx(self.slot);
        let mut slots_left: u32 = batch.iter().map(|p| self.tx_slots(p)).sum();
        let mut drain = batch.drain().peekable();
        while drain.peek().is_some() {
            self.reap();
            let (start, got) = self.tx.reserve(slots_left.min(self.tx.size()));
            let next_need = drain.peek().map_or(1, |p| self.tx_slots(p));
            if got < next_need {
                // TX ring full: let the kernel drain it, then retry (bounded).
                self.tx.unreserve(got);
                if let Err(e) = self.kick() {
                    self.release_rest(drain);
                    return Err(e);
                }
                let d = *deadline.get_or_insert_with(|| Instant::now() + timeout);
                if Instant::now() >= d {
                    let pending = self.tx.pending();
                    self.release_rest(drain);
                    return Err(Error::TxTimeout { pending });
                }
                std::thread::yield_now();
                continue;
            }
            deadline = None;
            let mut used = 0u32;
            let mut pkts = 0u32;
            let mut s = lock(&self.shared);
            while let Some(p) = drain.peek() {
                let need = self.tx_slots(p);
                if need > got - used {
                    break;
                }
                let Some(mut p) = drain.next() else { break };
                slots_left = slots_left.saturating_sub(need);
                if need == 1 && !p.is_linear() {
                    // One descriptor for a chained packet: linearise into the head frame when it fits.
                    if p.len() > s.pool.frame_size() || !linearize(&mut s.pool, &mut p) {
                        self.stats.tx_oversize += 1;
                        s.pool.release(p);
                        continue;
                    }
                }
                let (head, _, _, _) = p.into_chain();
                // Walk the chain: one descriptor per frame, XDP_PKT_CONTD on all but the last.
                let mut idx = head;
                while idx != crate::pool::NIL {
                    // A UMEM pool has no borrow slots (only heap pools have them):
                    // every chain entry is a frame of its own.
                    debug_assert!(!s.pool.is_borrowed(idx));
                    let next = s.pool.next_of(idx);
                    let (off, len) = s.pool.window_at(idx);
                    let idx_owned = s.pool.surrender(Frame::from_index(idx));
                    if let Some(t) = s.tags.get_mut(idx_owned as usize) {
                        *t = tx_tag;
                    }
                    let addr = s.pool.memory().addr(idx_owned, off);
                    let options = if next != crate::pool::NIL {
                        libc::XDP_PKT_CONTD
                    } else {
                        0
                    };
                    self.tx
                        .write(start.wrapping_add(used), XdpDesc { addr, len, options });
                    self.stats.tx_bytes += len as u64;
                    used += 1;
                    idx = next;
                }
                pkts += 1;
            }
            if let Some(m) = s.members.get_mut(self.slot as usize) {
                m.tx_out += used;
            }
            drop(s);
            // Hand back the reserved slots we did not fill (oversize packets dropped).
            self.tx.unreserve(got - used);
            self.tx.submit();
            queued += pkts as usize;
            self.stats.tx_packets += pkts as u64;
            if let Err(e) = self.kick_if_needed() {
                self.release_rest(drain);
                return Err(e);
            }
        }
        Ok(queued)
    }

    /// Returns the packets of a batch that will not be sent to the pool (a packet has
    /// no `Drop`: frames dropped on an error path would be lost to the UMEM for good).
    fn release_rest(&self, rest: impl Iterator<Item = Packet>) {
        let mut s = lock(&self.shared);
        for p in rest {
            s.pool.release(p);
        }
    }

    pub(super) fn tx_out(&self) -> u32 {
        lock(&self.shared)
            .members
            .get(self.slot as usize)
            .map_or(0, |m| m.tx_out)
    }

    pub(super) fn shutdown(self, queue: u32) {
        let Queue {
            partial,
            rx,
            tx,
            fill,
            comp,
            fd,
            shared,
            slot,
            prog,
            ..
        } = self;
        prog.remove(queue);
        drop((rx, tx, fill, comp));
        // A WaitHandle (a thread that this close just woke) may still hold the fd, and
        // with it the kernel socket and the frames on its fill and TX rings, which the
        // kernel (or a NIC in zero-copy mode) may still write or read. Wait briefly for
        // it to let go; if it does not, those frames stay where the accounting has them
        // (fill/tx) and are never reused.
        let closed = match sole_owner(fd, Duration::from_millis(500)) {
            Some(owned) => {
                drop(owned);
                true
            }
            None => false,
        };
        let mut s = lock(&shared);
        if let Some(p) = partial {
            s.pool.release(p);
        }
        if closed {
            // The socket is gone: every frame it lent the kernel comes back to the pool.
            let (ft, tt) = (tag_fill(slot), tag_tx(slot));
            let n = s.tags.len();
            for i in 0..n {
                let t = s.tags.get(i).copied().unwrap_or(TAG_POOL);
                if t == ft || t == tt {
                    if let Some(f) = s.take_back(i as u32, 0, 0) {
                        s.pool.free(f);
                    }
                }
            }
        }
        if let Some(m) = s.members.get_mut(slot as usize) {
            *m = Member::default();
        }
        drop(s);
        drop(prog);
    }
}

/// Copies a chained packet's bytes into its head frame (from the headroom) and
/// frees the rest of the chain. Returns false when it does not fit.
fn linearize(pool: &mut UmemPool, p: &mut Packet) -> bool {
    let total = p.len();
    let (off, len) = pool.window(p.head_frame());
    let fs = pool.frame_size();
    let start = if off as usize + total <= fs {
        off as usize
    } else {
        0
    };
    if start + total > fs {
        return false;
    }
    // Move the head bytes down first (start <= off), then append the others piece by piece.
    if start != off as usize {
        let buf = pool.frame_mut(p.head_frame());
        buf.copy_within(off as usize..(off + len) as usize, start);
    }
    let head_idx = p.head_frame().index();
    let mut at = start + len as usize;
    let mut idx = pool.next_of(head_idx);
    while idx != crate::pool::NIL {
        let next = pool.next_of(idx);
        let f = Frame::from_index(idx);
        let (o, l) = pool.window(&f);
        let (o, l) = (o as usize, l as usize);
        // Source and destination are different frames of the same memory: copy via the
        // UMEM frame slices one at a time through a small stack buffer.
        let mut tmp = [0u8; 256];
        let mut done = 0;
        while done < l {
            let k = (l - done).min(tmp.len());
            tmp[..k]
                .copy_from_slice(&pool.memory().frame(pool.backing(idx))[o + done..o + done + k]);
            pool.frame_mut(p.head_frame())[at..at + k].copy_from_slice(&tmp[..k]);
            at += k;
            done += k;
        }
        let _ = f.into_index();
        idx = next;
    }
    pool.trim(p, len);
    let _ = pool.set_window(p.head_frame(), start as u32, total as u32);
    p.len = total as u32;
    true
}
