//! The GRO flow table: the packets held between polls, one per flow.
//!
//! The kernel keeps 8 hash buckets × `MAX_GRO_SKBS` (8) held skbs per NAPI
//! instance, bucketed by the RX hash. We have no NIC hash, so the table is one
//! bounded set of `max_flows` slots with the same policy the kernel applies per
//! bucket: when it is full, the oldest held packet is flushed to make room.
//! Slots and the age order are allocated once; nothing here allocates later.

use crate::packet::Packet;
use crate::pool::{FrameMemory, FramePool};
use crate::wire::{ipv6, Layout, L3, L4};

/// Cheap flow summary used to skip most full comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    /// Source and destination port, as one word.
    pub ports: u32,
    /// A fold of the addresses and the L3/L4 kinds.
    pub addrs: u32,
}

impl Key {
    /// The key of a dissected frame (`frame` is the head window).
    pub fn of(frame: &[u8], lay: &Layout) -> Key {
        let ports = word(frame, lay.l4_off);
        let (from, to) = match lay.l3 {
            L3::V4 => (lay.l3_off + 12, lay.l3_off + 20),
            L3::V6 => (lay.l3_off + 8, lay.l3_off + ipv6::HEADER_LEN),
        };
        let mut addrs = (lay.l3 == L3::V6) as u32 | (((lay.l4 == L4::Udp) as u32) << 1);
        let mut at = from;
        while at + 4 <= to {
            addrs = addrs.rotate_left(5) ^ word(frame, at);
            at += 4;
        }
        Key { ports, addrs }
    }
}

fn word(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(w) => u32::from_be_bytes([w[0], w[1], w[2], w[3]]),
        None => 0,
    }
}

/// The kernel's "same flow" test (`gro_list_prepare` + `inet_gro_receive` /
/// `ipv6_gro_receive` + `tcp_gro_lookup` / `udp_gro_receive_segment`):
/// identical L2 header (VLAN tags included), addresses, protocol, ports; for
/// IPv6 also version + flow label and identical extension-header bytes.
/// TTL, TOS and IP ID are *not* part of the flow: they decide merge vs flush.
pub(crate) fn same_flow(a: &[u8], la: &Layout, b: &[u8], lb: &Layout) -> bool {
    if la.l3 != lb.l3 || la.l4 != lb.l4 || la.l3_off != lb.l3_off || la.l3_len != lb.l3_len {
        return false;
    }
    let l3 = la.l3_off;
    // Same L2 header, incl. VLAN tags and EtherType.
    if a.get(..l3) != b.get(..l3) {
        return false;
    }
    let same_l3 = match la.l3 {
        // protocol (byte 9) is implied by l4 equality; addresses at 12..20.
        L3::V4 => {
            a.get(l3 + 9) == b.get(l3 + 9) && a.get(l3 + 12..l3 + 20) == b.get(l3 + 12..l3 + 20)
        }
        L3::V6 => {
            // Version + flow label (not the traffic class: that one flushes).
            let fa = word(a, l3) & 0xf00f_ffff;
            let fb = word(b, l3) & 0xf00f_ffff;
            fa == fb
                && a.get(l3 + 6) == b.get(l3 + 6)
                && a.get(l3 + 8..l3 + la.l3_len) == b.get(l3 + 8..l3 + lb.l3_len)
        }
    };
    same_l3 && a.get(la.l4_off..la.l4_off + 4) == b.get(lb.l4_off..lb.l4_off + 4)
}

/// One held packet (an aggregate in the making) and what GRO knows about it.
#[derive(Debug)]
pub(crate) struct Held {
    pub pkt: Packet,
    /// Layout of the head frame (the first segment's headers).
    pub lay: Layout,
    pub key: Key,
    /// Payload size of the first segment: the aggregate's gso_size.
    pub gso_size: u32,
    /// Segments in the aggregate (NAPI_GRO_CB(p)->count).
    pub count: u32,
    /// L4 payload bytes in the aggregate.
    pub payload: u32,
    /// Ones'-complement sum of the aggregate's payload, aligned to its start.
    pub psum: u32,
    /// IPv4 ID mode decided at the second segment: fixed (true) or incrementing.
    pub fixed_id: bool,
    /// Caller clock when the first segment arrived.
    pub first_ns: u64,
}

/// Bounded table of held packets, with their age order.
#[derive(Debug)]
pub(crate) struct FlowTable {
    slots: Vec<Option<Held>>,
    /// Occupied slot indices, oldest first.
    order: Vec<usize>,
}

impl FlowTable {
    /// A table of `cap` slots (at least 1); allocates here only.
    pub fn new(cap: usize) -> FlowTable {
        let cap = cap.max(1);
        let mut slots = Vec::with_capacity(cap);
        slots.resize_with(cap, || None);
        FlowTable {
            slots,
            order: Vec::with_capacity(cap),
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_full(&self) -> bool {
        self.order.len() >= self.slots.len()
    }

    /// The slot holding the flow of a new segment, if any.
    pub fn find<M: FrameMemory>(
        &self,
        key: Key,
        frame: &[u8],
        lay: &Layout,
        pool: &FramePool<M>,
    ) -> Option<usize> {
        self.order
            .iter()
            .copied()
            .find(|&i| match self.slots.get(i) {
                Some(Some(h)) => h.key == key && same_flow(frame, lay, pool.head(&h.pkt), &h.lay),
                _ => false,
            })
    }

    pub fn get(&self, i: usize) -> Option<&Held> {
        self.slots.get(i).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut Held> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    /// Stores a new held packet as the youngest; the caller made room.
    /// Hands it back when the table is full.
    pub fn insert(&mut self, h: Held) -> Result<usize, Held> {
        let Some(i) = self.slots.iter().position(Option::is_none) else {
            return Err(h);
        };
        if let Some(s) = self.slots.get_mut(i) {
            *s = Some(h);
        }
        self.order.push(i);
        Ok(i)
    }

    /// Takes the packet out of slot `i`.
    pub fn remove(&mut self, i: usize) -> Option<Held> {
        let h = self.slots.get_mut(i)?.take()?;
        if let Some(pos) = self.order.iter().position(|&j| j == i) {
            self.order.remove(pos);
        }
        Some(h)
    }

    /// The oldest occupied slot.
    pub fn oldest(&self) -> Option<usize> {
        self.order.first().copied()
    }

    /// The oldest occupied slot whose first segment arrived before `deadline`.
    pub fn oldest_before(&self, deadline: u64) -> Option<usize> {
        self.order
            .iter()
            .copied()
            .find(|&i| self.get(i).is_some_and(|h| h.first_ns < deadline))
    }
}
