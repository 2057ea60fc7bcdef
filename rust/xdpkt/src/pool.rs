//! The frame pool: one pre-allocated region of fixed-size frames.
//!
//! This is the user-space equivalent of a driver's buffer pool (and the shape
//! of an AF_XDP UMEM): frames never move and are never allocated per packet.
//! A [`Frame`] is a move-only handle: it is owned by exactly one place (the
//! pool's free list, a [`Packet`]'s chain, a ring), so the same frame cannot
//! be handed out twice. Each frame carries a data window (`off`, `len`) and a
//! `next` link, so a packet's bytes may span a chain of frames (like an mbuf
//! chain or an skb's frag list) and GRO can aggregate without copying payload.
//!
//! The memory is any [`FrameMemory`]: a heap region for offline work, or the
//! mmap'd UMEM (implemented in `xsk`, the only place that may use `unsafe`).
//!
//! A heap pool may also have *borrow slots* ([`FramePool::heap_borrowing`]):
//! chain entries with no memory of their own that show a window of another
//! frame (DPDK's indirect mbufs, the kernel's page frags shared by several
//! skbs). GSO uses them to make each segment a fresh header frame plus
//! borrowed windows of the input's payload, so the payload is read once (for
//! the checksum) and never copied. A frame stays out of the free list while
//! any slot borrows from it: when its owner releases it first, it is
//! *pinned* until the last borrower is released. Borrowed bytes are
//! read-only: nothing in the crate writes through a chain entry past the
//! head, and a head is always a frame of its own.

use crate::packet::Packet;
use crate::wire::checksum;

/// Sentinel for "no next frame".
pub(crate) const NIL: u32 = u32::MAX;

/// Backing memory of a pool: `count` frames of `frame_size` bytes.
///
/// Implementations hand out a slice for one frame at a time; the pool only
/// asks for frames it owns (never for a frame that is on a kernel ring).
pub trait FrameMemory {
    fn frame_size(&self) -> usize;
    fn frame_count(&self) -> u32;
    fn frame(&self, idx: u32) -> &[u8];
    fn frame_mut(&mut self, idx: u32) -> &mut [u8];

    /// Copies `len` bytes from frame `src` at byte `src_off` to frame `dst` at
    /// byte `dst_off` (offsets within each frame's buffer; the frames may be
    /// the same). Panics if either range leaves its frame, like slice indexing.
    ///
    /// The provided version bounces through a small stack buffer because it
    /// can only borrow one frame at a time; memories that are one region
    /// override it with a single direct copy (GSO copies every payload byte
    /// through here).
    fn copy_between(&mut self, src: u32, src_off: usize, dst: u32, dst_off: usize, len: usize) {
        let mut bounce = [0u8; 512];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(bounce.len());
            bounce[..n].copy_from_slice(&self.frame(src)[src_off + done..src_off + done + n]);
            self.frame_mut(dst)[dst_off + done..dst_off + done + n].copy_from_slice(&bounce[..n]);
            done += n;
        }
    }

    /// For memories that are one region: the bytes at region offsets
    /// `src..src + len` to read and `dst..dst + len` to write, at once; `None`
    /// when the ranges overlap or leave the region, or (the provided version)
    /// when the memory cannot lend two frames at a time.
    fn region_pair(&mut self, _src: usize, _dst: usize, _len: usize) -> Option<(&[u8], &mut [u8])> {
        None
    }

    /// `copy_between`, returning the ones'-complement partial sum of the bytes
    /// copied (`checksum::sum(copied, 0)`). Where [`Self::region_pair`] lends both
    /// ranges, one fused loop reads each byte once; otherwise copy, then sum.
    fn copy_sum_between(
        &mut self,
        src: u32,
        src_off: usize,
        dst: u32,
        dst_off: usize,
        len: usize,
    ) -> u32 {
        let (fs, count) = (self.frame_size(), self.frame_count());
        // Same contract as `copy_between`: a range leaving its frame panics.
        assert!(
            src < count && dst < count && src_off + len <= fs && dst_off + len <= fs,
            "copy leaves its frame"
        );
        let (s, d) = (src as usize * fs + src_off, dst as usize * fs + dst_off);
        if let Some((from, to)) = self.region_pair(s, d, len) {
            return checksum::copy_sum(to, from);
        }
        self.copy_between(src, src_off, dst, dst_off, len);
        checksum::sum(&self.frame(dst)[dst_off..dst_off + len], 0)
    }
}

/// Heap-backed frame memory for offline use (pcap tools, tests, benchmarks).
pub struct HeapMemory {
    bytes: Box<[u8]>,
    frame_size: usize,
    count: u32,
}

impl HeapMemory {
    pub fn new(count: u32, frame_size: usize) -> Self {
        HeapMemory {
            bytes: vec![0u8; count as usize * frame_size].into_boxed_slice(),
            frame_size,
            count,
        }
    }
}

impl FrameMemory for HeapMemory {
    fn frame_size(&self) -> usize {
        self.frame_size
    }
    fn frame_count(&self) -> u32 {
        self.count
    }
    #[inline]
    fn frame(&self, idx: u32) -> &[u8] {
        let s = idx as usize * self.frame_size;
        &self.bytes[s..s + self.frame_size]
    }
    #[inline]
    fn frame_mut(&mut self, idx: u32) -> &mut [u8] {
        let s = idx as usize * self.frame_size;
        &mut self.bytes[s..s + self.frame_size]
    }
    fn copy_between(&mut self, src: u32, src_off: usize, dst: u32, dst_off: usize, len: usize) {
        let fs = self.frame_size;
        assert!(
            src < self.count && dst < self.count,
            "frame index out of range"
        );
        assert!(
            src_off + len <= fs && dst_off + len <= fs,
            "copy leaves its frame"
        );
        let s = src as usize * fs + src_off;
        self.bytes
            .copy_within(s..s + len, dst as usize * fs + dst_off);
    }
    fn region_pair(&mut self, src: usize, dst: usize, len: usize) -> Option<(&[u8], &mut [u8])> {
        split_ranges(&mut self.bytes, src, dst, len)
    }
}

/// Disjoint views of `region[src..src + len]` and `region[dst..dst + len]`;
/// `None` when the ranges overlap or leave the region.
pub(crate) fn split_ranges(
    region: &mut [u8],
    src: usize,
    dst: usize,
    len: usize,
) -> Option<(&[u8], &mut [u8])> {
    let (s_end, d_end) = (src.checked_add(len)?, dst.checked_add(len)?);
    if s_end > region.len() || d_end > region.len() {
        return None;
    }
    if s_end <= dst {
        let (a, b) = region.split_at_mut(dst);
        Some((&a[src..s_end], &mut b[..len]))
    } else if d_end <= src {
        let (a, b) = region.split_at_mut(src);
        Some((&b[..len], &mut a[dst..d_end]))
    } else {
        None
    }
}

/// A move-only handle to one frame of a pool.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame(u32);

impl Frame {
    /// The frame's index in its pool.
    pub fn index(&self) -> u32 {
        self.0
    }
    /// Re-creates a handle from an index that the caller knows it owns
    /// (a descriptor consumed from a kernel ring, after bounds checks).
    #[allow(dead_code)] // used by the AF_XDP datapath (xsk)
    pub(crate) fn from_index(idx: u32) -> Frame {
        Frame(idx)
    }
    /// Gives up the handle without returning the frame to the pool (it moves
    /// to a place that tracks frames by index, such as a kernel ring).
    pub(crate) fn into_index(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    off: u32,
    len: u32,
    next: u32,
}

/// Pool errors (hot path: `Copy`, no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// No free frame.
    Exhausted,
    /// A data window outside the frame.
    OutOfFrame {
        off: usize,
        len: usize,
        frame_size: usize,
    },
}

impl core::fmt::Display for PoolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            PoolError::Exhausted => f.write_str("frame pool exhausted"),
            PoolError::OutOfFrame {
                off,
                len,
                frame_size,
            } => {
                write!(
                    f,
                    "data window {off}+{len} does not fit a {frame_size}-byte frame"
                )
            }
        }
    }
}

impl std::error::Error for PoolError {}

/// A pool of fixed-size frames over a [`FrameMemory`].
pub struct FramePool<M: FrameMemory = HeapMemory> {
    mem: M,
    /// One entry per frame, then one per borrow slot (indices `frames..`).
    meta: Box<[Meta]>,
    free: Vec<u32>,
    headroom: u32,
    /// Frames handed out (by `alloc`/`adopt`) and not yet returned or surrendered:
    /// lets the AF_XDP datapath account for every frame of a UMEM.
    held: u32,
    /// `frame_count()`, cached: the first borrow-slot index.
    frames: u32,
    /// Per borrow slot: the frame whose bytes it shows.
    target: Box<[u32]>,
    /// Free borrow slots (indices `frames..`).
    free_slots: Vec<u32>,
    /// Per frame: how many borrow slots show it.
    refs: Box<[u32]>,
    /// Per frame: released by its owner while borrowed; freed by the last borrower.
    pinned: Box<[bool]>,
    /// Frames that are pinned.
    npinned: u32,
}

impl FramePool<HeapMemory> {
    /// A heap pool of `count` frames of `frame_size` bytes, all free.
    pub fn heap(count: u32, frame_size: usize) -> Self {
        FramePool::new(HeapMemory::new(count, frame_size), 0, true)
    }

    /// A heap pool of `count` free frames of `frame_size` bytes and `slots`
    /// borrow slots (see the module documentation): GSO then borrows the
    /// input's payload instead of copying it whenever enough slots are free.
    ///
    /// Only heap pools have slots. A UMEM pool's frames go onto kernel rings,
    /// where a TX descriptor addresses one whole frame and a completion returns
    /// frames, not windows of them.
    pub fn heap_borrowing(count: u32, frame_size: usize, slots: u32) -> Self {
        FramePool::new(HeapMemory::new(count, frame_size), 0, true).add_borrow_slots(slots)
    }

    /// [`Self::heap_borrowing`] over given memory with `headroom` bytes kept
    /// free at the start of each frame.
    pub fn with_borrow_slots(mem: HeapMemory, headroom: u32, slots: u32) -> Self {
        FramePool::new(mem, headroom, true).add_borrow_slots(slots)
    }
}

impl<M: FrameMemory> FramePool<M> {
    /// Wraps memory. With `all_free`, every frame starts on the free list;
    /// otherwise the free list is empty and frames enter through `adopt` (crate-only: the AF_XDP datapath).
    /// `headroom` bytes at the start of each frame are left free for header pushes.
    pub fn new(mem: M, headroom: u32, all_free: bool) -> Self {
        let n = mem.frame_count();
        let meta = vec![
            Meta {
                off: headroom,
                len: 0,
                next: NIL
            };
            n as usize
        ]
        .into_boxed_slice();
        let mut free = Vec::with_capacity(n as usize);
        if all_free {
            // Pop order = ascending indices (nice for debugging and cache locality).
            free.extend((0..n).rev());
        }
        FramePool {
            mem,
            meta,
            free,
            headroom,
            held: 0,
            frames: n,
            target: Box::new([]),
            free_slots: Vec::new(),
            refs: Box::new([]),
            pinned: Box::new([]),
            npinned: 0,
        }
    }

    /// Gives a fresh pool (from a constructor, nothing handed out yet) `slots`
    /// borrow slots. Slot indices follow the frame indices below the chain
    /// sentinel, so at most `u32::MAX - 1 - frame_count` are given.
    fn add_borrow_slots(mut self, slots: u32) -> Self {
        let n = self.frames;
        let slots = slots.min(NIL.saturating_sub(1).saturating_sub(n));
        let mut meta = std::mem::take(&mut self.meta).into_vec();
        meta.resize(
            (n + slots) as usize,
            Meta {
                off: 0,
                len: 0,
                next: NIL,
            },
        );
        self.meta = meta.into_boxed_slice();
        self.target = vec![NIL; slots as usize].into_boxed_slice();
        self.free_slots = (n..n + slots).rev().collect();
        self.refs = vec![0; n as usize].into_boxed_slice();
        self.pinned = vec![false; n as usize].into_boxed_slice();
        self
    }

    pub fn frame_size(&self) -> usize {
        self.mem.frame_size()
    }
    pub fn frame_count(&self) -> u32 {
        self.mem.frame_count()
    }
    pub fn headroom(&self) -> u32 {
        self.headroom
    }
    /// Bytes of data a fresh frame can hold (frame size minus headroom).
    pub fn frame_capacity(&self) -> usize {
        self.mem.frame_size() - self.headroom as usize
    }
    /// Frames on the free list.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }
    /// Frames held by user code (in packets or loose handles), neither free nor surrendered.
    pub fn held_count(&self) -> u32 {
        self.held
    }
    /// Frames their owner has released that stay out of the free list while
    /// borrow slots still show them. `free + held + pinned` is every frame the
    /// pool has not surrendered.
    pub fn pinned_count(&self) -> u32 {
        self.npinned
    }
    /// Borrow slots the pool was given ([`FramePool::heap_borrowing`]).
    pub fn borrow_capacity(&self) -> usize {
        self.target.len()
    }
    /// Borrow slots not in use.
    pub fn free_borrow_slots(&self) -> usize {
        self.free_slots.len()
    }
    /// True when `idx` (a chain entry) is a borrow slot rather than a frame.
    #[inline]
    pub(crate) fn is_borrowed(&self, idx: u32) -> bool {
        idx >= self.frames
    }
    /// The frame whose memory chain entry `idx` shows: itself, or a borrow
    /// slot's target. Window offsets of either are offsets in that frame.
    #[inline]
    pub(crate) fn backing(&self, idx: u32) -> u32 {
        if idx < self.frames {
            idx
        } else {
            self.target[(idx - self.frames) as usize]
        }
    }

    /// Appends to `pkt` a chain entry showing `len` bytes at `off` of the
    /// memory behind chain entry `of` (a frame, or another borrow slot:
    /// borrowing a borrow borrows its frame) and returns those bytes. `None`,
    /// with `pkt` unchanged, when no slot is free or the window leaves the frame.
    #[inline]
    pub(crate) fn borrow_onto(
        &mut self,
        pkt: &mut Packet,
        of: u32,
        off: u32,
        len: u32,
    ) -> Option<&[u8]> {
        let t = self.backing(of);
        if t >= self.frames || off as usize + len as usize > self.mem.frame_size() {
            return None;
        }
        let slot = self.free_slots.pop()?;
        self.target[(slot - self.frames) as usize] = t;
        self.refs[t as usize] += 1;
        self.meta[slot as usize] = Meta {
            off,
            len,
            next: NIL,
        };
        self.meta[pkt.tail as usize].next = slot;
        pkt.tail = slot;
        pkt.len += len;
        pkt.nframes += 1;
        Some(&self.mem.frame(t)[off as usize..(off + len) as usize])
    }

    /// Returns one chain entry: a frame to the free list (or pins it while it
    /// is borrowed), a borrow slot to the slot list (freeing its frame if that
    /// was pinned and this was the last borrower).
    #[inline]
    fn put_back(&mut self, idx: u32) {
        self.meta[idx as usize].next = NIL;
        if idx < self.frames {
            self.held = self.held.saturating_sub(1);
            if self.refs.get(idx as usize).is_some_and(|&r| r > 0) {
                self.pinned[idx as usize] = true;
                self.npinned += 1;
            } else {
                self.free.push(idx);
            }
        } else {
            let slot = (idx - self.frames) as usize;
            let t = std::mem::replace(&mut self.target[slot], NIL) as usize;
            self.free_slots.push(idx);
            let left = self.refs[t] - 1;
            self.refs[t] = left;
            if left == 0 && self.pinned[t] {
                self.pinned[t] = false;
                self.npinned -= 1;
                self.free.push(t as u32);
            }
        }
    }
    /// Gives up a frame handle to a place that tracks frames by index (a kernel ring).
    pub(crate) fn surrender(&mut self, f: Frame) -> u32 {
        self.held = self.held.saturating_sub(1);
        f.into_index()
    }
    /// The backing memory, every frame of it (a UMEM's include frames the kernel
    /// owns): crate-only, so code outside reaches bytes through handles alone.
    pub(crate) fn memory(&self) -> &M {
        &self.mem
    }
    pub(crate) fn memory_mut(&mut self) -> &mut M {
        &mut self.mem
    }

    /// Takes a free frame, data window empty at the headroom.
    #[inline]
    pub fn alloc(&mut self) -> Option<Frame> {
        let idx = self.free.pop()?;
        self.meta[idx as usize] = Meta {
            off: self.headroom,
            len: 0,
            next: NIL,
        };
        self.held += 1;
        Some(Frame(idx))
    }

    /// Takes a free frame with its data window set to `off..off + len`.
    #[inline]
    pub fn alloc_window(&mut self, off: u32, len: u32) -> Result<Frame, PoolError> {
        self.check_window(off, len)?;
        let idx = self.free.pop().ok_or(PoolError::Exhausted)?;
        Ok(self.claim(idx, off, len))
    }

    /// `OutOfFrame` unless `off..off + len` lies inside a frame.
    #[inline]
    fn check_window(&self, off: u32, len: u32) -> Result<(), PoolError> {
        let fs = self.mem.frame_size();
        if off as usize + len as usize > fs {
            return Err(PoolError::OutOfFrame {
                off: off as usize,
                len: len as usize,
                frame_size: fs,
            });
        }
        Ok(())
    }

    /// Hands out frame `idx` (taken off the free list or a ring) with a fresh window.
    #[inline]
    fn claim(&mut self, idx: u32, off: u32, len: u32) -> Frame {
        self.meta[idx as usize] = Meta {
            off,
            len,
            next: NIL,
        };
        self.held += 1;
        Frame(idx)
    }

    /// Returns one frame (and only that frame, not its chain) to the free list
    /// (once nothing borrows from it).
    #[inline]
    pub fn free(&mut self, f: Frame) {
        self.put_back(f.0);
    }

    /// Takes ownership of a frame that arrives from outside the free list
    /// (a descriptor consumed from a kernel ring). The caller has bounds-checked
    /// `idx`, `off` and `len` and knows the frame has no other handle: crate-only,
    /// so safe code outside cannot mint a second handle to a frame.
    pub(crate) fn adopt(&mut self, idx: u32, off: u32, len: u32) -> Result<Frame, PoolError> {
        if idx >= self.frames {
            return Err(PoolError::OutOfFrame {
                off: off as usize,
                len: len as usize,
                frame_size: self.mem.frame_size(),
            });
        }
        self.check_window(off, len)?;
        Ok(self.claim(idx, off, len))
    }

    /// The data window of a frame.
    #[inline]
    pub fn data(&self, f: &Frame) -> &[u8] {
        self.data_at(f.0)
    }

    #[inline]
    fn data_at(&self, idx: u32) -> &[u8] {
        let m = self.meta[idx as usize];
        &self.mem.frame(self.backing(idx))[m.off as usize..(m.off + m.len) as usize]
    }

    /// The data window of a frame, writable.
    #[inline]
    pub fn data_mut(&mut self, f: &Frame) -> &mut [u8] {
        let m = self.meta[f.0 as usize];
        &mut self.mem.frame_mut(f.0)[m.off as usize..(m.off + m.len) as usize]
    }

    /// The whole frame buffer (headroom included), writable.
    #[inline]
    pub fn frame_mut(&mut self, f: &Frame) -> &mut [u8] {
        self.mem.frame_mut(f.0)
    }

    /// (offset, length) of a frame's data window.
    #[inline]
    pub fn window(&self, f: &Frame) -> (u32, u32) {
        let m = self.meta[f.0 as usize];
        (m.off, m.len)
    }

    /// Sets a frame's data window.
    #[inline]
    pub fn set_window(&mut self, f: &Frame, off: u32, len: u32) -> Result<(), PoolError> {
        self.check_window(off, len)?;
        let m = &mut self.meta[f.0 as usize];
        m.off = off;
        m.len = len;
        Ok(())
    }

    /// Copies `bytes` into a new packet, chaining frames when it does not fit one.
    /// On exhaustion nothing is kept and the frames taken are returned.
    #[inline(always)]
    pub fn packet_from(&mut self, bytes: &[u8]) -> Result<Packet, PoolError> {
        // The common case, one frame, inlined into the caller's refill loop so
        // the packet is built in place rather than returned through memory.
        if bytes.len() <= self.frame_capacity() {
            let f = self.alloc().ok_or(PoolError::Exhausted)?;
            self.write_frame(&f, bytes);
            return Ok(Packet::from_frame(f, bytes.len() as u32));
        }
        self.packet_from_chain(bytes)
    }

    #[inline(never)]
    fn packet_from_chain(&mut self, bytes: &[u8]) -> Result<Packet, PoolError> {
        let cap = self.frame_capacity();
        let first = self.alloc().ok_or(PoolError::Exhausted)?;
        let n = bytes.len().min(cap);
        self.write_frame(&first, &bytes[..n]);
        let mut pkt = Packet::from_frame(first, n as u32);
        let mut rest = &bytes[n..];
        while !rest.is_empty() {
            let Some(f) = self.alloc() else {
                self.release(pkt);
                return Err(PoolError::Exhausted);
            };
            let n = rest.len().min(cap);
            self.write_frame(&f, &rest[..n]);
            self.append(&mut pkt, f);
            rest = &rest[n..];
        }
        Ok(pkt)
    }

    #[inline]
    fn write_frame(&mut self, f: &Frame, bytes: &[u8]) {
        let off = self.headroom as usize;
        self.mem.frame_mut(f.0)[off..off + bytes.len()].copy_from_slice(bytes);
        let m = &mut self.meta[f.0 as usize];
        m.off = self.headroom;
        m.len = bytes.len() as u32;
    }

    /// Links `f` (with its current data window) at the end of `pkt`'s chain.
    #[inline]
    pub fn append(&mut self, pkt: &mut Packet, f: Frame) {
        let len = self.meta[f.0 as usize].len;
        let idx = f.0;
        self.meta[idx as usize].next = NIL;
        self.meta[pkt.tail as usize].next = idx;
        pkt.tail = idx;
        pkt.len += len;
        pkt.nframes += 1;
    }

    /// Appends another packet's whole chain to `pkt` (GRO merge without copy).
    pub fn append_packet(&mut self, pkt: &mut Packet, other: Packet) {
        let (head, tail, len, nframes) = other.into_chain();
        self.meta[pkt.tail as usize].next = head;
        pkt.tail = tail;
        pkt.len += len;
        pkt.nframes += nframes;
    }

    /// Returns every frame of a packet to the free list (a frame something
    /// still borrows from goes there when its last borrower is released).
    pub fn release(&mut self, pkt: Packet) {
        let (mut idx, _, _, _) = pkt.into_chain();
        while idx != NIL {
            let next = self.meta[idx as usize].next;
            self.put_back(idx);
            idx = next;
        }
    }

    /// The packet's head frame data (where its headers are).
    #[inline]
    pub fn head(&self, pkt: &Packet) -> &[u8] {
        self.data_at(pkt.head.0)
    }

    /// The packet's head frame data, writable.
    #[inline]
    pub fn head_mut(&mut self, pkt: &Packet) -> &mut [u8] {
        self.data_mut(&pkt.head)
    }

    /// Moves the start of a packet's head window by `n` bytes (pull headers off).
    pub fn pull_head(&mut self, pkt: &mut Packet, n: u32) -> Result<(), PoolError> {
        let m = self.meta[pkt.head.0 as usize];
        if n > m.len {
            return Err(PoolError::OutOfFrame {
                off: (m.off + n) as usize,
                len: 0,
                frame_size: self.frame_size(),
            });
        }
        let m = &mut self.meta[pkt.head.0 as usize];
        m.off += n;
        m.len -= n;
        pkt.len -= n;
        Ok(())
    }

    /// Shortens a packet to `len` bytes (drops link padding), releasing frames past it.
    pub fn trim(&mut self, pkt: &mut Packet, len: u32) {
        if len >= pkt.len {
            return;
        }
        let mut idx = pkt.head.0;
        let mut left = len;
        let mut nframes = 1u32;
        loop {
            let m = self.meta[idx as usize];
            if left <= m.len || m.next == NIL {
                self.meta[idx as usize].len = left.min(m.len);
                let mut drop = m.next;
                self.meta[idx as usize].next = NIL;
                while drop != NIL {
                    let nx = self.meta[drop as usize].next;
                    self.put_back(drop);
                    drop = nx;
                }
                break;
            }
            left -= m.len;
            idx = m.next;
            nframes += 1;
        }
        pkt.tail = idx;
        pkt.len = len;
        pkt.nframes = nframes;
    }

    /// The data pieces of a packet, in order.
    pub fn pieces<'a>(&'a self, pkt: &Packet) -> Pieces<'a, M> {
        Pieces {
            pool: self,
            idx: pkt.head.0,
        }
    }

    /// Copies a packet's bytes into `out` (which is cleared first).
    pub fn copy_out(&self, pkt: &Packet, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(pkt.len as usize);
        for p in self.pieces(pkt) {
            out.extend_from_slice(p);
        }
    }

    /// Copies a packet's bytes into a slice of at least `pkt.len()` bytes; returns the length.
    pub fn copy_into(&self, pkt: &Packet, out: &mut [u8]) -> usize {
        let mut at = 0;
        for p in self.pieces(pkt) {
            out[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        at
    }

    /// (offset, length) of the data window of the frame with index `idx`.
    #[inline]
    pub(crate) fn window_at(&self, idx: u32) -> (u32, u32) {
        let m = self.meta[idx as usize];
        (m.off, m.len)
    }

    /// Frame index of the head (for descriptors).
    pub(crate) fn next_of(&self, idx: u32) -> u32 {
        self.meta[idx as usize].next
    }
}

/// Iterator over the data pieces of a packet's chain.
pub struct Pieces<'a, M: FrameMemory> {
    pool: &'a FramePool<M>,
    idx: u32,
}

impl<'a, M: FrameMemory> Iterator for Pieces<'a, M> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.idx == NIL {
            return None;
        }
        let d = self.pool.data_at(self.idx);
        self.idx = self.pool.next_of(self.idx);
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_from_chains_and_copies_back() {
        let mut pool = FramePool::heap(8, 64);
        let bytes: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        let pkt = pool.packet_from(&bytes).unwrap();
        assert_eq!(pkt.len(), 200);
        assert_eq!(pkt.nframes(), 4);
        assert_eq!(pool.free_count(), 4);
        let mut out = Vec::new();
        pool.copy_out(&pkt, &mut out);
        assert_eq!(out, bytes);
        pool.release(pkt);
        assert_eq!(pool.free_count(), 8);
    }

    #[test]
    fn exhaustion_returns_frames() {
        let mut pool = FramePool::heap(2, 64);
        assert_eq!(
            pool.packet_from(&[0u8; 200]).unwrap_err(),
            PoolError::Exhausted
        );
        assert_eq!(pool.free_count(), 2);
    }

    #[test]
    fn append_pull_trim() {
        let mut pool = FramePool::heap(8, 64);
        let mut a = pool.packet_from(&[1u8; 50]).unwrap();
        let mut b = pool.packet_from(&[2u8; 60]).unwrap();
        pool.pull_head(&mut b, 10).unwrap();
        pool.append_packet(&mut a, b);
        assert_eq!(a.len(), 100);
        assert_eq!(a.nframes(), 2);
        pool.trim(&mut a, 70);
        assert_eq!(a.len(), 70);
        let mut out = Vec::new();
        pool.copy_out(&a, &mut out);
        assert_eq!(&out[..50], &[1u8; 50][..]);
        assert_eq!(&out[50..], &[2u8; 20][..]);
        pool.trim(&mut a, 20);
        assert_eq!(a.nframes(), 1);
        assert_eq!(pool.free_count(), 7);
        pool.release(a);
        assert_eq!(pool.free_count(), 8);
    }

    #[test]
    fn copy_between_frames() {
        let mut heap = HeapMemory::new(3, 16);
        heap.frame_mut(0).copy_from_slice(&[7u8; 16]);
        heap.copy_between(0, 2, 2, 5, 10);
        assert_eq!(&heap.frame(2)[5..15], &[7u8; 10]);
        assert_eq!(heap.frame(2)[4], 0);
        assert_eq!(heap.frame(2)[15], 0);
        assert_eq!(heap.frame(1), &[0u8; 16]);
        // The provided (bounce) version agrees with the direct one.
        struct OneByOne(HeapMemory);
        impl FrameMemory for OneByOne {
            fn frame_size(&self) -> usize {
                self.0.frame_size()
            }
            fn frame_count(&self) -> u32 {
                self.0.frame_count()
            }
            fn frame(&self, idx: u32) -> &[u8] {
                self.0.frame(idx)
            }
            fn frame_mut(&mut self, idx: u32) -> &mut [u8] {
                self.0.frame_mut(idx)
            }
        }
        let mut m = OneByOne(HeapMemory::new(2, 2048));
        for (i, b) in m.frame_mut(0).iter_mut().enumerate() {
            *b = i as u8;
        }
        m.copy_between(0, 3, 1, 1, 1500);
        assert_eq!(&m.frame(1)[1..1501], &m.frame(0)[3..1503]);
    }

    #[test]
    fn copy_sum_between_fused_and_provided_agree() {
        let mut heap = HeapMemory::new(3, 2048);
        for (i, b) in heap.frame_mut(0).iter_mut().enumerate() {
            *b = (i * 31 + 7) as u8;
        }
        for (src_off, dst_off, len) in [(0, 0, 0), (3, 1, 1500), (64, 128, 1448), (1, 0, 2047)] {
            let want = checksum::sum(&heap.frame(0)[src_off..src_off + len], 0);
            let got = heap.copy_sum_between(0, src_off, 2, dst_off, len);
            assert_eq!(
                checksum::fold(got),
                checksum::fold(want),
                "{src_off} {dst_off} {len}"
            );
            assert_eq!(
                &heap.frame(2)[dst_off..dst_off + len],
                &heap.frame(0)[src_off..src_off + len]
            );
        }
        // Overlapping ranges inside one frame: copied like `copy_within`, then summed.
        let before = heap.frame(0)[10..1010].to_vec();
        let got = heap.copy_sum_between(0, 10, 0, 20, 1000);
        assert_eq!(&heap.frame(0)[20..1020], &before[..]);
        assert_eq!(
            checksum::fold(got),
            checksum::fold(checksum::sum(&before, 0))
        );
        assert_eq!(split_ranges(&mut [0u8; 8], 0, 4, 5), None);
        assert_eq!(split_ranges(&mut [0u8; 8], 4, 0, 5), None);
        assert_eq!(
            split_ranges(&mut [0u8; 8], 0, 4, 4).map(|(a, b)| (a.len(), b.len())),
            Some((4, 4))
        );
        assert_eq!(split_ranges(&mut [0u8; 8], usize::MAX, 0, 2), None);
        // A range crossing into the next frame is refused, not copied.
        let crossed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            heap.copy_sum_between(0, 0, 1, 1, 2048)
        }));
        assert!(crossed.is_err());
    }

    #[test]
    fn borrowed_frames_are_pinned_until_the_last_borrower_goes() {
        let mut pool = FramePool::heap_borrowing(4, 64, 3);
        assert_eq!((pool.borrow_capacity(), pool.free_borrow_slots()), (3, 3));
        let bytes: Vec<u8> = (0..100u8).collect();
        let src = pool.packet_from(&bytes).unwrap(); // frames 0 (64 B) and 1 (36 B)
        let (first, second) = (src.head_frame().index(), src.tail);
        // A packet of a fresh head frame plus windows of both source frames.
        let mut a = pool.packet_from(&[0xaa; 4]).unwrap();
        assert_eq!(pool.borrow_onto(&mut a, first, 60, 4), Some(&bytes[60..64]));
        assert!(pool.borrow_onto(&mut a, second, 0, 10).is_some());
        // Borrowing a borrow shows the same frame.
        let mut b = pool.packet_from(&[0xbb]).unwrap();
        let borrowed = a.tail;
        assert!(pool.is_borrowed(borrowed));
        assert_eq!(
            pool.borrow_onto(&mut b, borrowed, 5, 5),
            Some(&bytes[69..74])
        );
        assert!(
            pool.borrow_onto(&mut b, second, 0, 1).is_none(),
            "no slot left"
        );
        assert_eq!((b.len(), b.nframes()), (6, 2), "unchanged on failure");
        let mut out = Vec::new();
        pool.copy_out(&a, &mut out);
        assert_eq!(out, [&[0xaa; 4][..], &bytes[60..74]].concat());
        pool.copy_out(&b, &mut out);
        assert_eq!(out, [&[0xbb][..], &bytes[69..74]].concat());
        // The source goes first: both its frames stay out of the free list.
        pool.release(src);
        assert_eq!(
            (pool.free_count(), pool.pinned_count(), pool.held_count()),
            (0, 2, 2)
        );
        pool.copy_out(&a, &mut out);
        assert_eq!(&out[4..], &bytes[60..74], "pinned bytes unchanged");
        // Trimming `a` to its head drops both of its borrowers: frame 0 comes back.
        pool.trim(&mut a, 4);
        assert_eq!((pool.free_count(), pool.pinned_count()), (1, 1));
        assert_eq!(pool.free_borrow_slots(), 2);
        // Frame 1 comes back with its last borrower.
        pool.release(b);
        assert_eq!(
            (pool.free_count(), pool.pinned_count(), pool.held_count()),
            (3, 0, 1)
        );
        pool.release(a);
        assert_eq!((pool.free_count(), pool.free_borrow_slots()), (4, 3));
        // Windows outside the frame, and a pool without slots, borrow nothing.
        let mut c = pool.packet_from(&[1]).unwrap();
        let f = c.head_frame().index();
        assert!(pool.borrow_onto(&mut c, f, 60, 5).is_none());
        assert_eq!(pool.free_borrow_slots(), 3);
        pool.release(c);
        let mut plain = FramePool::heap(2, 64);
        let mut d = plain.packet_from(&[1]).unwrap();
        let g = d.head_frame().index();
        assert!(plain.borrow_onto(&mut d, g, 0, 1).is_none());
        plain.release(d);
        assert_eq!(plain.free_count(), 2);
    }

    #[test]
    fn adopt_checks_bounds() {
        let mut pool = FramePool::new(HeapMemory::new(4, 64), 0, false);
        assert!(pool.adopt(4, 0, 1).is_err());
        assert!(pool.adopt(0, 60, 5).is_err());
        let f = pool.adopt(1, 8, 56).unwrap();
        assert_eq!(pool.window(&f), (8, 56));
        pool.free(f);
        assert_eq!(pool.free_count(), 1);
    }
}
