//! Zero heap allocations per packet in GRO: a counting global allocator
//! watches steady-state polls of 64 interleaved TCP flows (v4 and v6) of
//! 1448-byte segments. Each poll refills the input batch from the pool (what
//! the NIC's DMA does), coalesces, and releases the output.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use xdpkt::gro::testkit::interleaved_flows;
use xdpkt::gro::{coalesce, Gro, GroConfig};
use xdpkt::{Batch, FramePool};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// Forwards to the system allocator and counts the calls that allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's, forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const FLOWS: u16 = 64;
const SEGS: usize = 4;

#[test]
fn steady_state_coalesce_does_not_allocate() {
    // The counter sees allocations at all (the test can fail).
    let probe = ALLOCS.load(Ordering::Relaxed);
    let v = std::hint::black_box(vec![1u8; 16]);
    assert!(ALLOCS.load(Ordering::Relaxed) > probe && v.len() == 16);
    for v6 in [false, true] {
        let frames = interleaved_flows(FLOWS, SEGS, 1448, v6);
        let n = frames.len();
        let mut pool = FramePool::heap(2 * n as u32, 2048);
        let mut gro = Gro::new(GroConfig::default());
        let mut input = Batch::with_capacity(n);
        let mut out = Batch::with_capacity(n + 1);
        let poll = |pool: &mut FramePool, gro: &mut Gro, input: &mut Batch, out: &mut Batch| {
            for f in &frames {
                let p = pool.packet_from(f).expect("pool sized for a batch");
                assert!(input.push(p).is_ok());
            }
            coalesce(gro, pool, input, out);
            let got = out.len();
            for p in out.drain() {
                pool.release(p);
            }
            got
        };
        // Warm up (first use of every Vec is already sized, but be fair).
        for _ in 0..3 {
            assert_eq!(
                poll(&mut pool, &mut gro, &mut input, &mut out),
                FLOWS as usize
            );
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..200 {
            assert_eq!(
                poll(&mut pool, &mut gro, &mut input, &mut out),
                FLOWS as usize
            );
        }
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        assert_eq!(
            allocs, 0,
            "v6={v6}: {allocs} allocations in 200 polls of {n} packets"
        );
        assert_eq!(gro.stats().merged, 203 * (n - FLOWS as usize) as u64);
        assert_eq!(pool.free_count(), 2 * n);
    }
}
