//! The GRO flow table: the packets held between polls, one per flow.
//!
//! The kernel keeps 8 hash buckets × `MAX_GRO_SKBS` (8) held skbs per NAPI
//! instance, bucketed by the RX hash. We have no NIC hash, so the table is one
//! bounded set of `max_flows` slots with the same policy the kernel applies per
//! bucket: when it is full, the oldest held packet is flushed to make room.
//! Slots and the age order are allocated once; nothing here allocates later.

use crate::packet::Packet;
use crate::pool::{FrameMemory, FramePool};
use crate::wire::{ipv4, ipv6, tcp, Layout, L3, L4};

/// A frame's whole flow identity packed into fixed words, so that the "same
/// flow" test is a handful of word compares instead of slice compares against
/// the held packet's frame.
///
/// Holds the layout shape (L3/L4 kinds, `l3_off`, `l3_len`), the L2 header
/// (up to 24 bytes: two VLAN tags at most), the ports, and the L3 identity
/// ([`same_flow`]'s fields: IPv4 protocol + addresses; IPv6 version + flow
/// label, next header and addresses). Equal keys mean the same flow, except
/// when `long` is set (IPv6 extension headers, which do not fit the words):
/// then [`same_flow`] decides on the frames.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    w: [u64; 10],
    long: bool,
    /// A mix of the words, for the hash index.
    hash: u32,
}

impl PartialEq for Key {
    /// Branch-free word compare (a derived array compare calls `memcmp`).
    fn eq(&self, other: &Key) -> bool {
        let diff = self
            .w
            .iter()
            .zip(other.w.iter())
            .fold(0u64, |d, (a, b)| d | (a ^ b));
        diff == 0 && self.long == other.long
    }
}

impl Eq for Key {}

/// Equal byte strings, compared 4 bytes at a time when the length allows
/// (TCP options are a multiple of 4 long); a slice compare calls `memcmp`.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (wa, wb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail = wa.remainder() == wb.remainder();
    let diff = wa.zip(wb).fold(0u32, |d, (x, y)| {
        d | (u32::from_ne_bytes([x[0], x[1], x[2], x[3]])
            ^ u32::from_ne_bytes([y[0], y[1], y[2], y[3]]))
    });
    diff == 0 && tail
}

/// Little-endian word of `n` (<= 8) bytes at `at` (byte `i` at bits `8 i`);
/// `None` when 8 bytes are not there to read.
fn le_word(b: &[u8], at: usize, n: usize) -> Option<u64> {
    match b.get(at..at + 8) {
        Some(&[b0, b1, b2, b3, b4, b5, b6, b7]) => {
            let w = u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]);
            Some(if n >= 8 {
                w
            } else {
                w & ((1u64 << (8 * n)) - 1)
            })
        }
        _ => None,
    }
}

impl Key {
    /// The key of a dissected frame (`frame` is the head window).
    pub fn of(frame: &[u8], lay: &Layout) -> Key {
        let l3 = lay.l3_off;
        let mut w = [0u64; 10];
        let mut long = false;
        let kinds = (lay.l3 == L3::V6) as u64 | ((lay.l4 == L4::Udp) as u64) << 1;
        w[0] = kinds | (l3 as u64) << 8 | (lay.l3_len as u64) << 16;
        // L2 header: l3 <= 22 bytes, followed by at least the L3 header, so
        // whole-word reads stay inside the frame.
        let mut got = 0;
        let mut i = 2;
        while got < l3 && i < 5 {
            match le_word(frame, got, l3 - got) {
                Some(x) => w[i] = x,
                None => long = true,
            }
            got += 8;
            i += 1;
        }
        long |= got < l3;
        let ports = u64::from(word(frame, lay.l4_off));
        match lay.l3 {
            L3::V4 => {
                let proto = frame.get(l3 + 9).copied().unwrap_or(0);
                w[1] = ports | u64::from(proto) << 32;
                match le_word(frame, l3 + 12, 8) {
                    Some(x) => w[5] = x,
                    None => long = true,
                }
            }
            L3::V6 => {
                let next = frame.get(l3 + 6).copied().unwrap_or(0);
                w[1] = ports | u64::from(next) << 32;
                w[5] = u64::from(word(frame, l3) & 0xf00f_ffff);
                // Addresses: 32 bytes at l3 + 8; extension headers follow.
                for (k, at) in (l3 + 8..l3 + ipv6::HEADER_LEN).step_by(8).enumerate() {
                    match le_word(frame, at, 8) {
                        Some(x) => w[6 + k] = x,
                        None => long = true,
                    }
                }
                long |= lay.l3_len > ipv6::HEADER_LEN;
            }
        }
        let mut h = 0u64;
        for x in w {
            h = h.rotate_left(19) ^ x;
        }
        let h = (h ^ (h >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Key {
            w,
            long,
            hash: (h >> 32) as u32,
        }
    }
}

fn word(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(w) => u32::from_be_bytes([w[0], w[1], w[2], w[3]]),
        None => 0,
    }
}

/// What the merge rules compare of a held packet's first segment, read once
/// when it is held instead of from its frame at every merge. Only the
/// FIN/PSH bits of its header change while it is held, and those are masked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hdr {
    /// [`net_word`] of the first segment.
    pub net: u32,
    /// IPv4 ID (0 for IPv6).
    pub ident: u16,
    /// TCP sequence number, ack number and the word at offset 12.
    pub seq: u32,
    pub ack: u32,
    pub tcp_word: u32,
    opts_len: u8,
    opts: [u8; 40],
}

impl Hdr {
    /// The cached fields of a dissected frame.
    pub fn of(frame: &[u8], lay: &Layout) -> Hdr {
        let mut h = Hdr {
            net: 0,
            ident: 0,
            seq: 0,
            ack: 0,
            tcp_word: 0,
            opts_len: 0,
            opts: [0; 40],
        };
        if let Some(l3) = frame.get(lay.l3_off..lay.l4_off) {
            h.net = net_word(l3, lay.l3);
            if lay.l3 == L3::V4 {
                h.ident = ipv4::Packet::new_unchecked(l3).ident();
            }
        }
        if lay.l4 == L4::Tcp {
            if let Some(l4) = frame.get(lay.l4_off..lay.payload_off) {
                let th = tcp::Packet::new_unchecked(l4);
                h.seq = th.seq();
                h.ack = th.ack();
                h.tcp_word = th.flag_word();
                let o = th.options();
                if let Some(dst) = h.opts.get_mut(..o.len()) {
                    dst.copy_from_slice(o);
                    h.opts_len = o.len() as u8;
                }
            }
        }
        h
    }

    /// The first segment's TCP option bytes.
    pub fn options(&self) -> &[u8] {
        self.opts.get(..usize::from(self.opts_len)).unwrap_or(&[])
    }
}

/// The IP fields that must be equal for a merge, as one word: IPv4 TOS, TTL
/// and DF; IPv6 traffic class and hop limit. `l3` is the L3 header.
#[inline]
pub(crate) fn net_word(l3: &[u8], kind: L3) -> u32 {
    match kind {
        L3::V4 => {
            let ip = ipv4::Packet::new_unchecked(l3);
            u32::from(ip.tos()) << 16 | u32::from(ip.ttl()) << 8 | u32::from(ip.dont_frag())
        }
        L3::V6 => {
            let ip = ipv6::Packet::new_unchecked(l3);
            u32::from(ip.traffic_class()) << 8 | u32::from(ip.hop_limit())
        }
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
    /// Header fields of the first segment the merge rules compare.
    pub hdr: Hdr,
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

/// "No slot" in the hash chains.
const NONE: u32 = u32::MAX;

/// Bounded table of held packets: slots, a hash index over their keys
/// (chained, like the kernel's `gro_hash` lists but with many short chains)
/// and their age order.
#[derive(Debug)]
pub(crate) struct FlowTable {
    slots: Vec<Option<Held>>,
    /// Each slot's key hash (meaningful for occupied slots).
    keys: Vec<u32>,
    /// Next slot in the same hash chain.
    next: Vec<u32>,
    /// First slot of each hash chain; a power-of-two count, >= 2 × slots.
    heads: Vec<u32>,
    /// Free slot indices.
    free: Vec<u32>,
    /// Occupied slot indices, oldest first.
    order: Vec<usize>,
}

impl FlowTable {
    /// A table of `cap` slots (at least 1); allocates here only.
    pub fn new(cap: usize) -> FlowTable {
        let cap = cap.clamp(1, 1 << 20);
        let mut slots = Vec::with_capacity(cap);
        slots.resize_with(cap, || None);
        let buckets = (2 * cap).next_power_of_two();
        FlowTable {
            slots,
            keys: vec![0; cap],
            next: vec![NONE; cap],
            heads: vec![NONE; buckets],
            free: (0..cap as u32).rev().collect(),
            order: Vec::with_capacity(cap),
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    fn bucket(&self, key: &Key) -> usize {
        key.hash as usize & (self.heads.len() - 1)
    }

    /// The slot holding the flow of a new segment, if any.
    pub fn find<M: FrameMemory>(
        &self,
        key: &Key,
        frame: &[u8],
        lay: &Layout,
        pool: &FramePool<M>,
    ) -> Option<usize> {
        let mut i = self.heads.get(self.bucket(key)).copied().unwrap_or(NONE);
        while i != NONE {
            let at = i as usize;
            if self.keys.get(at) == Some(&key.hash) {
                if let Some(Some(h)) = self.slots.get(at) {
                    if h.key == *key
                        && (!key.long || same_flow(frame, lay, pool.head(&h.pkt), &h.lay))
                    {
                        return Some(at);
                    }
                }
            }
            i = self.next.get(at).copied().unwrap_or(NONE);
        }
        None
    }

    pub fn get(&self, i: usize) -> Option<&Held> {
        self.slots.get(i).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut Held> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    /// Stores a new held packet as the youngest; the caller made room.
    /// Hands its packet back when the table is full.
    pub fn insert(&mut self, h: Held) -> Result<usize, Packet> {
        let Some(i) = self.free.pop() else {
            return Err(h.pkt);
        };
        let at = i as usize;
        let b = self.bucket(&h.key);
        if let (Some(k), Some(n), Some(head)) = (
            self.keys.get_mut(at),
            self.next.get_mut(at),
            self.heads.get_mut(b),
        ) {
            *k = h.key.hash;
            *n = *head;
            *head = i;
        }
        if let Some(s) = self.slots.get_mut(at) {
            *s = Some(h);
        }
        self.order.push(at);
        Ok(at)
    }

    /// Takes the packet out of slot `i`.
    pub fn remove(&mut self, i: usize) -> Option<Held> {
        let h = self.slots.get_mut(i)?.take()?;
        // Unlink from its hash chain.
        let b = self.bucket(&h.key);
        let after = self.next.get(i).copied().unwrap_or(NONE);
        if self.heads.get(b) == Some(&(i as u32)) {
            if let Some(head) = self.heads.get_mut(b) {
                *head = after;
            }
        } else {
            let mut j = self.heads.get(b).copied().unwrap_or(NONE);
            while j != NONE {
                let nj = self.next.get(j as usize).copied().unwrap_or(NONE);
                if nj == i as u32 {
                    if let Some(n) = self.next.get_mut(j as usize) {
                        *n = after;
                    }
                    break;
                }
                j = nj;
            }
        }
        if let Some(pos) = self.order.iter().position(|&j| j == i) {
            self.order.remove(pos);
        }
        self.free.push(i as u32);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::FramePool;
    use crate::wire::dissect;

    /// The packed key decides exactly like `same_flow` on the frames: for
    /// many header shapes (VLAN tags, IPv6 extension headers, UDP), flip
    /// every header byte of a copy and compare both answers.
    #[test]
    fn key_agrees_with_same_flow() {
        use crate::gro::testkit::SegSpec;
        let dest_opts = (60u8, vec![1, 4, 0, 0, 0, 0]);
        let specs = [
            SegSpec::tcp4(7, 10),
            SegSpec::tcp6(7, 10),
            SegSpec::udp4(7, 10),
            SegSpec::udp6(7, 10),
            SegSpec {
                vlan: Some(12),
                ..SegSpec::tcp4(7, 10)
            },
            SegSpec {
                vlan: Some(12),
                ..SegSpec::tcp6(7, 10)
            },
            SegSpec {
                v6_ext: vec![dest_opts.clone()],
                ..SegSpec::tcp6(7, 10)
            },
            SegSpec {
                v6_ext: vec![
                    dest_opts.clone(),
                    (60, vec![1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                ],
                ..SegSpec::udp6(7, 10)
            },
        ];
        let fast = |a: &[u8], la: &Layout, b: &[u8], lb: &Layout| {
            let (ka, kb) = (Key::of(a, la), Key::of(b, lb));
            ka == kb && (!ka.long || same_flow(a, la, b, lb))
        };
        let mut checked = 0;
        for spec in &specs {
            let a = spec.build();
            let la = dissect(&a).unwrap();
            assert!(fast(&a, &la, &a, &la));
            for at in 0..la.payload_off {
                for bit in [0x01u8, 0x80] {
                    let mut b = a.clone();
                    b[at] ^= bit;
                    let Ok(lb) = dissect(&b) else { continue };
                    assert_eq!(
                        fast(&a, &la, &b, &lb),
                        same_flow(&a, &la, &b, &lb),
                        "{spec:?} byte {at} bit {bit:#x}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 500);
    }

    #[test]
    fn same_bytes_is_slice_equality() {
        let a: Vec<u8> = (0..13u8).collect();
        for n in 0..a.len() {
            for m in 0..a.len() {
                assert_eq!(same_bytes(&a[..n], &a[..m]), n == m);
                for at in 0..n {
                    let mut b = a[..n].to_vec();
                    b[at] ^= 0x40;
                    assert!(!same_bytes(&a[..n], &b));
                }
            }
        }
    }

    /// Insert / find / remove in any order keeps every chain consistent,
    /// including keys that collide in one bucket.
    #[test]
    fn chains_stay_consistent() {
        let mut pool = FramePool::heap(64, 256);
        let mut t = FlowTable::new(8);
        let frames: Vec<Vec<u8>> = (0..12u16)
            .map(|k| {
                crate::gro::testkit::SegSpec {
                    src_port: k % 6,
                    host: (k / 6) as u8 + 1,
                    ..crate::gro::testkit::SegSpec::tcp4(0, 10)
                }
                .build()
            })
            .collect();
        let mut held: Vec<Option<usize>> = vec![None; frames.len()];
        for round in 0..200usize {
            let k = (round * 7 + round / 3) % frames.len();
            let f = &frames[k];
            let lay = dissect(f).unwrap();
            let key = Key::of(f, &lay);
            assert_eq!(
                t.find(&key, f, &lay, &pool),
                held[k],
                "round {round} flow {k}"
            );
            match held[k] {
                Some(i) => {
                    let h = t.remove(i).unwrap();
                    pool.release(h.pkt);
                    held[k] = None;
                }
                None if !t.is_full() => {
                    let pkt = pool.packet_from(f).unwrap();
                    let h = Held {
                        pkt,
                        lay,
                        key,
                        hdr: Hdr::of(f, &lay),
                        gso_size: 10,
                        count: 1,
                        payload: 10,
                        psum: 0,
                        fixed_id: false,
                        first_ns: 0,
                    };
                    held[k] = Some(t.insert(h).unwrap());
                }
                None => {}
            }
            assert_eq!(t.len(), held.iter().flatten().count());
        }
    }
}
