//! Zero heap allocations per packet in GSO's steady state: a counting global
//! allocator watches `segment` cut 64 KB super-frames into a pre-allocated
//! batch from a pre-allocated pool.

use std::sync::atomic::Ordering;

use xdpkt::gso::{segment, GsoOptions};
use xdpkt::{Batch, FramePool};

mod common;
use common::counting::{Counting, ALLOCS, COUNTING};
use common::frames::super_frame;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Segments `frame` once (warm-up), then `iters` times while counting; returns
/// (allocations while counting, segments per super-frame).
/// With `slots` borrow slots the segments borrow the input's payload.
fn count(frame: &[u8], frame_size: usize, mss: u16, iters: usize, slots: u32) -> (usize, usize) {
    let mut pool = FramePool::heap_borrowing(512, frame_size, slots);
    let mut out = Batch::with_capacity(128);
    let opts = GsoOptions {
        mss: Some(mss),
        fixed_id: false,
    };
    let once = |pool: &mut FramePool, out: &mut Batch| -> usize {
        let pkt = pool.packet_from(frame).expect("pool has room");
        let n = segment(pool, pkt, opts, out)
            .map_err(|(_, e)| e)
            .expect("segments");
        for p in out.drain() {
            pool.release(p);
        }
        n
    };
    let n = once(&mut pool, &mut out);
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    for _ in 0..iters {
        assert_eq!(once(&mut pool, &mut out), n);
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(pool.free_count(), 512);
    assert_eq!(pool.free_borrow_slots(), slots as usize);
    (ALLOCS.load(Ordering::Relaxed) - before, n)
}

#[test]
fn segment_allocates_nothing_in_steady_state() {
    // The counter works: a Vec allocation while counting is seen.
    COUNTING.with(|c| c.set(true));
    let v: Vec<u8> = Vec::with_capacity(10);
    COUNTING.with(|c| c.set(false));
    drop(v);
    assert!(
        ALLOCS.load(Ordering::Relaxed) >= 1,
        "allocation counter is live"
    );

    // 64 KB TSO super-frames (IPv4 and IPv6) at MSS 1448, input chained over
    // 4 KB frames; then output spanning 1 KB frames; then USO.
    let tcp4 = super_frame(false, false, 65535 - 20 - 32);
    let tcp6 = super_frame(true, false, 65535 - 32);
    let udp6 = super_frame(true, true, 46 * 1400);
    // Each both copying the payload and borrowing it.
    for slots in [0, 256] {
        assert_eq!(count(&tcp4, 4096, 1448, 500, slots), (0, 46));
        assert_eq!(count(&tcp6, 4096, 1448, 500, slots), (0, 46));
        assert_eq!(count(&tcp4, 1024, 1448, 200, slots).0, 0);
        assert_eq!(count(&udp6, 2048, 1400, 500, slots), (0, 46));
    }
}
