//! The UMEM: one pre-allocated, page-aligned region of fixed-size frames shared
//! with the kernel, managed by the core's [`FramePool`].
//!
//! The region is mapped once (2 MiB huge pages when reserved, normal pages with a
//! THP hint otherwise) and never grows. [`Umem`] implements [`FrameMemory`], so the
//! same move-only `Frame` handles that the offload engines use also guarantee that
//! a frame is never on two rings: a frame on a kernel ring has no handle.

use crate::pool::{FrameMemory, FramePool};

use super::sys::Mmap;
use super::Error;

/// The kernel's headroom in front of every received packet (`XDP_PACKET_HEADROOM`).
pub const XDP_PACKET_HEADROOM: u32 = 256;

/// UMEM memory: `count` frames of `frame_size` bytes in one mapping.
pub struct Umem {
    map: Mmap,
    frame_size: usize,
    count: u32,
}

/// The frame pool over a UMEM.
pub type UmemPool = FramePool<Umem>;

impl Umem {
    /// Maps a UMEM. `frame_size` must be a power of two in 2048..=4096 (aligned chunk mode).
    /// Crate-only: a UMEM is made by `setup` for the socket that registers it.
    pub(crate) fn new(count: u32, frame_size: usize) -> Result<Umem, Error> {
        if !(2048..=4096).contains(&frame_size) || !frame_size.is_power_of_two() {
            return Err(Error::Config("frame_size must be 2048 or 4096"));
        }
        if count == 0 {
            return Err(Error::Config("frames must be at least 1"));
        }
        let len = (count as usize)
            .checked_mul(frame_size)
            .ok_or(Error::Config("UMEM too large"))?;
        let map = Mmap::anonymous(len).map_err(|e| Error::os("mmap UMEM", e))?;
        Ok(Umem {
            map,
            frame_size,
            count,
        })
    }

    /// Bytes of the mapping.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// True when backed by explicit huge pages.
    pub fn is_huge(&self) -> bool {
        self.map.is_huge()
    }
    pub(crate) fn base(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// UMEM address of a frame's byte `off`.
    #[inline]
    pub fn addr(&self, idx: u32, off: u32) -> u64 {
        idx as u64 * self.frame_size as u64 + off as u64
    }

    /// Splits a descriptor from the kernel into (frame index, offset) after checking
    /// that `addr..addr+len` lies inside the UMEM and inside a single frame.
    #[inline]
    pub fn locate(&self, addr: u64, len: u32) -> Option<(u32, u32)> {
        // frame_size is a power of two (checked in `new`): shift and mask, no division.
        let fs = self.frame_size as u64;
        let idx = addr >> fs.trailing_zeros();
        let off = addr & (fs - 1);
        if idx >= self.count as u64 || off + len as u64 > fs {
            return None;
        }
        Some((idx as u32, off as u32))
    }
}

impl FrameMemory for Umem {
    fn frame_size(&self) -> usize {
        self.frame_size
    }
    fn frame_count(&self) -> u32 {
        self.count
    }
    fn frame(&self, idx: u32) -> &[u8] {
        let fs = self.frame_size;
        // Out-of-range indices cannot come from a Frame handle of this pool; an empty
        // slice keeps even a bug from touching memory outside the UMEM.
        self.map.slice(idx as usize * fs, fs).unwrap_or(&[])
    }
    fn frame_mut(&mut self, idx: u32) -> &mut [u8] {
        let fs = self.frame_size;
        self.map.slice_mut(idx as usize * fs, fs).unwrap_or(&mut [])
    }
    /// One direct copy inside the region (GSO copies every payload byte through here).
    fn copy_between(&mut self, src: u32, src_off: usize, dst: u32, dst_off: usize, len: usize) {
        let fs = self.frame_size;
        // Same contract as the provided version: a range leaving its frame panics.
        assert!(
            src < self.count && dst < self.count && src_off + len <= fs && dst_off + len <= fs,
            "copy_between: range leaves its frame"
        );
        let ok = self.map.copy(
            src as usize * fs + src_off,
            dst as usize * fs + dst_off,
            len,
        );
        debug_assert!(ok);
    }
    /// Both ranges at once from the mapping (bounds- and overlap-checked there).
    fn region_pair(&mut self, src: usize, dst: usize, len: usize) -> Option<(&[u8], &mut [u8])> {
        self.map.pair_mut(src, dst, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;

    #[test]
    fn locate_checks_umem_and_frame_bounds() {
        let u = Umem::new(4, 2048).unwrap();
        assert_eq!(u.locate(2048 + 256, 1500), Some((1, 256)));
        assert_eq!(u.locate(2048 + 256, 1793), None); // crosses into the next frame
        assert_eq!(u.locate(4 * 2048, 1), None); // past the UMEM
        assert_eq!(u.locate(u64::MAX, 0), None);
        assert_eq!(u.addr(3, 10), 3 * 2048 + 10);
    }

    #[test]
    fn copy_sum_between_frames_and_within_one() {
        let mut u = Umem::new(3, 2048).unwrap();
        for (i, b) in u.frame_mut(0).iter_mut().enumerate() {
            *b = (i * 13 + 5) as u8;
        }
        let want = checksum::fold(checksum::sum(&u.frame(0)[3..1503], 0));
        assert_eq!(checksum::fold(u.copy_sum_between(0, 3, 1, 66, 1500)), want);
        assert_eq!(u.frame(1)[66..1566].to_vec(), u.frame(0)[3..1503].to_vec());
        // Same frame, overlapping: the fallback copies like memmove.
        let before = u.frame(0)[0..500].to_vec();
        let got = u.copy_sum_between(0, 0, 0, 100, 500);
        assert_eq!(&u.frame(0)[100..600], &before[..]);
        assert_eq!(
            checksum::fold(got),
            checksum::fold(checksum::sum(&before, 0))
        );
    }

    #[test]
    fn bad_frame_sizes_are_refused() {
        assert!(Umem::new(4, 1000).is_err());
        assert!(Umem::new(4, 8192).is_err());
        assert!(Umem::new(0, 4096).is_err());
    }

    #[test]
    fn copy_between_frames_and_within_one() {
        let mut u = Umem::new(4, 2048).unwrap();
        u.frame_mut(1)[10..20].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        u.copy_between(1, 10, 3, 2040, 8);
        assert_eq!(&u.frame(3)[2040..2048], &[1, 2, 3, 4, 5, 6, 7, 8]);
        u.copy_between(1, 10, 1, 12, 10); // overlapping, same frame
        assert_eq!(&u.frame(1)[12..22], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    #[should_panic(expected = "leaves its frame")]
    fn copy_between_refuses_to_cross_a_frame() {
        let mut u = Umem::new(4, 2048).unwrap();
        u.copy_between(0, 2000, 1, 0, 100);
    }

    #[test]
    fn pool_over_umem() {
        let mut pool = FramePool::new(Umem::new(8, 4096).unwrap(), 0, true);
        let p = pool.packet_from(&[9u8; 100]).unwrap();
        assert_eq!(pool.head(&p), &[9u8; 100][..]);
        assert_eq!(pool.held_count(), 1);
        pool.release(p);
        assert_eq!(pool.free_count(), 8);
        assert_eq!(pool.held_count(), 0);
    }
}
