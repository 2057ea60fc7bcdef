//! Zero heap allocations per packet on the AF_XDP RX and TX steady state and on a
//! Port's RX/GRO/GSO/TX path, proven with a counting global allocator that counts
//! the test thread only (the hot loops run there). Privileged: `#[ignore]`d, run as root
//! with `--ignored`; fails, saying why, when run without root.

mod xsknet;

use std::sync::atomic::Ordering;
use std::time::Duration;

use xdpkt::xsk::bench::build_udp_frame;
use xdpkt::xsk::{XskConfig, XskSocket};
use xdpkt::Batch;
use xsknet::{in_ns, VethNs};

mod common;
use common::counting::{Counting, ALLOCS, COUNTING};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One round: build 64 frames on `tx`, send them, receive them on `rx`, release them.
fn round(
    tx: &mut XskSocket,
    rx: &mut XskSocket,
    txb: &mut Batch,
    rxb: &mut Batch,
    tmpl: &[u8],
) -> usize {
    let umem = tx.umem().unwrap();
    {
        let mut u = umem.lock().unwrap();
        let pool = u.pool();
        while !txb.is_full() {
            let f = pool.alloc().unwrap();
            pool.frame_mut(&f)[..tmpl.len()].copy_from_slice(tmpl);
            pool.set_window(&f, 0, tmpl.len() as u32).unwrap();
            txb.push(xdpkt::Packet::from_frame(f, tmpl.len() as u32))
                .unwrap();
        }
    }
    tx.send(txb).unwrap();
    let mut got = 0;
    for _ in 0..100 {
        got += rx.recv_timeout(rxb, 64, Duration::from_millis(20)).unwrap();
        rx.release(rxb).unwrap();
        if got >= 64 {
            break;
        }
    }
    got
}

#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn rx_tx_steady_state_allocates_nothing() {
    xsknet::require_root();
    let net = VethNs::new();
    let c = XskConfig {
        frames: 1024,
        ring_size: 256,
        ..XskConfig::default()
    };
    let mut rx = in_ns(&net.ns_b, || XskSocket::open(&net.if_b, 0, &c)).unwrap();
    let mut tx = in_ns(&net.ns_a, || XskSocket::open(&net.if_a, 0, &c)).unwrap();
    let mut tmpl = [0u8; 128];
    build_udp_frame(&mut tmpl, 128, 1);
    let mut txb = Batch::with_capacity(64);
    let mut rxb = Batch::with_capacity(64);
    // Warm up (first-touch of rings, lazily initialised std internals).
    for _ in 0..3 {
        round(&mut tx, &mut rx, &mut txb, &mut rxb, &tmpl);
    }
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let mut total = 0;
    for _ in 0..50 {
        total += round(&mut tx, &mut rx, &mut txb, &mut rxb, &tmpl);
    }
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::Relaxed);
    assert!(total >= 50 * 60, "only {total} packets made the round trip");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {total} packets received and 3200 sent"
    );

    // The l2fwd path: rx forwards what it receives back out (same frames, MACs swapped).
    let mut fwd_round = |count: bool| {
        if count {
            COUNTING.with(|c| c.set(true));
        }
        let umem = tx.umem().unwrap();
        {
            let mut u = umem.lock().unwrap();
            let pool = u.pool();
            while !txb.is_full() {
                let f = pool.alloc().unwrap();
                pool.frame_mut(&f)[..tmpl.len()].copy_from_slice(&tmpl);
                pool.set_window(&f, 0, tmpl.len() as u32).unwrap();
                txb.push(xdpkt::Packet::from_frame(f, tmpl.len() as u32))
                    .unwrap();
            }
        }
        tx.send(&mut txb).unwrap();
        let (mut fwd, mut back) = (0, 0);
        for _ in 0..100 {
            fwd += rx
                .forward(None, 64, xdpkt::xsk::bench::swap_macs)
                .unwrap()
                .0;
            back += tx.recv(&mut rxb, 64).unwrap();
            tx.release(&mut rxb).unwrap();
            if back >= 64 {
                break;
            }
            rx.poll_rx(Some(&tx), Duration::from_millis(20)).unwrap();
        }
        COUNTING.with(|c| c.set(false));
        (fwd, back)
    };
    for _ in 0..3 {
        fwd_round(false);
    }
    ALLOCS.store(0, Ordering::Relaxed);
    let mut fwd_total = 0;
    for _ in 0..30 {
        fwd_total += fwd_round(true).0;
    }
    let allocs = ALLOCS.load(Ordering::Relaxed);
    assert!(fwd_total >= 30 * 60, "only {fwd_total} packets forwarded");
    assert_eq!(allocs, 0, "{allocs} allocations for {fwd_total} forwarded");
}

/// The Port's whole idle-mode datapath: RX (poll), GRO, GSO and TX (xmit) of TCP
/// segments sent by a plain socket on the other end; nothing allocates per packet.
#[test]
#[ignore = "needs root: creates network namespaces and veth pairs (run with --ignored)"]
fn port_rx_gro_gso_tx_allocates_nothing() {
    use xdpkt::gro::testkit::interleaved_flows;
    use xdpkt::port::{Port, PortConfig};
    xsknet::require_root();
    let net = VethNs::new();
    let c = XskConfig {
        frames: 2048,
        ring_size: 512,
        ..XskConfig::default()
    };
    let pc = PortConfig {
        ifname: net.if_b.clone(),
        channels: Some(1),
        frames: 4096,
        ring_size: 512,
        ..PortConfig::default()
    };
    let mut port = in_ns(&net.ns_b, || Port::open(&pc, None)).unwrap();
    let mut peer = in_ns(&net.ns_a, || XskSocket::open(&net.if_a, 0, &c)).unwrap();
    // 4 flows x 16 segments of 1400 bytes per round: GRO merges each flow.
    let frames = interleaved_flows(4, 16, 1400, false);
    let mut txb = Batch::with_capacity(64);
    let mut rxb = Batch::with_capacity(256);
    let mut out = Batch::with_capacity(256);
    let mut round = || -> (usize, usize) {
        {
            let umem = peer.umem().unwrap();
            let mut u = umem.lock().unwrap();
            for f in &frames {
                let p = u.pool().packet_from(f).unwrap();
                txb.push(p).unwrap();
            }
        }
        peer.send(&mut txb).unwrap();
        let (mut sent, mut back) = (0, 0);
        for _ in 0..200 {
            port.poll(&mut out).unwrap();
            sent += port.xmit(0, &mut out).unwrap();
            back += peer.recv(&mut rxb, 256).unwrap();
            peer.release(&mut rxb).unwrap();
            if back >= frames.len() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        (sent, back)
    };
    for _ in 0..3 {
        round();
    }
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let mut back_total = 0;
    for _ in 0..30 {
        back_total += round().1;
    }
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(back_total, 30 * frames.len(), "segments lost on the way");
    assert_eq!(allocs, 0, "{allocs} allocations for {back_total} packets");
    let c = port.counters();
    assert!(
        c[0].gro.aggregates > 0 && c[0].gso_segments > 0,
        "{:?}",
        c[0]
    );
}
