//! Fuzz `gso::segment`: arbitrary bytes as a frame, arbitrary MSS, options,
//! frame size, headroom, batch room, offload metadata, and segments that copy
//! or borrow the payload. Invariants: no panic; on success every segment
//! re-parses with valid checksums and the payloads concatenate to the input's;
//! on error nothing was pushed and the packet comes back unchanged; afterwards
//! every frame and borrow slot is back in the pool.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpkt::gso::{segment, GsoError, GsoOptions};
use xdpkt::wire::{dissect, Layout, L3, L4};
use xdpkt::{Batch, CsumState, FramePool, GsoType, HeapMemory};

const FRAMES: u32 = 1024;

fn naive(data: &[u8], mut s: u32) -> u32 {
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        s += u32::from(w);
        s = (s & 0xffff) + (s >> 16);
    }
    s
}

/// True when an IPv6 routing header is present (its pseudo-header uses the
/// final destination; checked by the unit tests, skipped here).
fn has_routing(f: &[u8], l: &Layout) -> bool {
    if l.l3 != L3::V6 {
        return false;
    }
    let mut next = f[l.l3_off + 6];
    let mut at = l.l3_off + 40;
    while at < l.l4_off {
        if next == 43 {
            return true;
        }
        next = f[at];
        at += (usize::from(f[at + 1]) + 1) * 8;
    }
    false
}

fn check_valid(f: &[u8], ip_too: bool) -> Layout {
    let l = dissect(f).expect("segment re-parses");
    assert_eq!(l.end, f.len());
    let proto = if l.l4 == L4::Tcp { 6 } else { 17 };
    let l4 = &f[l.l4_off..];
    let pseudo = match l.l3 {
        L3::V4 => {
            if ip_too {
                assert_eq!(
                    naive(&f[l.l3_off..l.l4_off], 0),
                    0xffff,
                    "IPv4 header checksum"
                );
            }
            naive(&f[l.l3_off + 12..l.l3_off + 20], proto + l4.len() as u32)
        }
        L3::V6 => naive(&f[l.l3_off + 8..l.l3_off + 40], proto + l4.len() as u32),
    };
    if !has_routing(f, &l) {
        assert_eq!(naive(l4, pseudo), 0xffff, "L4 checksum");
    }
    l
}

fuzz_target!(|data: &[u8]| {
    let [m0, m1, ctl, room, ref frame @ ..] = *data else {
        return;
    };
    let mss = u16::from_be_bytes([m0, m1]);
    let frame_size = [64usize, 128, 256, 2048][usize::from(ctl & 3)];
    let fixed_id = ctl & 4 != 0;
    let explicit_mss = ctl & 8 != 0;
    let gso_type = [
        GsoType::None,
        GsoType::TcpV4,
        GsoType::TcpV6,
        GsoType::UdpL4,
    ][usize::from((ctl >> 4) & 3)];
    let partial = ctl & 0x40 != 0;
    let headroom = if ctl & 0x80 != 0 { 32 } else { 0 };

    // The batch's room, and whether segments borrow the input's payload.
    let slots = if room & 0x80 != 0 { 2 * FRAMES } else { 0 };
    let room = room & 0x7f;
    let mut pool =
        FramePool::with_borrow_slots(HeapMemory::new(FRAMES, frame_size), headroom, slots);
    let mut out = Batch::with_capacity(usize::from(room) + 1);
    let Ok(mut pkt) = pool.packet_from(frame) else {
        return;
    };
    pkt.gso_size = mss;
    pkt.gso_type = gso_type;
    if partial {
        pkt.csum = CsumState::Partial {
            start: 0,
            offset: 0,
        };
    }
    let opts = GsoOptions {
        mss: if explicit_mss { Some(mss) } else { None },
        fixed_id,
    };
    let input = dissect(frame).ok();

    let mut bytes = Vec::new();
    match segment(&mut pool, pkt, opts, &mut out) {
        Ok(n) => {
            assert_eq!(n, out.len());
            let Some(il) = input else {
                panic!("segmented a frame that does not parse")
            };
            if n == 1 {
                let p = out.get(0).expect("one packet");
                pool.copy_out(p, &mut bytes);
                assert_eq!(bytes.len(), frame.len());
                if partial {
                    // Completing a partial checksum touches L4 only (skb_checksum_help).
                    check_valid(&bytes[..il.end], false);
                    let at = il.l4_off + if il.l4 == L4::Tcp { 16 } else { 6 };
                    assert_eq!(bytes[..at], frame[..at]);
                    assert_eq!(bytes[at + 2..], frame[at + 2..]);
                } else {
                    assert_eq!(&bytes[..], frame);
                }
            } else {
                let m = usize::from(mss);
                let mut payload = Vec::new();
                for (i, p) in out.iter().enumerate() {
                    assert_eq!(p.csum, CsumState::Unnecessary);
                    pool.copy_out(p, &mut bytes);
                    let l = check_valid(&bytes, true);
                    assert_eq!(l.header_len(), il.header_len());
                    let pay = &bytes[l.payload_off..];
                    assert!(!pay.is_empty() && pay.len() <= m);
                    if i + 1 < n {
                        assert_eq!(pay.len(), m);
                    }
                    payload.extend_from_slice(pay);
                }
                assert_eq!(&payload[..], &frame[il.payload_off..il.end]);
                // Cut the first segment again at half its MSS: an input whose
                // payload is borrowed windows (borrowed again, or copied when
                // the slots run short).
                let half = (mss / 2).max(1);
                if let Some(first) = out.drain_front(1).next() {
                    pool.copy_out(&first, &mut bytes);
                    let mut again = Batch::with_capacity(m.div_ceil(usize::from(half)));
                    let opts = GsoOptions {
                        mss: Some(half),
                        fixed_id,
                    };
                    match segment(&mut pool, first, opts, &mut again) {
                        Ok(k) => {
                            let l = dissect(&bytes).expect("a segment parses");
                            let mut seg = Vec::new();
                            let mut pay = Vec::new();
                            for p in again.iter() {
                                pool.copy_out(p, &mut seg);
                                let sl = check_valid(&seg, k > 1);
                                pay.extend_from_slice(&seg[sl.payload_off..]);
                            }
                            assert_eq!(&pay[..], &bytes[l.payload_off..]);
                        }
                        Err((p, e)) => {
                            // A UDP datagram cut past UDP_MAX_SEGMENTS, or a pool too small.
                            assert!(
                                !matches!(e, GsoError::Parse(_) | GsoError::BrokenChain { .. }),
                                "{e}"
                            );
                            pool.release(p);
                        }
                    }
                    for p in again.drain() {
                        pool.release(p);
                    }
                }
            }
        }
        Err((p, e)) => {
            assert!(out.is_empty(), "nothing pushed on error");
            pool.copy_out(&p, &mut bytes);
            assert_eq!(&bytes[..], frame, "packet comes back unchanged");
            // A frame that parses contiguously fails only for a stated reason
            // (a chained frame whose headers exceed the 1024-byte probe aside).
            if let Some(il) = input {
                assert!(!matches!(e, GsoError::BrokenChain { .. }), "{e}");
                if il.header_len() <= 1024 {
                    assert!(!matches!(e, GsoError::Parse(_)), "{e}");
                }
            }
            let _ = (e.reason(), e.to_string());
            pool.release(p);
        }
    }
    for p in out.drain() {
        pool.release(p);
    }
    assert_eq!(
        pool.free_count(),
        FRAMES as usize,
        "every frame back in the pool"
    );
    assert_eq!(pool.free_borrow_slots(), slots as usize, "every slot back");
    assert_eq!(pool.pinned_count(), 0);
});
