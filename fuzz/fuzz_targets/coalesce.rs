//! GRO on arbitrary frames: no panic, every frame accounted for, and every
//! aggregate re-parses with valid checksums while every packet delivered
//! alone is byte-identical to one of the inputs.
//!
//! Input layout: byte 0 = config bits (UDP GRO, table size, poll length,
//! small chained frames);
//! then frames, each prefixed by a 2-byte big-endian length. To give the
//! engine something mergeable, a frame may also be "the previous frame with
//! its sequence advanced" (length prefix with the top bit set): the copy gets
//! seq += payload and, for IPv4, ID + 1 and fixed checksums.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpkt::gro::testkit::verify;
use xdpkt::gro::{coalesce, Gro, GroConfig};
use xdpkt::wire::{checksum, dissect, L3, L4};
use xdpkt::{Batch, FramePool};

const FRAMES: u32 = 512;

/// The next in-order segment after `prev`, with valid checksums (best effort).
fn advance(prev: &[u8]) -> Vec<u8> {
    let mut f = prev.to_vec();
    let Ok(l) = dissect(&f) else { return f };
    let plen = l.payload_len() as u32;
    if l.l4 == L4::Tcp {
        let at = l.l4_off + 4;
        let seq = u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]).wrapping_add(plen);
        f[at..at + 4].copy_from_slice(&seq.to_be_bytes());
    }
    if l.l3 == L3::V4 {
        let id = u16::from_be_bytes([f[l.l3_off + 4], f[l.l3_off + 5]]).wrapping_add(1);
        f[l.l3_off + 4..l.l3_off + 6].copy_from_slice(&id.to_be_bytes());
        f[l.l3_off + 10..l.l3_off + 12].fill(0);
        let c = checksum::finish(checksum::sum(&f[l.l3_off..l.l4_off], 0));
        f[l.l3_off + 10..l.l3_off + 12].copy_from_slice(&c.to_be_bytes());
    }
    let csum_at = l.l4_off + if l.l4 == L4::Tcp { 16 } else { 6 };
    f[csum_at..csum_at + 2].fill(0);
    let l4_len = (l.end - l.l4_off) as u32;
    let proto = if l.l4 == L4::Tcp { 6 } else { 17 };
    let pseudo = match l.l3 {
        L3::V4 => {
            let a = l.l3_off + 12;
            let src = [f[a], f[a + 1], f[a + 2], f[a + 3]];
            let dst = [f[a + 4], f[a + 5], f[a + 6], f[a + 7]];
            checksum::pseudo_v4(src, dst, proto, l4_len)
        }
        L3::V6 => {
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&f[l.l3_off + 8..l.l3_off + 24]);
            dst.copy_from_slice(&f[l.l3_off + 24..l.l3_off + 40]);
            checksum::pseudo_v6(src, dst, proto, l4_len)
        }
    };
    let mut c = checksum::finish(checksum::sum(&f[l.l4_off..l.end], pseudo));
    if c == 0 && l.l4 == L4::Udp {
        c = 0xffff;
    }
    f[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    f
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else { return };
    let mut frames: Vec<Vec<u8>> = Vec::new();
    while rest.len() >= 2 && frames.len() < 256 {
        let hdr = u16::from_be_bytes([rest[0], rest[1]]);
        rest = &rest[2..];
        if hdr & 0x8000 != 0 {
            if let Some(prev) = frames.last() {
                let f = advance(prev);
                frames.push(f);
            }
            continue;
        }
        let n = usize::from(hdr).min(rest.len()).min(2048);
        frames.push(rest[..n].to_vec());
        rest = &rest[n..];
    }

    let config = GroConfig { udp: cfg & 1 != 0, max_flows: usize::from(cfg >> 1 & 7) + 1, ..GroConfig::default() };
    let poll = usize::from(cfg >> 4 & 7) + 1;
    // Small frames chain frames over several pool frames.
    let (count, size) = if cfg & 0x80 != 0 { (FRAMES * 16, 128) } else { (FRAMES, 2048) };
    let mut pool = FramePool::heap(count, size);
    let mut gro = Gro::new(config);
    let mut delivered = 0u64;
    for chunk in frames.chunks(poll) {
        let mut input = Batch::with_capacity(chunk.len());
        for f in chunk {
            let p = pool.packet_from(f).expect("pool is large enough");
            assert!(input.push(p).is_ok());
        }
        let mut out = Batch::with_capacity(chunk.len() + 1);
        coalesce(&mut gro, &mut pool, &mut input, &mut out);
        assert!(input.is_empty() && gro.held() == 0);
        let mut bytes = Vec::new();
        for p in out.drain() {
            pool.copy_out(&p, &mut bytes);
            if p.gso_segs > 1 {
                assert!(verify(&bytes).is_ok(), "aggregate does not verify");
            } else {
                assert!(chunk.iter().any(|f| *f == bytes), "single packet changed");
            }
            delivered += 1;
            pool.release(p);
        }
    }
    assert_eq!(pool.free_count(), count as usize, "frames leaked");
    let s = gro.stats();
    assert_eq!(s.packets_in, frames.len() as u64);
    assert_eq!(s.packets_out, delivered);
    assert_eq!(s.packets_in, s.packets_out + s.merged);
});
