//! `Packet`: a head frame, an optional chain of further frames, and offload metadata.
//!
//! The kernel's vocabulary: `gso_size` is the L4 payload per segment an
//! aggregate was built from (or should be cut into), `gso_segs` how many.
//! A packet never touches its bytes itself; they are reached through the
//! [`FramePool`](crate::pool::FramePool) that owns the frames.

use crate::pool::{Frame, NIL};

/// What kind of segmentation offload applies to a packet (skb `gso_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GsoType {
    #[default]
    None,
    TcpV4,
    TcpV6,
    /// UDP segmentation (USO / UDP GRO fraglist-less aggregates).
    UdpL4,
}

/// Checksum state (skb `ip_summed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsumState {
    /// Not checked.
    #[default]
    None,
    /// L3 and L4 checksums were verified or written and are valid.
    Unnecessary,
    /// The L4 checksum field holds only the pseudo-header sum (as a TSO sender
    /// leaves it); `start` is the L4 offset, `offset` the field offset within it.
    Partial { start: u16, offset: u16 },
}

/// A packet: frames from a pool plus offload metadata. Move-only.
#[derive(Debug)]
pub struct Packet {
    pub(crate) head: Frame,
    pub(crate) tail: u32,
    pub(crate) len: u32,
    pub(crate) nframes: u32,
    pub gso_size: u16,
    pub gso_segs: u16,
    pub gso_type: GsoType,
    /// The segments of this aggregate all carried the first one's IPv4 ID
    /// (the kernel's `SKB_GSO_TCP_FIXEDID`, set by GRO): re-segmenting must
    /// keep the ID fixed instead of incrementing it.
    pub gso_fixed_id: bool,
    pub csum: CsumState,
}

impl Packet {
    /// A one-frame packet whose frame window already holds `len` bytes.
    pub fn from_frame(head: Frame, len: u32) -> Packet {
        let tail = head.index();
        Packet {
            head,
            tail,
            len,
            nframes: 1,
            gso_size: 0,
            gso_segs: 0,
            gso_type: GsoType::None,
            gso_fixed_id: false,
            csum: CsumState::None,
        }
    }

    /// Total bytes across the chain.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Frames in the chain.
    #[inline]
    pub fn nframes(&self) -> u32 {
        self.nframes
    }
    /// The head frame handle.
    #[inline]
    pub fn head_frame(&self) -> &Frame {
        &self.head
    }
    /// True when all bytes are in the head frame.
    #[inline]
    pub fn is_linear(&self) -> bool {
        self.nframes == 1
    }
    /// Resets the offload metadata.
    pub fn clear_offload(&mut self) {
        self.gso_size = 0;
        self.gso_segs = 0;
        self.gso_type = GsoType::None;
        self.gso_fixed_id = false;
    }

    /// Dismantles the packet into (head index, tail index, len, nframes).
    pub(crate) fn into_chain(self) -> (u32, u32, u32, u32) {
        let tail = if self.tail == NIL {
            self.head.index()
        } else {
            self.tail
        };
        (self.head.into_index(), tail, self.len, self.nframes)
    }
}
