//! GRO input packets/s: 1448-byte TCP segments over 64 interleaved flows,
//! IPv4 and IPv6, one NAPI-style poll per iteration.
//!
//! Each iteration first refills the input batch from a template by copying
//! every frame into a pool frame: that copy stands for the NIC's DMA into the
//! UMEM and is part of the measured time (so the figure is a lower bound for
//! GRO alone). Then `coalesce` runs (validation, lookup, zero-copy merge,
//! header rewrite, full TCP checksums) and the aggregates are released.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use xdpkt::gro::testkit::interleaved_flows;
use xdpkt::gro::{coalesce, Gro, GroConfig};
use xdpkt::{Batch, FramePool};

const FLOWS: u16 = 64;
/// Segments per flow per poll: 64 × 4 = 256 packets per poll.
const SEGS: usize = 4;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gro");
    for (name, v6) in [("tcp4_64flows_1448", false), ("tcp6_64flows_1448", true)] {
        let frames = interleaved_flows(FLOWS, SEGS, 1448, v6);
        let n = frames.len();
        let mut pool = FramePool::heap(2 * n as u32, 2048);
        let mut gro = Gro::new(GroConfig::default());
        let mut input = Batch::with_capacity(n);
        let mut out = Batch::with_capacity(n + 1);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |()| {
                    // The NIC's DMA: frames land in pool frames.
                    for f in &frames {
                        if let Ok(p) = pool.packet_from(f) {
                            let _ = input.push(p);
                        }
                    }
                    coalesce(&mut gro, &mut pool, &mut input, &mut out);
                    let got = out.len();
                    for p in out.drain() {
                        pool.release(p);
                    }
                    got
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
