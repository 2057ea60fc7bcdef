//! xdpsock-style loops: `rxdrop`, `txonly`, `l2fwd`, reporting packets/s.
//!
//! The loops are wakeup/poll driven: an empty RX ring sleeps in `poll()` and a TX
//! side with no free frame waits for completions, so a receiver sharing a CPU with
//! its sender does not starve it (a spinning receiver on a 2-core machine collapses).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::packet::Packet;
use crate::wire::checksum;

use super::socket::{XskConfig, XskSocket};
use super::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchMode {
    RxDrop,
    TxOnly,
    L2Fwd,
}

impl BenchMode {
    pub fn parse(s: &str) -> Option<BenchMode> {
        Some(match s {
            "rxdrop" => BenchMode::RxDrop,
            "txonly" => BenchMode::TxOnly,
            "l2fwd" => BenchMode::L2Fwd,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            BenchMode::RxDrop => "rxdrop",
            BenchMode::TxOnly => "txonly",
            BenchMode::L2Fwd => "l2fwd",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub mode: BenchMode,
    pub ifname: String,
    pub queue: u32,
    pub seconds: f64,
    /// Frame size for txonly (Ethernet, no FCS), 60..=frame capacity.
    pub size: usize,
    /// Packets per recv/transmit call.
    pub batch: usize,
    pub xsk: XskConfig,
    /// l2fwd between two ports: a second socket on (`peer`, `peer_queue`) shares the
    /// first one's UMEM; what one port receives leaves on the other, without a copy.
    pub peer: Option<String>,
    pub peer_queue: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchResult {
    pub mode: BenchMode,
    pub packets: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub mpps: f64,
}

impl BenchResult {
    /// The result of a loop that started at `start` and ends now.
    pub fn since(mode: BenchMode, packets: u64, bytes: u64, start: Instant) -> BenchResult {
        let seconds = start.elapsed().as_secs_f64();
        let mpps = if seconds > 0.0 {
            packets as f64 / seconds / 1e6
        } else {
            0.0
        };
        BenchResult {
            mode,
            packets,
            bytes,
            seconds,
            mpps,
        }
    }
    pub fn to_json(&self) -> String {
        format!(
            "{{\"mode\": \"{}\", \"packets\": {}, \"bytes\": {}, \"seconds\": {:.6}, \"mpps\": {:.6}}}",
            self.mode.as_str(),
            self.packets,
            self.bytes,
            self.seconds,
            self.mpps
        )
    }
}

/// Writes an Ethernet/IPv4/UDP frame of exactly `size` bytes into `buf`
/// (198.18.0.1:9 -> 198.18.0.2:9, locally administered MACs), with `seq` as the
/// first 8 payload bytes and a position-dependent pattern after it. Valid IPv4 and
/// UDP checksums. Returns the length, or 0 when `size` is < 50 or > `buf.len()`.
pub fn build_udp_frame(buf: &mut [u8], size: usize, seq: u64) -> usize {
    const HDR: usize = 14 + 20 + 8;
    if size < HDR + 8 || size > buf.len() || size > 14 + 65535 {
        return 0;
    }
    let f = &mut buf[..size];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (size - 14) as u16;
    let ip = &mut f[14..34];
    ip.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
    ]);
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    let c = checksum::finish(checksum::sum(ip, 0));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp_len = ip_len - 20;
    f[34..36].copy_from_slice(&9u16.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&udp_len.to_be_bytes());
    f[40..42].copy_from_slice(&[0, 0]);
    f[42..50].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[50..].iter_mut().enumerate() {
        *b = (i as u64).wrapping_add(seq) as u8;
    }
    let ps = checksum::pseudo_v4([198, 18, 0, 1], [198, 18, 0, 2], 17, udp_len as u32);
    let mut c = checksum::finish(checksum::sum(&f[34..], ps));
    if c == 0 {
        c = 0xffff;
    }
    f[40..42].copy_from_slice(&c.to_be_bytes());
    size
}

/// Runs one benchmark loop until `seconds` pass or `stop` is set.
pub fn run(cfg: &BenchConfig, stop: &AtomicBool) -> Result<BenchResult, Error> {
    let mut xsk = cfg.xsk.clone();
    if cfg.mode == BenchMode::TxOnly && xsk.fill_frames.is_none() {
        // A sender receives nothing: lend the kernel one batch for RX (at most half the
        // UMEM) instead of half the UMEM, so the transmit side has the other frames.
        xsk.fill_frames = Some((cfg.batch.clamp(1, 4096) as u32).min(xsk.frames / 2));
    }
    let mut sock = XskSocket::open(&cfg.ifname, cfg.queue, &xsk)?;
    let r = match (&cfg.peer, cfg.mode) {
        (Some(peer), BenchMode::L2Fwd) => {
            match XskSocket::open_shared(peer, cfg.peer_queue, &cfg.xsk, &sock) {
                Ok(mut p) => {
                    let r = l2fwd(&mut sock, Some(&mut p), cfg, stop);
                    p.close();
                    r
                }
                Err(e) => Err(e),
            }
        }
        (Some(_), _) => Err(Error::Config("a peer port is only used by l2fwd")),
        (None, _) => run_on(&mut sock, cfg, stop),
    };
    sock.close();
    r
}

/// xdpsock-style l2fwd, pipelined: each received frame gets its MAC addresses swapped in
/// place and goes, same frame, onto the TX ring (this socket's, or `peer`'s for the
/// two-port forward through the shared UMEM). Nothing waits for transmission:
/// completions are reaped on the next pass and their frames refill the fill ring, so
/// up to a ring's worth of frames is in flight. The kernel is kicked only when it needs
/// it; with no packet to read the loop sleeps in `poll()` (1 ms slices while
/// transmissions are outstanding, else up to 100 ms), never spinning.
pub fn l2fwd(
    a: &mut XskSocket,
    mut peer: Option<&mut XskSocket>,
    cfg: &BenchConfig,
    stop: &AtomicBool,
) -> Result<BenchResult, Error> {
    let budget = cfg.batch.clamp(1, 4096) as u32;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(cfg.seconds.max(0.0));
    let (mut packets, mut bytes) = (0u64, 0u64);
    // Passes in a row where packets waited on RX but none could be forwarded (TX ring
    // full and the kernel not draining it: a congested peer). Back off instead of spinning.
    let mut stalled = 0u32;
    loop {
        let now = Instant::now();
        if now >= until || stop.load(Ordering::Relaxed) {
            break;
        }
        let (mut n, mut b) = match peer.as_deref_mut() {
            None => a.forward(None, budget, swap_macs)?,
            Some(p) => a.forward(Some(p), budget, swap_macs)?,
        };
        if let Some(p) = peer.as_deref_mut() {
            let (n2, b2) = p.forward(Some(a), budget, swap_macs)?;
            n += n2;
            b += b2;
        }
        if n > 0 {
            packets += n as u64;
            bytes += b;
            stalled = 0;
            continue;
        }
        if stalled > 2 {
            // The kernel refused our kicks (busy device): there is no fd event for
            // "room again", so sleep briefly rather than burn the CPU the peer may need.
            std::thread::sleep(Duration::from_micros(50));
        }
        // Nothing to read: while frames are in flight, kick TX (as xdpsock does, even
        // with no descriptor waiting: measured +10-15 % on veth), then sleep in poll()
        // until a packet arrives. We are needed again before that only when
        // descriptors are still on a TX ring (a kick that met a busy peer) or a fill
        // ring is running dry (its frames come back with completions, which forward()
        // recycles): then sleep in 1 ms slices. Waking every millisecond merely because
        // frames await completion cost a third of the l2fwd rate on veth (0.8x vs 1.2x
        // libxdp).
        // (Two ports: a frame received on one completes on the other, so any frame
        // in flight can be the one a low fill ring is waiting for.)
        let low = budget.max(1);
        let (mut in_flight, mut pending, mut fill_low) = (0u32, 0u32, false);
        if a.tx_outstanding()? > 0 {
            a.kick_tx_now()?;
            in_flight += a.tx_outstanding()?;
            pending += a.tx_pending()?;
        }
        fill_low |= a.fill_level()? < low;
        if let Some(p) = peer.as_deref_mut() {
            if p.tx_outstanding()? > 0 {
                p.kick_tx_now()?;
                in_flight += p.tx_outstanding()?;
                pending += p.tx_pending()?;
            }
            fill_low |= p.fill_level()? < low;
        }
        let retry = pending > 0 || (in_flight > 0 && fill_low);
        let left = until.saturating_duration_since(now);
        let nap = if retry {
            Duration::from_millis(1)
        } else {
            Duration::from_millis(100)
        };
        if a.poll_rx(peer.as_deref(), nap.min(left))? {
            stalled += 1;
        } else {
            stalled = 0;
        }
    }
    a.flush()?;
    if let Some(p) = peer {
        p.flush()?;
    }
    Ok(BenchResult::since(BenchMode::L2Fwd, packets, bytes, start))
}

/// Runs a benchmark loop on an open socket.
pub fn run_on(
    sock: &mut XskSocket,
    cfg: &BenchConfig,
    stop: &AtomicBool,
) -> Result<BenchResult, Error> {
    let batch_n = cfg.batch.clamp(1, 4096);
    let mut batch = Batch::with_capacity(batch_n);
    let umem = sock.umem()?;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(cfg.seconds.max(0.0));
    let (mut packets, mut bytes) = (0u64, 0u64);
    match cfg.mode {
        BenchMode::L2Fwd => return l2fwd(sock, None, cfg, stop),
        BenchMode::RxDrop => {
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                let n = sock.recv_timeout(&mut batch, batch_n, Duration::from_millis(100))?;
                if n == 0 {
                    continue;
                }
                packets += n as u64;
                let mut s = umem.lock().unwrap_or_else(|p| p.into_inner());
                for p in batch.drain() {
                    bytes += p.len() as u64;
                    s.pool().release(p);
                }
            }
        }
        BenchMode::TxOnly => {
            let size = cfg.size.max(60);
            let mut template = [0u8; 4096];
            if build_udp_frame(&mut template, size, 0) == 0 {
                return Err(Error::Config(
                    "size must be between 60 and the frame capacity",
                ));
            }
            // Frames the sender can have: those not lent to the fill ring at open.
            let sendable = umem
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pool()
                .free_count();
            if sendable == 0 {
                return Err(Error::Config(
                    "no frame left to send: the fill ring holds the whole UMEM",
                ));
            }
            let want = batch_n.min(sendable);
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                sock.reap()?;
                // Out of frames (all in flight): wait for a whole batch to complete
                // rather than send the few that trickle back one kick each.
                let free = |u: &super::socket::SharedUmem| {
                    u.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .pool()
                        .free_count()
                };
                while free(&umem) < want
                    && sock.tx_outstanding()? > 0
                    && Instant::now() < until
                    && !stop.load(Ordering::Relaxed)
                {
                    sock.wait_tx()?;
                }
                {
                    let mut s = umem.lock().unwrap_or_else(|p| p.into_inner());
                    let pool = s.pool();
                    if size > pool.frame_capacity() {
                        return Err(Error::TooLarge {
                            len: size,
                            max: pool.frame_capacity(),
                        });
                    }
                    while !batch.is_full() {
                        let Some(f) = pool.alloc() else { break };
                        pool.frame_mut(&f)[..size].copy_from_slice(&template[..size]);
                        let _ = pool.set_window(&f, 0, size as u32);
                        let _ = batch.push(Packet::from_frame(f, size as u32));
                    }
                }
                if batch.is_empty() {
                    // Every frame is in flight: wait for some completions instead of spinning.
                    sock.wait_tx()?;
                    continue;
                }
                let n = sock.transmit(&mut batch)?;
                packets += n as u64;
                bytes += (n * size) as u64;
            }
            sock.flush()?;
        }
    }
    Ok(BenchResult::since(cfg.mode, packets, bytes, start))
}

/// Swaps destination and source MAC addresses in place (frames shorter than 12 bytes
/// are left alone).
pub fn swap_macs(f: &mut [u8]) {
    if f.len() >= 12 {
        for i in 0..6 {
            f.swap(i, i + 6);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_frame_is_valid() {
        let mut b = [0u8; 2048];
        assert_eq!(build_udp_frame(&mut b, 64, 7), 64);
        let ip = &b[14..34];
        assert_eq!(checksum::fold(checksum::sum(ip, 0)), 0xffff);
        // UDP checksum over pseudo-header + datagram verifies to 0xffff.
        let ps = checksum::pseudo_v4([198, 18, 0, 1], [198, 18, 0, 2], 17, 30);
        assert_eq!(checksum::fold(checksum::sum(&b[34..64], ps)), 0xffff);
        assert_eq!(u64::from_be_bytes(b[42..50].try_into().unwrap()), 7);
        assert_eq!(build_udp_frame(&mut b, 40, 0), 0);
        assert_eq!(build_udp_frame(&mut b, 4096, 0), 0);
    }
}
