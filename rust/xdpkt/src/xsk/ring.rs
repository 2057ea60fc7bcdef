//! The four AF_XDP descriptor rings: fill and TX (we produce), RX and completion
//! (we consume).
//!
//! Each ring is a mapping shared with the kernel: a producer index, a consumer
//! index, a flags word (`need_wakeup`) and a power-of-two array of entries.
//! The protocol (the kernel's `net/xdp/xsk_queue.h` barrier comment):
//! - the consumer loads the producer index with *acquire*, reads the entries,
//!   then stores its consumer index with *release* (entries are read before the
//!   slots are handed back);
//! - the producer loads the consumer index with *acquire*, writes the entries,
//!   then stores its producer index with *release* (entries are visible before
//!   the index that publishes them).
//!
//! Indices are free-running `u32`s; a slot is `index & mask`. Each side keeps a
//! cached copy of the other side's index and only reloads it when the cache says
//! there is not enough room or data, which keeps cache-line traffic low.
//! The index words are reached as `AtomicU32` through raw pointers and entries are
//! copied in and out with raw reads/writes: no Rust reference ever points into
//! memory the kernel writes.
#![allow(unsafe_code)]

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};

use super::sys::{Mmap, RingOffsets};

/// An RX/TX descriptor (`struct xdp_desc`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XdpDesc {
    pub addr: u64,
    pub len: u32,
    pub options: u32,
}

/// Entry types a ring may carry (u64 addresses for fill/completion, descriptors for RX/TX).
pub trait RingEntry: Copy + sealed::Sealed {}
impl RingEntry for u64 {}
impl RingEntry for XdpDesc {}
mod sealed {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for super::XdpDesc {}
}

/// Raw view of one ring mapping.
struct RawRing<T: RingEntry> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    entries: *mut T,
    mask: u32,
    size: u32,
    _map: Mmap,
}

// SAFETY: the pointers target the owned mapping `_map`, which moves with the ring;
// all shared words are accessed atomically, entries only inside the protocol window.
unsafe impl<T: RingEntry> Send for RawRing<T> {}

impl<T: RingEntry> RawRing<T> {
    fn map(fd: &OwnedFd, off: &RingOffsets, size: u32, pgoff: u64) -> Result<Self, i32> {
        if size == 0 || !size.is_power_of_two() {
            return Err(libc::EINVAL);
        }
        let len = off.desc as usize + size as usize * core::mem::size_of::<T>();
        let map = Mmap::ring(fd, len, pgoff)?;
        Self::from_map(map, off, size)
    }

    fn from_map(map: Mmap, off: &RingOffsets, size: u32) -> Result<Self, i32> {
        if size == 0 || !size.is_power_of_two() {
            return Err(libc::EINVAL);
        }
        let len = map.len();
        if (off.desc as usize)
            .checked_add(size as usize * core::mem::size_of::<T>())
            .is_none_or(|e| e > len)
        {
            return Err(libc::EPROTO);
        }
        let fits = |o: u64, n: usize| (o as usize).checked_add(n).is_some_and(|e| e <= len);
        if !fits(off.producer, 4)
            || !fits(off.consumer, 4)
            || !fits(off.flags, 4)
            || !off.desc.is_multiple_of(8)
        {
            return Err(libc::EPROTO);
        }
        let base = map.as_ptr();
        // SAFETY: every offset was checked to lie within the mapping, and the kernel aligns
        // the index words to 4 bytes and the entry array to 8 (checked for `desc`).
        unsafe {
            Ok(RawRing {
                producer: base.add(off.producer as usize).cast(),
                consumer: base.add(off.consumer as usize).cast(),
                flags: base.add(off.flags as usize).cast(),
                entries: base.add(off.desc as usize).cast(),
                mask: size - 1,
                size,
                _map: map,
            })
        }
    }
    #[inline]
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping, 4-aligned; the word is only ever accessed
        // atomically by both sides, so a shared `&AtomicU32` is sound.
        unsafe { &*self.producer }
    }
    #[inline]
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.consumer }
    }
    #[inline]
    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.flags }
    }
}

/// A ring user space produces into (fill, TX).
pub struct ProdRing<T: RingEntry> {
    raw: RawRing<T>,
    /// Our producer index: reserved up to here (published up to `published`).
    cached_prod: u32,
    published: u32,
    /// The kernel's consumer index plus the ring size (so free = cached_cons - cached_prod).
    cached_cons: u32,
}

impl<T: RingEntry> ProdRing<T> {
    pub(crate) fn map(fd: &OwnedFd, off: &RingOffsets, size: u32, pgoff: u64) -> Result<Self, i32> {
        Ok(Self::new(RawRing::<T>::map(fd, off, size, pgoff)?))
    }

    fn new(raw: RawRing<T>) -> Self {
        let size = raw.size;
        let prod = raw.producer().load(Ordering::Relaxed);
        let cons = raw.consumer().load(Ordering::Acquire);
        ProdRing {
            cached_prod: prod,
            published: prod,
            cached_cons: cons.wrapping_add(size),
            raw,
        }
    }

    pub fn size(&self) -> u32 {
        self.raw.size
    }

    /// Free slots, reloading the kernel's consumer index only when the cache shows fewer than `want`.
    #[inline]
    pub fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= want {
            return free;
        }
        // Acquire: the kernel finished reading the entries it consumed before we reuse the slots.
        self.cached_cons = self
            .raw
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.raw.size);
        self.cached_cons.wrapping_sub(self.cached_prod)
    }

    /// Reserves up to `n` slots; returns (first index, count reserved).
    #[inline]
    pub fn reserve(&mut self, n: u32) -> (u32, u32) {
        let got = self.free(n).min(n);
        let start = self.cached_prod;
        self.cached_prod = self.cached_prod.wrapping_add(got);
        (start, got)
    }

    /// Writes an entry into a reserved, not yet submitted slot. Indices outside the
    /// reservation are refused (the kernel may be reading those slots).
    #[inline]
    pub fn write(&mut self, idx: u32, v: T) -> bool {
        if idx.wrapping_sub(self.published) >= self.cached_prod.wrapping_sub(self.published) {
            return false;
        }
        // SAFETY: `idx & mask` < size, inside the entry array of the live mapping; the slot
        // is reserved by us and not yet published, so the kernel does not access it.
        unsafe {
            core::ptr::write_volatile(self.raw.entries.add((idx & self.raw.mask) as usize), v)
        };
        true
    }

    /// Gives back the last `n` reserved, unwritten slots.
    #[inline]
    pub fn unreserve(&mut self, n: u32) {
        let n = n.min(self.cached_prod.wrapping_sub(self.published));
        self.cached_prod = self.cached_prod.wrapping_sub(n);
    }

    /// Publishes every reserved slot to the kernel.
    #[inline]
    pub fn submit(&mut self) {
        // Release: the entries written above become visible before the new producer index.
        self.raw
            .producer()
            .store(self.cached_prod, Ordering::Release);
        self.published = self.cached_prod;
    }

    /// Entries published but not yet consumed by the kernel (reloads its consumer index).
    pub fn pending(&self) -> u32 {
        self.published
            .wrapping_sub(self.raw.consumer().load(Ordering::Acquire))
    }

    /// The kernel asked to be woken (`XDP_RING_NEED_WAKEUP`).
    #[inline]
    pub fn needs_wakeup(&self) -> bool {
        self.raw.flags().load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// A ring the kernel produces into (RX, completion).
pub struct ConsRing<T: RingEntry> {
    raw: RawRing<T>,
    cached_prod: u32,
    cached_cons: u32,
}

impl<T: RingEntry> ConsRing<T> {
    pub(crate) fn map(fd: &OwnedFd, off: &RingOffsets, size: u32, pgoff: u64) -> Result<Self, i32> {
        Ok(Self::new(RawRing::<T>::map(fd, off, size, pgoff)?))
    }

    fn new(raw: RawRing<T>) -> Self {
        let cons = raw.consumer().load(Ordering::Relaxed);
        let prod = raw.producer().load(Ordering::Acquire);
        ConsRing {
            cached_prod: prod,
            cached_cons: cons,
            raw,
        }
    }

    pub fn size(&self) -> u32 {
        self.raw.size
    }

    /// Up to `n` available entries; returns (first index, count). Reloads the producer
    /// index only when the cache is exhausted.
    #[inline]
    pub fn peek(&mut self, n: u32) -> (u32, u32) {
        let mut avail = self.cached_prod.wrapping_sub(self.cached_cons);
        if avail == 0 {
            // Acquire: the kernel's entry writes are visible before we read them.
            self.cached_prod = self.raw.producer().load(Ordering::Acquire);
            avail = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        // A kernel producer more than a ring ahead would be corrupt: never read past a ring.
        let avail = avail.min(self.raw.size);
        (self.cached_cons, avail.min(n))
    }

    /// Copies out an available entry; `None` outside the available window.
    #[inline]
    pub fn read(&self, idx: u32) -> Option<T> {
        if idx.wrapping_sub(self.cached_cons)
            >= self
                .cached_prod
                .wrapping_sub(self.cached_cons)
                .min(self.raw.size)
        {
            return None;
        }
        // SAFETY: the slot is inside the entry array and published by the kernel (acquire
        // load above) and not yet released, so the kernel does not write it now.
        Some(unsafe {
            core::ptr::read_volatile(self.raw.entries.add((idx & self.raw.mask) as usize))
        })
    }

    /// Hands `n` consumed entries back to the kernel.
    #[inline]
    pub fn release(&mut self, n: u32) {
        // Never hand back more than a ring's worth, even if the kernel's producer is corrupt.
        let n = n.min(
            self.cached_prod
                .wrapping_sub(self.cached_cons)
                .min(self.raw.size),
        );
        self.cached_cons = self.cached_cons.wrapping_add(n);
        // Release: our reads of the entries complete before the kernel may overwrite the slots.
        self.raw
            .consumer()
            .store(self.cached_cons, Ordering::Release);
    }

    /// Entries the kernel has produced and we have not released (reloads its index).
    pub fn pending(&self) -> u32 {
        self.raw
            .producer()
            .load(Ordering::Acquire)
            .wrapping_sub(self.cached_cons)
            .min(self.raw.size)
    }

    #[inline]
    pub fn needs_wakeup(&self) -> bool {
        self.raw.flags().load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A ring laid out like the kernel's: producer, consumer, flags, then entries;
    // the test plays the kernel through the same atomic words.
    const OFF: RingOffsets = RingOffsets {
        producer: 0,
        consumer: 64,
        flags: 128,
        desc: 192,
    };

    fn raw<T: RingEntry>(size: u32) -> RawRing<T> {
        let len = 192 + size as usize * core::mem::size_of::<T>();
        RawRing::from_map(Mmap::anonymous(len).unwrap(), &OFF, size).unwrap()
    }

    #[test]
    fn layout_is_checked() {
        let m = Mmap::anonymous(4096).unwrap();
        assert_eq!(
            RawRing::<u64>::from_map(m, &OFF, 1024).err(),
            Some(libc::EPROTO)
        );
        let m = Mmap::anonymous(4096).unwrap();
        assert_eq!(
            RawRing::<u64>::from_map(m, &OFF, 12).err(),
            Some(libc::EINVAL)
        );
        let bad = RingOffsets { desc: 196, ..OFF };
        let m = Mmap::anonymous(4096).unwrap();
        assert_eq!(
            RawRing::<u64>::from_map(m, &bad, 8).err(),
            Some(libc::EPROTO)
        );
    }

    #[test]
    fn producer_respects_consumer_and_wraps() {
        let r = ProdRing::new(raw::<u64>(8));
        // Start near u32 wrap-around to exercise free-running indices.
        r.raw.producer().store(u32::MAX - 3, Ordering::Relaxed);
        r.raw.consumer().store(u32::MAX - 3, Ordering::Relaxed);
        let mut r = ProdRing::new(r.raw);
        let (start, got) = r.reserve(10);
        assert_eq!(got, 8, "never more than the ring");
        for i in 0..got {
            assert!(r.write(start.wrapping_add(i), i as u64 * 4096));
        }
        assert!(
            !r.write(start.wrapping_add(8), 0),
            "outside the reservation"
        );
        r.submit();
        assert_eq!(r.reserve(1).1, 0, "full until the kernel consumes");
        assert_eq!(r.pending(), 8);
        // Kernel consumes 3 entries (reads them in order).
        for i in 0..3u32 {
            let idx = start.wrapping_add(i) & r.raw.mask;
            // SAFETY: test plays the kernel; the slot is published and inside the array.
            let v = unsafe { core::ptr::read_volatile(r.raw.entries.add(idx as usize)) };
            assert_eq!(v, i as u64 * 4096);
        }
        r.raw
            .consumer()
            .store(start.wrapping_add(3), Ordering::Release);
        let (s2, got) = r.reserve(5);
        assert_eq!((s2, got), (start.wrapping_add(8), 3));
        r.unreserve(1);
        r.submit();
        assert_eq!(
            r.raw.producer().load(Ordering::Acquire),
            start.wrapping_add(10)
        );
    }

    #[test]
    fn consumer_reads_only_published_entries() {
        let mut r = ConsRing::new(raw::<XdpDesc>(4));
        assert_eq!(r.peek(4).1, 0);
        // Kernel produces two descriptors.
        for i in 0..2u32 {
            let d = XdpDesc {
                addr: 256 + i as u64 * 4096,
                len: 60 + i,
                options: 0,
            };
            // SAFETY: test plays the kernel writing unpublished slots.
            unsafe { core::ptr::write_volatile(r.raw.entries.add(i as usize), d) };
        }
        r.raw.producer().store(2, Ordering::Release);
        let (start, n) = r.peek(8);
        assert_eq!((start, n), (0, 2));
        assert_eq!(r.read(1).map(|d| d.len), Some(61));
        assert_eq!(r.read(2), None, "not published");
        r.release(2);
        assert_eq!(r.raw.consumer().load(Ordering::Acquire), 2);
        // A corrupt producer far ahead never makes us read more than a ring.
        r.raw.producer().store(1000, Ordering::Release);
        assert_eq!(r.peek(u32::MAX).1, 4);
        r.release(100);
        assert_eq!(r.raw.consumer().load(Ordering::Acquire), 6);
    }

    #[test]
    fn need_wakeup_flag() {
        let r = ProdRing::new(raw::<u64>(4));
        assert!(!r.needs_wakeup());
        r.raw
            .flags()
            .store(libc::XDP_RING_NEED_WAKEUP, Ordering::Release);
        assert!(r.needs_wakeup());
    }
}
