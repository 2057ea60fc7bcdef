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
            let fixed_id = agg.gso_fixed_id;
            let r = segment(&mut pool, agg, GsoOptions { mss: None, fixed_id }, &mut segs);
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
