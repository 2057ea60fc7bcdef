//! Zero heap allocations per packet on the AF_XDP RX and TX steady state, proven
//! with a counting global allocator (this file is its own test binary with one test,
//! so no other test thread allocates meanwhile). Privileged: `#[ignore]`d, run as root
//! with `--ignored`; fails, saying why, when run without root.

mod xsknet;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use xdpkt::xsk::bench::build_udp_frame;
use xdpkt::xsk::{XskConfig, XskSocket};
use xdpkt::Batch;
use xsknet::{in_ns, VethNs};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

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
    COUNTING.store(true, Ordering::Relaxed);
    let mut total = 0;
    for _ in 0..50 {
        total += round(&mut tx, &mut rx, &mut txb, &mut rxb, &tmpl);
    }
    COUNTING.store(false, Ordering::Relaxed);
    let allocs = ALLOCS.load(Ordering::Relaxed);
    assert!(total >= 50 * 60, "only {total} packets made the round trip");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {total} packets received and 3200 sent"
    );

    // The l2fwd path: rx forwards what it receives back out (same frames, MACs swapped).
    let mut fwd_round = |count: bool| {
        if count {
            COUNTING.store(true, Ordering::Relaxed);
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
        COUNTING.store(false, Ordering::Relaxed);
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
