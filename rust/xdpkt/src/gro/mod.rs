//! Generic receive offload (GRO) with Linux kernel semantics, in user space.
//!
//! This module owns the decision "merge this segment into a held packet,
//! flush, or deliver it as is", the flow table of held packets, and the header
//! rewrite of finished aggregates. It follows `net/core/gro.c`
//! (`dev_gro_receive`, `napi_gro_flush`), `inet_gro_receive` /
//! `ipv6_gro_receive`, `tcp_gro_receive` and `udp_gro_receive_segment` of
//! Linux 6.18. `CONFORMANCE.md` (GRO) lists the rules; `docs/gro.md` says
//! where we differ from the kernel and which cases were checked against it.
//!
//! Zero copy, zero allocation: merging a segment pulls its window to the L4
//! payload ([`FramePool::pull_head`]) and chains its frames onto the held
//! packet ([`FramePool::append_packet`]).
//! The aggregate keeps the first segment's headers, patched in place when it
//! leaves: IP length fields, the IPv4 header checksum (RFC 1624 incremental
//! update) and a full, valid L4 checksum, computed from the per-segment payload
//! sums taken while validating each segment (no second pass over the payload).
//!
//! What GRO may not touch: the payload bytes, and any packet it does not merge.
//! A packet that leaves GRO alone (passed through, or held and flushed without
//! a partner) is exactly what came in: same bytes, same metadata
//! (`gso_size` 0, `gso_segs` 0, `gso_type` None, `csum` as given).

#![warn(missing_docs)]

mod flow;
mod stats;
mod tcp;
pub mod testkit;
mod udp;

pub use stats::{GroStats, REASONS};

use crate::batch::Batch;
use crate::packet::{CsumState, GsoType, Packet};
use crate::pool::{FrameMemory, FramePool};
use crate::wire::{
    checksum, dissect_head, dissect_head_lenient, ipv4, ipv6, Layout, ParseError, L3, L4,
};
use flow::{FlowTable, Hdr, Held, Key};

/// GRO settings (the `ethtool -K rx-gro` / `rx-udp-gro-forwarding` and
/// `gro_max_size` knobs of one device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroConfig {
    /// Largest aggregate, as an L3 length (IP header + L4 header + payload).
    /// Default 65535 (`GRO_LEGACY_MAX_SIZE`); larger values are clamped to 65535.
    pub max_size: u32,
    /// Packets held at once (one per flow). Default 64, the kernel's
    /// `GRO_HASH_BUCKETS` (8) × `MAX_GRO_SKBS` (8). When full, the oldest flushes.
    /// 0 counts as 1. A veth device (no RX hash, one bucket) behaves like 8.
    pub max_flows: usize,
    /// UDP GRO with `rx-udp-gro-forwarding` semantics. Default off: UDP passes through.
    pub udp: bool,
}

impl Default for GroConfig {
    fn default() -> Self {
        GroConfig {
            max_size: 65535,
            max_flows: 64,
            udp: false,
        }
    }
}

/// At most this many datagrams in one UDP aggregate (`UDP_GRO_CNT_MAX`).
pub const UDP_GRO_CNT_MAX: u32 = 64;

/// A segment that passed validation: where its headers are, and its payload sum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seg {
    pub lay: Layout,
    /// L4 payload bytes.
    pub len: u32,
    /// Ones'-complement sum of the payload (starting at an even offset).
    pub psum: u32,
}

/// A segment's flow key, the table slot holding its flow if any, and the merge decision.
#[derive(Clone, Copy)]
struct Lookup<'a> {
    key: &'a Key,
    slot: Option<usize>,
    /// The held packet of `slot` may not take this segment (true without a slot).
    refused: bool,
    /// TCP flags of the segment (0 for UDP).
    flags: u8,
}

/// Why a packet is delivered as is.
#[derive(Debug, Clone, Copy)]
enum Reject {
    /// Deliver it; a held packet of its flow stays held.
    Pass(&'static str),
    /// Flush the held packet of its flow first, then deliver it.
    FlushFlow(&'static str, Layout),
}

/// The GRO engine of one receive queue: a bounded table of held packets.
#[derive(Debug)]
pub struct Gro {
    cfg: GroConfig,
    /// Effective L3 length cap.
    cap: u32,
    table: FlowTable,
    stats: GroStats,
}

impl Gro {
    /// A GRO engine; allocates its flow table here, once.
    pub fn new(cfg: GroConfig) -> Gro {
        Gro {
            cfg,
            cap: cfg.max_size.min(65535),
            table: FlowTable::new(cfg.max_flows),
            stats: GroStats::default(),
        }
    }

    /// The configuration this engine was built with.
    pub fn config(&self) -> &GroConfig {
        &self.cfg
    }

    /// One packet from the NIC.
    ///
    /// Delivers into `out` whatever must leave now: a packet that is not
    /// merged or held is delivered at once, and aggregates that a rule
    /// flushed. As in the kernel, a packet rejected before the flow lookup
    /// (malformed, IPv4 options, fragment, bad checksum) leaves held packets
    /// alone; one whose merge was tried and refused (pure ACK, flags, seq,
    /// header or length mismatch) flushes its own flow's held packet first.
    /// `now_ns` is the caller's clock, remembered per held flow for
    /// [`Gro::flush_older_than`]. Needs `out.room() >= 2`, otherwise returns
    /// `Err(pkt)` untouched and counts nothing.
    pub fn receive<M: FrameMemory>(
        &mut self,
        pool: &mut FramePool<M>,
        pkt: Packet,
        now_ns: u64,
        out: &mut Batch,
    ) -> Result<(), Packet> {
        if out.room() < 2 {
            return Err(pkt);
        }
        self.stats.packets_in += 1;
        let seg = match self.classify(pool, &pkt) {
            Ok(seg) => seg,
            Err(Reject::Pass(reason)) => {
                self.pass(pool, pkt, reason, out);
                return Ok(());
            }
            Err(Reject::FlushFlow(reason, lay)) => {
                // The kernel still looks the flow up: the merge fails and the
                // held packet leaves first.
                let head = pool.head(&pkt);
                if let Some(i) = self.table.find(&Key::of(head, &lay), head, &lay, pool) {
                    self.flush_slot(pool, i, out);
                }
                self.pass(pool, pkt, reason, out);
                return Ok(());
            }
        };
        // The key is kept out of `Seg` (80+ bytes): it is only stored when held.
        // Everything that reads the new segment's headers happens here, on
        // one borrow of its head frame; the merge decision needs only those
        // headers and the held packet's cached fields.
        let head = pool.head(&pkt);
        let key = Key::of(head, &seg.lay);
        let slot = self.table.find(&key, head, &seg.lay, pool);
        let (tcp_seg, cap) = (seg.lay.l4 == L4::Tcp, self.cap);
        let refused = match slot.map(|i| self.table.get_mut(i)) {
            Some(Some(held)) if tcp_seg => tcp::merge_flush(head, &seg, held, cap),
            Some(Some(held)) => udp::merge_flush(head, &seg, held, cap),
            _ => true,
        };
        let flags = if tcp_seg {
            tcp::flags(head, &seg.lay)
        } else {
            0
        };
        let found = Lookup {
            key: &key,
            slot,
            refused,
            flags,
        };
        if tcp_seg {
            self.tcp(pool, pkt, &seg, found, now_ns, out);
        } else {
            self.udp(pool, pkt, &seg, found, now_ns, out);
        }
        Ok(())
    }

    /// End of a NAPI poll: flush every held packet, oldest first
    /// (`napi_gro_flush`). Flushes as many as `out` has room for; the rest stay held.
    pub fn flush<M: FrameMemory>(&mut self, pool: &mut FramePool<M>, out: &mut Batch) {
        while out.room() > 0 {
            let Some(i) = self.table.oldest() else { break };
            self.flush_slot(pool, i, out);
        }
    }

    /// `gro_flush_timeout`: flush the held packets whose first segment arrived
    /// before `now_ns - timeout_ns`, oldest first, as far as `out` has room.
    pub fn flush_older_than<M: FrameMemory>(
        &mut self,
        pool: &mut FramePool<M>,
        now_ns: u64,
        timeout_ns: u64,
        out: &mut Batch,
    ) {
        let deadline = now_ns.saturating_sub(timeout_ns);
        while out.room() > 0 {
            let Some(i) = self.table.oldest_before(deadline) else {
                break;
            };
            self.flush_slot(pool, i, out);
        }
    }

    /// Packets held now (one per flow).
    pub fn held(&self) -> usize {
        self.table.len()
    }

    /// Counters.
    pub fn stats(&self) -> &GroStats {
        &self.stats
    }

    /// Validates a packet for GRO. `Err` names why it passes through as is.
    fn classify<M: FrameMemory>(&self, pool: &FramePool<M>, pkt: &Packet) -> Result<Seg, Reject> {
        // An already aggregated packet is not merged again (the kernel's
        // skb_is_gso path only takes a GRO packet of the very same gso_size;
        // we keep it simple and deliver it as is).
        if pkt.gso_type != GsoType::None || pkt.gso_size != 0 {
            return Err(Reject::Pass("gso"));
        }
        // Headers must be in the head frame; the payload may run on in a chain
        // (a jumbo frame in small pool frames).
        let frame = pool.head(pkt);
        let lay = match dissect_head(frame, pkt.len()) {
            Ok(lay) => lay,
            Err(e @ (ParseError::Ipv4TotalLen { .. } | ParseError::Ipv6PayloadLen { .. })) => {
                return Err(length_overclaim(frame, pkt.len(), e));
            }
            Err(ParseError::Truncated { .. }) if !pkt.is_linear() => {
                return Err(Reject::Pass("nonlinear"))
            }
            Err(e) => return Err(Reject::Pass(e.reason())),
        };
        if lay.l4 == L4::Udp && !self.cfg.udp {
            return Err(Reject::Pass("not_tcp"));
        }
        let truncated = Reject::Pass("truncated");
        let l3 = frame.get(lay.l3_off..).ok_or(truncated)?;
        let pseudo_len = (lay.end - lay.l4_off) as u32;
        let pseudo = match lay.l3 {
            L3::V4 => {
                let ip = ipv4::Packet::new_unchecked(l3);
                // inet_gro_receive: `*(u8 *)iph != 0x45` is never merged.
                if ip.header_len() != ipv4::MIN_HEADER_LEN {
                    return Err(Reject::Pass("ipv4_options"));
                }
                if !ip.verify_checksum() {
                    return Err(Reject::Pass("ip_csum"));
                }
                // inet_gro_receive: tot_len != bytes present (link padding
                // included) sets flush: never merged, and a held TCP packet of
                // the flow leaves first (checked on 6.18: a 1-byte segment
                // padded to 60 bytes does not merge).
                if lay.end != pkt.len() && lay.l4 == L4::Tcp {
                    let why = if lay.payload_off == lay.end {
                        "pure_ack"
                    } else {
                        "ipv4_padding"
                    };
                    return Err(Reject::FlushFlow(why, lay));
                }
                ip.pseudo_sum(pseudo_len)
            }
            L3::V6 => {
                // ipv6_gro_receive: payload_len != bytes present: the same.
                if lay.end != pkt.len() && lay.l4 == L4::Tcp {
                    return Err(Reject::FlushFlow("ipv6_payload_len_mismatch", lay));
                }
                let proto = if lay.l4 == L4::Tcp {
                    ipv4::PROTO_TCP
                } else {
                    ipv4::PROTO_UDP
                };
                ipv6::Packet::new_unchecked(l3).pseudo_sum(proto, pseudo_len)
            }
        };
        let hdr = frame.get(lay.l4_off..lay.payload_off).ok_or(truncated)?;
        if lay.l4 == L4::Udp {
            let u = crate::wire::udp::Packet::new_unchecked(hdr);
            // udp_gro_receive_segment: a zero checksum is never merged (symmetry with GSO).
            if u.checksum() == 0 {
                return Err(Reject::Pass("udp_csum_zero"));
            }
            // ... nor an empty datagram, nor one whose UDP length is not the
            // real length (link padding included); a held packet stays.
            if u.is_empty() || usize::from(u.len()) != pkt.len() - lay.l4_off {
                return Err(Reject::Pass("udp_len_mismatch"));
            }
        }
        let psum = payload_sum(pool, pkt, lay.payload_off, lay.end);
        // The L4 header length is a multiple of 4, so the payload sum needs no swap.
        let total = checksum::add(checksum::add(pseudo, checksum::sum(hdr, 0)), psum);
        if checksum::fold(total) != 0xffff {
            return Err(Reject::Pass(if lay.l4 == L4::Tcp {
                "tcp_csum"
            } else {
                "udp_csum"
            }));
        }
        Ok(Seg {
            lay,
            len: (lay.end - lay.payload_off) as u32,
            psum,
        })
    }

    fn tcp<M: FrameMemory>(
        &mut self,
        pool: &mut FramePool<M>,
        pkt: Packet,
        seg: &Seg,
        found: Lookup<'_>,
        now_ns: u64,
        out: &mut Batch,
    ) {
        let flags = found.flags;
        if let Some(i) = found.slot {
            if !found.refused {
                match self.merge(pool, i, pkt, seg) {
                    Ok(()) => {
                        tcp::or_fin_psh(pool, self.table.get(i), flags);
                        // Flush right after merging a short segment or PSH/FIN/URG/RST/SYN.
                        let gso_size = self.table.get(i).map_or(0, |h| h.gso_size);
                        if tcp::ends_aggregate(seg.len, gso_size, flags) {
                            self.flush_slot(pool, i, out);
                        }
                    }
                    Err(pkt) => self.pass(pool, pkt, "other", out),
                }
                return;
            }
            // Merge refused: the held packet leaves, the new one starts over.
            self.flush_slot(pool, i, out);
        }
        // out_check_final with mss = 1: pure ACKs and flush flags are not held.
        if seg.len == 0 {
            self.pass(pool, pkt, "pure_ack", out);
        } else if tcp::ends_aggregate(seg.len, 1, flags) {
            self.pass(pool, pkt, "tcp_flags", out);
        } else {
            self.hold(pool, pkt, seg, found.key, now_ns, out);
        }
    }

    fn udp<M: FrameMemory>(
        &mut self,
        pool: &mut FramePool<M>,
        pkt: Packet,
        seg: &Seg,
        found: Lookup<'_>,
        now_ns: u64,
        out: &mut Batch,
    ) {
        if let Some(i) = found.slot {
            if !found.refused {
                match self.merge(pool, i, pkt, seg) {
                    Ok(()) => {
                        let (gso_size, count) =
                            self.table.get(i).map_or((0, 0), |h| (h.gso_size, h.count));
                        if udp::ends_aggregate(seg.len, gso_size, count) {
                            self.flush_slot(pool, i, out);
                        }
                    }
                    Err(pkt) => self.pass(pool, pkt, "other", out),
                }
                return;
            }
            self.flush_slot(pool, i, out);
        }
        self.hold(pool, pkt, seg, found.key, now_ns, out);
    }

    /// Chains a validated segment's payload onto held slot `i` (no copy).
    fn merge<M: FrameMemory>(
        &mut self,
        pool: &mut FramePool<M>,
        i: usize,
        mut pkt: Packet,
        seg: &Seg,
    ) -> Result<(), Packet> {
        let Some(held) = self.table.get_mut(i) else {
            return Err(pkt);
        };
        if pool
            .pull_head(&mut pkt, seg.lay.payload_off as u32)
            .is_err()
        {
            return Err(pkt);
        }
        // Only packets whose IP length is their whole length get here: no padding to trim.
        // A payload placed at an odd offset of the aggregate sums byte-swapped (RFC 1071 §2B).
        let psum = if held.payload & 1 == 1 {
            checksum::swap(seg.psum)
        } else {
            seg.psum
        };
        held.psum = checksum::add(held.psum, psum);
        held.payload += seg.len;
        held.count += 1;
        pool.append_packet(&mut held.pkt, pkt);
        self.stats.merged += 1;
        Ok(())
    }

    /// Starts a new held packet, flushing the oldest when the table is full.
    fn hold<M: FrameMemory>(
        &mut self,
        pool: &mut FramePool<M>,
        pkt: Packet,
        seg: &Seg,
        key: &Key,
        now_ns: u64,
        out: &mut Batch,
    ) {
        if self.table.is_full() {
            if let Some(old) = self.table.oldest() {
                self.flush_slot(pool, old, out);
                self.stats.evicted += 1;
            }
        }
        let hdr = Hdr::of(pool.head(&pkt), &seg.lay);
        let held = Held {
            pkt,
            lay: seg.lay,
            key: *key,
            hdr,
            gso_size: seg.len,
            count: 1,
            payload: seg.len,
            psum: seg.psum,
            fixed_id: false,
            first_ns: now_ns,
        };
        if let Err(pkt) = self.table.insert(held) {
            // Unreachable: room was made above. Deliver rather than lose it.
            self.deliver(pool, pkt, out);
        }
    }

    /// Finishes held slot `i` and delivers it.
    fn flush_slot<M: FrameMemory>(&mut self, pool: &mut FramePool<M>, i: usize, out: &mut Batch) {
        let Some(held) = self.table.remove(i) else {
            return;
        };
        if held.count > 1 {
            self.stats.aggregates += 1;
        }
        let pkt = finish(pool, held);
        self.deliver(pool, pkt, out);
    }

    fn pass<M: FrameMemory>(
        &mut self,
        pool: &mut FramePool<M>,
        pkt: Packet,
        reason: &'static str,
        out: &mut Batch,
    ) {
        self.stats.bump(reason);
        self.deliver(pool, pkt, out);
    }

    fn deliver<M: FrameMemory>(&mut self, pool: &mut FramePool<M>, pkt: Packet, out: &mut Batch) {
        self.stats.packets_out += 1;
        if let Err(pkt) = out.push(pkt) {
            // Unreachable: every caller checked the room it needs. Never leak a frame.
            debug_assert!(false, "GRO output batch overflow");
            self.stats.packets_out -= 1;
            self.stats.bump("no_room");
            pool.release(pkt);
        }
    }
}

/// `inet_gro_receive` / `ipv6_gro_receive`: an IP length that claims more
/// bytes than the frame has only sets "flush" (after the IPv4 header and
/// checksum checks). The TCP flow is still looked up, so its held packet leaves
/// first and this one follows unmerged (checked on 6.18: held 100 B, short
/// frame, 100 B come out as 100, short, 100). Anything else passes through.
fn length_overclaim(frame: &[u8], total_len: usize, e: ParseError) -> Reject {
    let pass = Reject::Pass(e.reason());
    let Ok((lay, true)) = dissect_head_lenient(frame, total_len) else {
        return pass;
    };
    if lay.l4 != L4::Tcp {
        return pass;
    }
    if lay.l3 == L3::V4 {
        let Some(l3) = frame.get(lay.l3_off..) else {
            return pass;
        };
        let ip = ipv4::Packet::new_unchecked(l3);
        if ip.header_len() != ipv4::MIN_HEADER_LEN || !ip.verify_checksum() {
            return pass;
        }
    }
    Reject::FlushFlow(e.reason(), lay)
}

/// Ones'-complement sum of bytes `from..to` of a packet, across its frames,
/// aligned as if `from` were at an even offset.
fn payload_sum<M: FrameMemory>(pool: &FramePool<M>, pkt: &Packet, from: usize, to: usize) -> u32 {
    let mut acc = 0u32;
    let mut at = 0usize;
    for piece in pool.pieces(pkt) {
        let (start, end) = (at, at + piece.len());
        at = end;
        if end <= from {
            continue;
        }
        if start >= to {
            break;
        }
        let lo = from.max(start);
        let Some(bytes) = piece.get(lo - start..to.min(end) - start) else {
            break;
        };
        let s = checksum::sum(bytes, 0);
        // Bytes starting at an odd distance from `from` sum byte-swapped.
        acc = checksum::add(
            acc,
            if (lo - from) & 1 == 1 {
                checksum::swap(s)
            } else {
                s
            },
        );
    }
    acc
}

/// IP-level merge checks shared by TCP and UDP (`inet_gro_flush` /
/// `ipv6_gro_flush` of 6.18). True = do not merge. May record the IPv4 ID mode.
pub(crate) fn network_flush(new: &[u8], lay: &Layout, held: &mut Held) -> bool {
    let Some(a) = new.get(lay.l3_off..lay.l4_off) else {
        return true;
    };
    // Equal TTL, whole TOS byte (DSCP and ECN) and DF; IPv6: equal traffic
    // class (ECN included) and hop limit.
    if flow::net_word(a, lay.l3) != held.hdr.net {
        return true;
    }
    match lay.l3 {
        L3::V4 => {
            // IP ID: all equal to the first's (fixed) or first's + segments so far
            // (incrementing); the second segment decides, mixing flushes. DF=0 fixed merges too.
            let offset = ipv4::Packet::new_unchecked(a)
                .ident()
                .wrapping_sub(held.hdr.ident);
            if held.count == 1 && offset == 0 {
                held.fixed_id = true;
            }
            let expect = if held.fixed_id { 0 } else { held.count as u16 };
            offset != expect
        }
        L3::V6 => false,
    }
}

/// Rewrites a finished aggregate's headers; a single packet leaves untouched.
fn finish<M: FrameMemory>(pool: &mut FramePool<M>, held: Held) -> Packet {
    let mut pkt = held.pkt;
    if held.count < 2 {
        return pkt;
    }
    let lay = held.lay;
    let l4_len = (lay.payload_off - lay.l4_off) as u32 + held.payload;
    let frame = pool.head_mut(&pkt);
    let pseudo = match lay.l3 {
        L3::V4 => {
            let Some(b) = frame.get_mut(lay.l3_off..lay.l4_off) else {
                return pkt;
            };
            let mut ip = ipv4::Packet::new_unchecked(b);
            let old = ip.total_len();
            let new = (lay.l3_len as u32 + l4_len) as u16;
            ip.set_total_len(new);
            let c = checksum::update16(ip.checksum(), old, new);
            ip.set_checksum(c);
            ip.pseudo_sum(l4_len)
        }
        L3::V6 => {
            let Some(b) = frame.get_mut(lay.l3_off..lay.l4_off) else {
                return pkt;
            };
            let mut ip = ipv6::Packet::new_unchecked(b);
            ip.set_payload_len((lay.l3_len - ipv6::HEADER_LEN) as u16 + l4_len as u16);
            let proto = if lay.l4 == L4::Tcp {
                ipv4::PROTO_TCP
            } else {
                ipv4::PROTO_UDP
            };
            ip.pseudo_sum(proto, l4_len)
        }
    };
    let Some(l4) = frame.get_mut(lay.l4_off..lay.payload_off) else {
        return pkt;
    };
    match lay.l4 {
        L4::Tcp => tcp::write_csum(l4, pseudo, held.psum),
        L4::Udp => udp::write_len_csum(l4, l4_len as u16, pseudo, held.psum),
    }
    pkt.gso_size = held.gso_size as u16;
    pkt.gso_segs = held.count as u16;
    pkt.gso_type = match (lay.l3, lay.l4) {
        (L3::V4, L4::Tcp) => GsoType::TcpV4,
        (L3::V6, L4::Tcp) => GsoType::TcpV6,
        (_, L4::Udp) => GsoType::UdpL4,
    };
    // inet_gro_flush decided fixed vs incrementing IDs at the second segment.
    pkt.gso_fixed_id = lay.l3 == L3::V4 && held.fixed_id;
    pkt.csum = CsumState::Unnecessary;
    pkt
}

/// One batch as one NAPI poll sees it: receive every packet of `input`
/// (drained, in order), then flush everything held.
///
/// Needs `out.room() >= input.len() + gro.held() + 1` to take the whole batch;
/// with less room it takes as many packets from the front of `input` as are
/// sure to fit and leaves the rest there (nothing is dropped).
pub fn coalesce<M: FrameMemory>(
    gro: &mut Gro,
    pool: &mut FramePool<M>,
    input: &mut Batch,
    out: &mut Batch,
) {
    // Each receive adds at most one packet to out + held, so k packets fit
    // when room - held >= k + 1 (receive needs 2 free slots).
    let fit = out.room().saturating_sub(gro.held() + 1);
    let take = input.len().min(fit);
    for pkt in input.drain_front(take) {
        if let Err(pkt) = gro.receive(pool, pkt, 0, out) {
            // Unreachable by the room computation above; never lose a frame.
            debug_assert!(false, "coalesce room computation");
            gro.stats.bump("no_room");
            pool.release(pkt);
        }
    }
    gro.flush(pool, out);
}

#[cfg(test)]
mod tests;
