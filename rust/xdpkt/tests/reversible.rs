//! Reversible GRO: segmenting an aggregate at its own gso_size gives back the
//! segments it was built from, byte for byte (`gso(gro(x)) == x`).
//!
//! This is what makes forwarding a GRO aggregate safe (and why the kernel's
//! `dev_disable_lro` exists for LRO, which loses segment boundaries). Inputs
//! carry valid checksums, so the outputs must equal them exactly, checksum
//! fields included; link padding is not compared (GRO drops it on merge and
//! GSO never adds any), so inputs are built unpadded.

use proptest::prelude::*;
use xdpkt::gro::testkit::{verify, SegSpec};
use xdpkt::gro::{coalesce, Gro, GroConfig};
use xdpkt::gso::{segment, GsoOptions};
use xdpkt::wire::tcp::{ACK, FIN, PSH};
use xdpkt::{Batch, FramePool};

#[derive(Debug, Clone)]
struct Case {
    v6: bool,
    udp: bool,
    vlan: bool,
    ts_opt: bool,
    fixed_id: bool,
    df: bool,
    gso: usize,
    n: usize,
    last: usize,
    last_flags: u8,
    tos: u8,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (any::<bool>(), any::<bool>(), 1usize..1500, 2usize..30),
        (
            0usize..1500,
            prop_oneof![Just(0u8), Just(PSH), Just(FIN), Just(PSH | FIN)],
            any::<u8>(),
        ),
    )
        .prop_map(
            |((v6, udp, vlan, ts_opt), (fixed_id, df, gso, n), (last, last_flags, tos))| Case {
                v6,
                udp,
                vlan,
                ts_opt,
                fixed_id,
                df,
                gso,
                n,
                last: last % gso + 1,
                last_flags,
                tos,
            },
        )
}

fn inputs(c: &Case) -> Vec<Vec<u8>> {
    let base = match (c.v6, c.udp) {
        (false, false) => SegSpec::tcp4(0xfffff000, c.gso),
        (true, false) => SegSpec::tcp6(0xfffff000, c.gso),
        (false, true) => SegSpec::udp4(0xfffff000, c.gso),
        (true, true) => SegSpec::udp6(0xfffff000, c.gso),
    };
    let opts = if c.ts_opt {
        vec![1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]
    } else {
        Vec::new()
    };
    let mut s = SegSpec {
        vlan: c.vlan.then_some(42),
        tcp_opts: opts,
        df: c.df,
        tos: c.tos,
        id: 0xfff0,
        pad_to: 0,
        ..base
    };
    let mut v = Vec::with_capacity(c.n);
    for i in 0..c.n {
        if i > 0 {
            let len = if i + 1 == c.n { c.last } else { c.gso };
            s = s.next(len);
            if c.fixed_id {
                s.id = 0xfff0;
            }
        }
        if i + 1 == c.n && !c.udp {
            s.flags = ACK | c.last_flags;
        }
        v.push(s.build());
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn gso_of_gro_is_identity(c in case()) {
        let frames = inputs(&c);
        let mut pool = FramePool::heap(256, 2048);
        let mut gro = Gro::new(GroConfig { udp: true, ..GroConfig::default() });
        let mut input = Batch::with_capacity(frames.len());
        for f in &frames {
            input.push(pool.packet_from(f).unwrap()).unwrap();
        }
        let mut aggs = Batch::with_capacity(frames.len() + 1);
        coalesce(&mut gro, &mut pool, &mut input, &mut aggs);
        // These inputs are built to merge into one aggregate.
        prop_assert_eq!(aggs.len(), 1);
        prop_assert_eq!(usize::from(aggs.get(0).unwrap().gso_segs), c.n);
        let mut segs = Batch::with_capacity(frames.len() + 1);
        for agg in aggs.drain() {
            // GSO takes gso_size and the fixed-ID mode from the aggregate itself.
            prop_assert_eq!(agg.gso_fixed_id, c.fixed_id && !c.v6);
            let r = segment(&mut pool, agg, GsoOptions::default(), &mut segs);
            match r {
                Ok(n) => prop_assert_eq!(n, c.n),
                Err((p, e)) => {
                    pool.release(p);
                    return Err(TestCaseError::fail(format!("segment: {e}")));
                }
            }
        }
        let mut got = Vec::new();
        for p in segs.drain() {
            let mut b = Vec::new();
            pool.copy_out(&p, &mut b);
            pool.release(p);
            verify(&b).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            got.push(b);
        }
        prop_assert_eq!(pool.free_count(), 256);
        prop_assert_eq!(got, frames);
    }
}

/// Coalesces `input` into one aggregate and segments it at its own gso_size.
fn round_trip(pool: &mut FramePool, input: &mut Batch, n: usize) -> Result<Batch, TestCaseError> {
    let mut gro = Gro::new(GroConfig {
        udp: true,
        ..GroConfig::default()
    });
    let mut aggs = Batch::with_capacity(n + 1);
    coalesce(&mut gro, pool, input, &mut aggs);
    prop_assert_eq!(aggs.len(), 1);
    let mut segs = Batch::with_capacity(n + 1);
    for agg in aggs.drain() {
        if let Err((p, e)) = segment(pool, agg, GsoOptions::default(), &mut segs) {
            pool.release(p);
            return Err(TestCaseError::fail(format!("segment: {e}")));
        }
    }
    prop_assert_eq!(segs.len(), n);
    Ok(segs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// With borrow slots, GSO's segments are header frames plus windows of the
    /// aggregate's frames, and GRO of those segments chains the windows: a second
    /// round trip borrows from borrowed windows. Both rounds give the inputs back,
    /// and releasing the survivors in any order returns every frame and slot.
    #[test]
    fn borrowed_segments_round_trip_twice(c in case(), order in any::<u64>()) {
        let frames = inputs(&c);
        const FRAMES: u32 = 256;
        let mut pool = FramePool::heap_borrowing(FRAMES, 2048, 4 * FRAMES);
        let mut input = Batch::with_capacity(frames.len());
        for f in &frames {
            input.push(pool.packet_from(f).unwrap()).unwrap();
        }
        let mut first = round_trip(&mut pool, &mut input, c.n)?;
        prop_assert!(pool.free_borrow_slots() < pool.borrow_capacity(), "payload borrowed");
        prop_assert!(pool.pinned_count() > 0, "the aggregate's frames are pinned");
        // Keep a copy of every other first-round segment alive through the second round.
        let mut keep = Vec::new();
        let mut again = Batch::with_capacity(c.n);
        for (i, p) in first.drain().enumerate() {
            let mut b = Vec::new();
            pool.copy_out(&p, &mut b);
            prop_assert_eq!(&b, &frames[i]);
            if i % 2 == 0 {
                let copy = pool.packet_from(&b).unwrap();
                keep.push(p);
                again.push(copy).unwrap();
            } else {
                again.push(p).unwrap();
            }
        }
        let mut second = round_trip(&mut pool, &mut again, c.n)?;
        let mut all: Vec<_> = keep.into_iter().chain(second.drain()).collect();
        for (i, p) in all.iter().skip(c.n.div_ceil(2)).enumerate() {
            let mut b = Vec::new();
            pool.copy_out(p, &mut b);
            prop_assert_eq!(&b, &frames[i]);
        }
        // Release in a shuffled order.
        let mut k = order | 1;
        while !all.is_empty() {
            k = k.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let p = all.swap_remove((k >> 33) as usize % all.len());
            pool.release(p);
        }
        prop_assert_eq!(pool.free_count(), FRAMES as usize);
        prop_assert_eq!(pool.free_borrow_slots(), pool.borrow_capacity());
        prop_assert_eq!((pool.pinned_count(), pool.held_count()), (0, 0));
    }
}
