//! The Port's per-queue hot path (`Napi`: GRO on receive, GSO staging onto a TX
//! batch) allocates nothing per packet in steady state, and GRO then GSO through
//! it reproduces the received segments byte for byte (why forwarding an
//! aggregate is safe).

use xdpkt::gro::testkit::interleaved_flows;
use xdpkt::napi::{Napi, NapiConfig};
use xdpkt::FramePool;

mod common;
use common::counting::{count, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One poll: `frames` onto the RX batch, GRO, GSO staging, "transmit" (copy out and
/// release). Returns the frames that left, in order, as (flow port, bytes) when
/// `keep`; only counts otherwise (so the counted loop allocates nothing itself).
fn poll(
    napi: &mut Napi,
    pool: &mut FramePool,
    frames: &[Vec<u8>],
    out: &mut Vec<Vec<u8>>,
    keep: bool,
) -> usize {
    let mut sent = 0;
    for chunk in frames.chunks(napi.config().budget as usize) {
        for f in chunk {
            let p = pool.packet_from(f).expect("pool sized for a poll");
            napi.rx.push(p).expect("budget-sized batch");
        }
        napi.receive(pool, true);
        loop {
            let done = napi.stage_tx(pool);
            for p in napi.tx.drain() {
                if keep {
                    let mut v = Vec::new();
                    pool.copy_out(&p, &mut v);
                    out.push(v);
                }
                sent += 1;
                pool.release(p);
            }
            if done {
                break;
            }
        }
    }
    sent
}

#[test]
fn napi_gro_gso_steady_state_allocates_nothing() {
    // 8 flows x 40 segments of 1448 bytes: aggregates of up to 40 segments each.
    let frames = interleaved_flows(8, 40, 1448, false);
    let cfg = NapiConfig {
        mtu: 1500,
        ..NapiConfig::default()
    };
    let mut napi = Napi::new(cfg, 2048);
    let mut pool = FramePool::heap(4096, 2048);
    let mut scratch = Vec::new();
    // Warm-up: the flow table and every batch reach their working size.
    poll(&mut napi, &mut pool, &frames, &mut scratch, false);
    let (allocs, sent) = count(|| {
        let mut n = 0;
        for _ in 0..50 {
            n += poll(&mut napi, &mut pool, &frames, &mut scratch, false);
        }
        n
    });
    assert_eq!(sent, 50 * frames.len());
    assert_eq!(allocs, 0, "{allocs} allocations for {sent} packets");
    let c = napi.snapshot();
    assert!(c.gro.aggregates > 0 && c.gso_segments > 0);
    assert_eq!(pool.free_count(), 4096, "every frame back in the pool");
}

#[test]
fn napi_gro_then_gso_reproduces_the_segments() {
    for v6 in [false, true] {
        let frames = interleaved_flows(5, 33, 1000, v6);
        let mut napi = Napi::new(NapiConfig::default(), 2048);
        let mut pool = FramePool::heap(4096, 2048);
        let mut out = Vec::new();
        poll(&mut napi, &mut pool, &frames, &mut out, true);
        // Per flow the order is kept; flows interleave differently once merged.
        let port = |f: &Vec<u8>| -> u16 {
            let l4 = if v6 { 14 + 40 } else { 14 + 20 };
            u16::from_be_bytes([f[l4], f[l4 + 1]])
        };
        for k in 0..5u16 {
            let want: Vec<&Vec<u8>> = frames.iter().filter(|f| port(f) == 10000 + k).collect();
            let got: Vec<&Vec<u8>> = out.iter().filter(|f| port(f) == 10000 + k).collect();
            assert_eq!(got, want, "flow {k} (v6={v6})");
        }
        assert_eq!(out.len(), frames.len());
        let c = napi.snapshot();
        assert!(c.gro.aggregates >= 5, "{:?}", c.gro);
        assert_eq!(pool.free_count(), 4096);
    }
}

#[test]
fn napi_without_gso_drops_oversize_and_counts() {
    let frames = interleaved_flows(1, 10, 1448, false);
    let cfg = NapiConfig {
        gso: false,
        ..NapiConfig::default()
    };
    let mut napi = Napi::new(cfg, 2048);
    let mut pool = FramePool::heap(1024, 2048);
    let mut out = Vec::new();
    let sent = poll(&mut napi, &mut pool, &frames, &mut out, true);
    // GRO made one aggregate of 10 segments; without GSO it cannot leave at MTU 1500.
    assert_eq!(sent, 0);
    let c = napi.snapshot();
    assert_eq!(c.tx_mtu_drops, 1);
    assert_eq!(c.rx_packets, 10);
    assert_eq!(pool.free_count(), 1024);
}
