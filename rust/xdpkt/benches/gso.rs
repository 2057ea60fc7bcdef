//! GSO throughput: 64 KB TCP super-frames cut at MSS 1448 (IPv4, IPv6) and a
//! USO super-frame, into a pre-allocated batch from a pre-allocated pool.
//! Throughput is bytes of input per second (×8 for Gbps); a line with
//! segments/s is printed for each case after criterion's report.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xdpkt::gso::{segment, GsoOptions};
use xdpkt::{Batch, FramePool, Packet};

#[path = "../tests/common/frames.rs"]
mod frames;

struct Case {
    name: &'static str,
    frame: Vec<u8>,
    mss: u16,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "tso_v4_64k_mss1448",
            frame: frames::super_frame(false, false, 65535 - 20 - 32),
            mss: 1448,
        },
        Case {
            name: "tso_v6_64k_mss1448",
            frame: frames::super_frame(true, false, 65535 - 32),
            mss: 1448,
        },
        Case {
            name: "uso_v4_64k_mss1472",
            frame: frames::super_frame(false, true, 44 * 1472),
            mss: 1472,
        },
    ]
}

/// Copies a super-frame into the pool (as RX or GRO would leave it: chained
/// over 4 KB frames); not timed.
fn input(pool: &mut FramePool, frame: &[u8]) -> Packet {
    match pool.packet_from(frame) {
        Ok(p) => p,
        Err(e) => panic!("pool too small: {e}"),
    }
}

/// Times `segment` alone; releasing the segments (TX completion) is not timed.
fn timed(
    pool: &mut FramePool,
    out: &mut Batch,
    frame: &[u8],
    opts: GsoOptions,
) -> (Duration, usize) {
    let pkt = input(pool, frame);
    let t = Instant::now();
    let r = segment(pool, black_box(pkt), opts, out);
    let d = t.elapsed();
    let n = match r {
        Ok(n) => n,
        Err((_, e)) => panic!("segment failed: {e}"),
    };
    for p in out.drain() {
        pool.release(black_box(p));
    }
    (d, n)
}

fn bench_gso(c: &mut Criterion) {
    let mut g = c.benchmark_group("gso");
    let mut rates = Vec::new();
    for case in cases() {
        let mut pool = FramePool::heap(256, 4096);
        let mut out = Batch::with_capacity(64);
        let opts = GsoOptions {
            mss: Some(case.mss),
            fixed_id: false,
        };
        let (_, segs) = timed(&mut pool, &mut out, &case.frame, opts);
        g.throughput(Throughput::Bytes(case.frame.len() as u64));
        g.bench_function(case.name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| timed(&mut pool, &mut out, &case.frame, opts).0)
                    .sum()
            })
        });
        // Segments/s from a plain loop (criterion reports bytes/s of input).
        let iters = 2000;
        let busy: Duration = (0..iters)
            .map(|_| timed(&mut pool, &mut out, &case.frame, opts).0)
            .sum();
        let secs = busy.as_secs_f64();
        let sps = f64::from(iters) * segs as f64 / secs;
        let gbps = f64::from(iters) * case.frame.len() as f64 * 8.0 / secs / 1e9;
        rates.push((case.name, segs, sps, gbps));
    }
    g.finish();
    for (name, segs, sps, gbps) in rates {
        println!(
            "{name}: {segs} segments/super-frame, {:.2} Msegments/s, {gbps:.1} Gbps of input",
            sps / 1e6
        );
    }
}

criterion_group!(benches, bench_gso);
criterion_main!(benches);
