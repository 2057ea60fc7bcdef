//! GSO: segmentation offload in software — TSO for TCP, USO for UDP, over
//! IPv4 and IPv6 with zero, one or two 802.1Q tags — with the Linux kernel's
//! semantics (`tcp_gso_segment`, `__udp_gso_segment`, `inet_gso_segment`,
//! `ipv6_gso_segment`; the rules are listed in CONFORMANCE.md).
//!
//! This module owns one job: turning a super-frame into wire-size frames.
//! It reads the input packet, takes output frames from the [`FramePool`] and
//! pushes the segments onto a [`Batch`]; it never touches a syscall and never
//! allocates. Every check that can fail (parse, MSS, segment limit, room in
//! the batch, free frames) runs before the first frame is taken, so a failure
//! leaves the pool and the batch as they were and hands the packet back.
//!
//! Each segment's headers are written into a fresh frame. Its payload is
//! *borrowed* when the pool has borrow slots enough
//! ([`FramePool::heap_borrowing`]): the segment chains windows of the
//! input's own frames, as DPDK's `rte_gso` chains indirect mbufs, and the
//! input's frames go back to the pool when the last segment is released.
//! Otherwise (a UMEM pool, whose frames go onto kernel rings) the payload is
//! copied into fresh frames, several chained frames when headers + MSS exceed
//! one. Either way the L4 checksum is computed from scratch over the payload
//! (while copying it, when it is copied): the input's own checksum may be
//! partial or garbage, as a TSO sender leaves it.

use core::fmt;

use crate::batch::Batch;
use crate::packet::{CsumState, GsoType, Packet};
use crate::pool::{Frame, FrameMemory, FramePool, NIL};
use crate::wire::ipv6::NEXT_ROUTING;
use crate::wire::{checksum, dissect_head, ipv4, ipv6, tcp, udp, Layout, ParseError, L3, L4};

/// Most datagrams one USO super-frame may be cut into (the kernel's
/// `UDP_MAX_SEGMENTS`); more is [`GsoError::TooManySegments`].
pub const UDP_MAX_SEGMENTS: usize = 128;

/// Largest header block looked at when telling "headers not in the head
/// frame" apart from a malformed frame (error path only, on the stack).
const HEADER_PROBE: usize = 1024;

/// How to segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GsoOptions {
    /// L4 payload bytes per segment (the kernel's `gso_size`). `None` uses the
    /// packet's own `gso_size` (re-segmenting a GRO aggregate).
    pub mss: Option<u16>,
    /// Keep the first IPv4 ID on every segment instead of incrementing it
    /// (the kernel's `SKB_GSO_TCP_FIXEDID`). A packet whose
    /// [`Packet::gso_fixed_id`] is set (a GRO aggregate of fixed-ID segments)
    /// gets fixed IDs either way. Applied to IPv4 UDP too when asked; no
    /// effect on IPv6.
    pub fixed_id: bool,
}

/// Why a packet was not segmented. `Copy`, allocation-free; `Display` says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoError {
    /// The frame is not Ethernet (+802.1Q) / IPv4|IPv6 / TCP|UDP, or is malformed.
    Parse(ParseError),
    /// No MSS given and the packet has no `gso_size`.
    NoMss,
    /// An MSS of 0 was given.
    MssZero,
    /// USO would produce more than [`UDP_MAX_SEGMENTS`] datagrams.
    TooManySegments { segments: usize, max: usize },
    /// The pool has fewer free frames than the segments need.
    PoolExhausted,
    /// The output batch has fewer free slots than there are segments.
    BatchFull { needed: usize, room: usize },
    /// The input is a chain of frames and its headers run past the head frame.
    HeaderNotInHead { header_len: usize, head_len: usize },
    /// The headers alone do not fit in one output frame.
    HeaderTooLarge {
        header_len: usize,
        frame_capacity: usize,
    },
    /// The packet's `gso_type` does not match what it carries.
    GsoTypeMismatch { gso_type: GsoType, l3: L3, l4: L4 },
    /// The frame chain holds fewer bytes than the packet's length says.
    BrokenChain { missing: usize },
}

impl GsoError {
    /// A short stable name for statistics ("no_mss", "pool_exhausted", ...);
    /// parse errors give [`ParseError::reason`].
    pub const fn reason(&self) -> &'static str {
        match self {
            GsoError::Parse(e) => e.reason(),
            GsoError::NoMss => "no_mss",
            GsoError::MssZero => "mss_zero",
            GsoError::TooManySegments { .. } => "too_many_segments",
            GsoError::PoolExhausted => "pool_exhausted",
            GsoError::BatchFull { .. } => "batch_full",
            GsoError::HeaderNotInHead { .. } => "header_not_in_head",
            GsoError::HeaderTooLarge { .. } => "header_too_large",
            GsoError::GsoTypeMismatch { .. } => "gso_type_mismatch",
            GsoError::BrokenChain { .. } => "broken_chain",
        }
    }
}

impl fmt::Display for GsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GsoError::Parse(e) => e.fmt(f),
            GsoError::NoMss => f.write_str("no MSS given and the packet has no gso_size"),
            GsoError::MssZero => f.write_str("MSS 0: a segment must carry at least one byte"),
            GsoError::TooManySegments { segments, max } => {
                write!(f, "{segments} UDP segments exceed the limit of {max} (UDP_MAX_SEGMENTS)")
            }
            GsoError::PoolExhausted => f.write_str("frame pool has too few free frames for the segments"),
            GsoError::BatchFull { needed, room } => {
                write!(f, "output batch has room for {room} packets, {needed} segments needed")
            }
            GsoError::HeaderNotInHead { header_len, head_len } => write!(
                f,
                "headers ({header_len} bytes) run past the head frame ({head_len} bytes) of a chained packet"
            ),
            GsoError::HeaderTooLarge { header_len, frame_capacity } => write!(
                f,
                "headers ({header_len} bytes) do not fit in one {frame_capacity}-byte output frame"
            ),
            GsoError::GsoTypeMismatch { gso_type, l3, l4 } => {
                write!(f, "gso_type {gso_type:?} does not match a {l4:?} over {l3:?} packet")
            }
            GsoError::BrokenChain { missing } => {
                write!(f, "frame chain is {missing} bytes shorter than the packet length")
            }
        }
    }
}

impl std::error::Error for GsoError {}

impl From<ParseError> for GsoError {
    fn from(e: ParseError) -> Self {
        GsoError::Parse(e)
    }
}

/// Segments `pkt` into `out`. Returns the number of packets pushed.
///
/// `mss` is L4 payload per segment: ⌈payload/mss⌉ segments, only the last
/// one short. When the payload is at most `mss` the packet is not a GSO
/// request and is pushed unchanged (`Ok(1)`); its offload fields are cleared
/// and, if its checksum is `Partial`, the L4 checksum is completed (what the
/// kernel does for a device without checksum offload). Segments carry valid
/// IP and L4 checksums, `csum = Unnecessary` and no gso fields; link padding
/// beyond the IP length is dropped. Per segment (kernel rules):
/// TCP seq₀ + i·mss, FIN/PSH only on the last, CWR only on the first, other
/// flags, options and `urg_ptr` copied; IPv4 ID₀ + i (mod 2¹⁶) unless
/// `opts.fixed_id` or `pkt.gso_fixed_id`; IPv4 `tot_len` / IPv6 `payload_len` and UDP length per segment,
/// a UDP checksum of 0 sent as 0xFFFF.
///
/// With borrow slots ([`FramePool::heap_borrowing`]) the segments borrow
/// the input's payload: the input's frames go back to the free list only
/// when the last segment showing them is released, so a caller keeping a few
/// segments keeps those frames out of the pool too.
///
/// On error nothing is pushed, every frame taken is returned to the pool,
/// and the original packet comes back with the reason.
pub fn segment<M: FrameMemory>(
    pool: &mut FramePool<M>,
    pkt: Packet,
    opts: GsoOptions,
    out: &mut Batch,
) -> Result<usize, (Packet, GsoError)> {
    let plan = match plan(pool, &pkt, opts, out) {
        Ok(p) => p,
        Err(e) => return Err((pkt, e)),
    };
    if plan.nseg == 1 {
        return pass_through(pool, pkt, &plan.layout, out);
    }
    match write_segments(pool, &pkt, &plan, opts, out) {
        Ok(n) => {
            pool.release(pkt);
            Ok(n)
        }
        Err(e) => Err((pkt, e)),
    }
}

/// What `segment` will do, decided before any frame is taken.
struct Plan {
    layout: Layout,
    mss: usize,
    /// 1 = not a GSO request (payload fits in one segment).
    nseg: usize,
    /// Segments borrow the input's payload instead of copying it.
    borrow: bool,
}

fn plan<M: FrameMemory>(
    pool: &FramePool<M>,
    pkt: &Packet,
    opts: GsoOptions,
    out: &Batch,
) -> Result<Plan, GsoError> {
    let layout = parse(pool, pkt)?;
    // The kernel's per-protocol gso_segment refuses a mismatched gso_type (-EINVAL).
    let type_ok = match pkt.gso_type {
        GsoType::None => true,
        GsoType::TcpV4 => layout.l3 == L3::V4 && layout.l4 == L4::Tcp,
        GsoType::TcpV6 => layout.l3 == L3::V6 && layout.l4 == L4::Tcp,
        GsoType::UdpL4 => layout.l4 == L4::Udp,
    };
    if !type_ok {
        return Err(GsoError::GsoTypeMismatch {
            gso_type: pkt.gso_type,
            l3: layout.l3,
            l4: layout.l4,
        });
    }
    let mss = match opts.mss {
        Some(0) => return Err(GsoError::MssZero),
        Some(m) => usize::from(m),
        None if pkt.gso_size == 0 => return Err(GsoError::NoMss),
        None => usize::from(pkt.gso_size),
    };
    let payload = layout.payload_len();
    // A payload that fits one segment is not a GSO request (tcp_gso_segment: len <= mss).
    if payload <= mss {
        if out.room() < 1 {
            return Err(GsoError::BatchFull {
                needed: 1,
                room: out.room(),
            });
        }
        return Ok(Plan {
            layout,
            mss,
            nseg: 1,
            borrow: false,
        });
    }
    let nseg = payload.div_ceil(mss);
    if layout.l4 == L4::Udp && nseg > UDP_MAX_SEGMENTS {
        return Err(GsoError::TooManySegments {
            segments: nseg,
            max: UDP_MAX_SEGMENTS,
        });
    }
    if out.room() < nseg {
        return Err(GsoError::BatchFull {
            needed: nseg,
            room: out.room(),
        });
    }
    let hdr = layout.header_len();
    let cap = pool.frame_capacity();
    if hdr > cap {
        return Err(GsoError::HeaderTooLarge {
            header_len: hdr,
            frame_capacity: cap,
        });
    }
    // Borrowing: one header frame per segment, and one slot per payload piece,
    // which is at most one per segment plus one per input frame boundary.
    let slots = nseg + pkt.nframes() as usize;
    if pool.free_borrow_slots() >= slots && pool.free_count() >= nseg {
        return Ok(Plan {
            layout,
            mss,
            nseg,
            borrow: true,
        });
    }
    let last = payload - (nseg - 1) * mss;
    let frames = (nseg - 1) * (hdr + mss).div_ceil(cap) + (hdr + last).div_ceil(cap);
    if pool.free_count() < frames {
        return Err(GsoError::PoolExhausted);
    }
    Ok(Plan {
        layout,
        mss,
        nseg,
        borrow: false,
    })
}

/// Dissects the packet's headers, which must all be in its head frame.
fn parse<M: FrameMemory>(pool: &FramePool<M>, pkt: &Packet) -> Result<Layout, GsoError> {
    let head = pool.head(pkt);
    let total = pkt.len();
    match dissect_head(head, total) {
        Ok(l) => Ok(l),
        Err(e) if head.len() >= total => Err(GsoError::Parse(e)),
        Err(_) => {
            // A chain: parse again over more contiguous bytes to tell "the
            // headers are fine but straddle the head frame" from "malformed".
            let mut probe = [0u8; HEADER_PROBE];
            let mut n = 0;
            for piece in pool.pieces(pkt) {
                let k = piece.len().min(probe.len() - n);
                probe[n..n + k].copy_from_slice(&piece[..k]);
                n += k;
                if n == probe.len() {
                    break;
                }
            }
            match dissect_head(&probe[..n], total) {
                Ok(l) => Err(GsoError::HeaderNotInHead {
                    header_len: l.header_len(),
                    head_len: head.len(),
                }),
                Err(e) => Err(GsoError::Parse(e)),
            }
        }
    }
}

/// The pseudo-header partial sum without the L4 length.
fn pseudo_base(head: &[u8], l: &Layout) -> u32 {
    match l.l3 {
        L3::V4 => {
            let ip = ipv4::Packet::new_unchecked(&head[l.l3_off..l.l4_off]);
            checksum::pseudo_v4(ip.src(), ip.dst(), ip.protocol(), 0)
        }
        L3::V6 => {
            let ip = ipv6::Packet::new_unchecked(&head[l.l3_off..l.l4_off]);
            let proto = match l.l4 {
                L4::Tcp => ipv4::PROTO_TCP,
                L4::Udp => ipv4::PROTO_UDP,
            };
            checksum::pseudo_v6(ip.src(), v6_final_dst(head, l), proto, 0)
        }
    }
}

/// The destination the IPv6 pseudo-header uses (RFC 8200 §8.1): the final
/// destination, which is in the routing header while segments are left.
fn v6_final_dst(head: &[u8], l: &Layout) -> [u8; 16] {
    let ip = ipv6::Packet::new_unchecked(&head[l.l3_off..l.l4_off]);
    let mut dst = ip.dst();
    let mut next = ip.next_header();
    let mut at = l.l3_off + ipv6::HEADER_LEN;
    while at < l.l4_off {
        let Some(h) = head.get(at..at + 8) else { break };
        let len = (usize::from(h[1]) + 1) * 8;
        let Some(ext) = head.get(at..at + len) else {
            break;
        };
        if next == NEXT_ROUTING && ext[3] > 0 {
            let final_at = match ext[2] {
                // Type 0 (deprecated): the last of its addresses.
                0 if ext[1] >= 2 => Some(8 + 16 * (usize::from(ext[1]) / 2 - 1)),
                // Type 2 (Mobile IPv6) holds one address; type 4 (SRH) lists
                // segments last-first, so Segment List[0] is the final one.
                2 | 4 => Some(8),
                _ => None,
            };
            if let Some(a) = final_at.and_then(|o| ext.get(o..o + 16)) {
                dst.copy_from_slice(a);
            }
        }
        next = h[0];
        at += len;
    }
    dst
}

/// Offset of the checksum field within the L4 header.
const fn l4_csum_offset(l4: L4) -> usize {
    match l4 {
        L4::Tcp => tcp::CHECKSUM_OFFSET,
        L4::Udp => udp::CHECKSUM_OFFSET,
    }
}

/// A UDP checksum that computes to 0 is sent as 0xFFFF (0 means "none").
#[inline]
fn final_csum(l4: L4, s: u32) -> u16 {
    let c = checksum::finish(s);
    if l4 == L4::Udp && c == 0 {
        0xffff
    } else {
        c
    }
}

/// Not a GSO request: push the packet as it is (offload fields cleared,
/// a partial checksum completed).
fn pass_through<M: FrameMemory>(
    pool: &mut FramePool<M>,
    mut pkt: Packet,
    l: &Layout,
    out: &mut Batch,
) -> Result<usize, (Packet, GsoError)> {
    if matches!(pkt.csum, CsumState::Partial { .. }) {
        let base = pseudo_base(pool.head(&pkt), l);
        let l4_total = l.end - l.l4_off;
        let csum_at = l.l4_off + l4_csum_offset(l.l4);
        pool.head_mut(&pkt)[csum_at..csum_at + 2].copy_from_slice(&[0, 0]);
        // Sum the L4 segment across the chain, up to the IP end.
        let mut s = checksum::add(base, (l4_total >> 16) as u32 + (l4_total & 0xffff) as u32);
        let mut at = 0usize; // position in the frame
        let mut done = 0usize; // bytes of the L4 segment summed
        for piece in pool.pieces(&pkt) {
            let start = l.l4_off.saturating_sub(at).min(piece.len());
            let stop = (l.end.saturating_sub(at)).min(piece.len());
            if start < stop {
                let part = checksum::sum(&piece[start..stop], 0);
                s = checksum::add(
                    s,
                    if done % 2 == 1 {
                        checksum::swap(part)
                    } else {
                        part
                    },
                );
                done += stop - start;
            }
            at += piece.len();
        }
        if done != l4_total {
            return Err((
                pkt,
                GsoError::BrokenChain {
                    missing: l4_total - done,
                },
            ));
        }
        let c = final_csum(l.l4, s);
        pool.head_mut(&pkt)[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        pkt.csum = CsumState::Unnecessary;
    }
    pkt.clear_offload();
    match out.push(pkt) {
        Ok(()) => Ok(1),
        Err(p) => Err((p, GsoError::BatchFull { needed: 1, room: 0 })),
    }
}

/// The unchanging inputs of every segment's header rewrite, with the parts
/// of both header checksums that do not change from segment to segment
/// summed once (per segment only the rewritten fields are added).
struct Template {
    layout: Layout,
    mss: usize,
    nseg: usize,
    fixed_id: bool,
    ip_id: u16,
    seq: u32,
    flags: u8,
    /// The TCP data-offset byte (high byte of the flag word).
    doff: u8,
    /// IPv4 header sum with `tot_len`, the checksum and (unless fixed) the ID zeroed.
    ip_base: u32,
    /// Pseudo-header (no length) + L4 header with the checksum and the
    /// per-segment fields (TCP seq and flag word, UDP length) zeroed.
    l4_base: u32,
    /// The input's headers when they fit [`SMALL_HEADERS`] bytes (`None`
    /// otherwise): each segment's copy is then one fixed-size move.
    small: Option<[u8; SMALL_HEADERS]>,
}

/// Headers up to this size (Ethernet + two tags + IPv6 + TCP with 20 bytes
/// of options is 102) are copied to each segment as one fixed-size block.
const SMALL_HEADERS: usize = 128;

impl Template {
    fn new(head: &[u8], l: Layout, mss: usize, nseg: usize, fixed_id: bool) -> Template {
        let mut scratch = [0u8; 60];
        let mut ip_id = 0;
        let mut ip_base = 0;
        if l.l3 == L3::V4 {
            let ip = ipv4::Packet::new_unchecked(&head[l.l3_off..l.l4_off]);
            ip_id = ip.ident();
            // IHL is at most 15 words = 60 bytes.
            let h = &mut scratch[..l.l3_len];
            h.copy_from_slice(&head[l.l3_off..l.l4_off]);
            let mut ip = ipv4::Packet::new_unchecked(&mut h[..]);
            ip.set_total_len(0);
            ip.set_checksum(0);
            if !fixed_id {
                ip.set_ident(0);
            }
            ip_base = checksum::sum(h, 0);
        }
        let l4_hdr = &head[l.l4_off..l.payload_off];
        // TCP data offset is at most 15 words = 60 bytes; UDP is 8.
        let h = &mut scratch[..l4_hdr.len()];
        h.copy_from_slice(l4_hdr);
        let (mut seq, mut flags, mut doff) = (0, 0, 0);
        match l.l4 {
            L4::Tcp => {
                let mut t = tcp::Packet::new_unchecked(&mut h[..]);
                (seq, flags, doff) = (t.seq(), t.flags(), h_doff(t.flag_word()));
                t.set_seq(0);
                t.set_checksum(0);
                t.set_flags(0);
                // The data-offset byte shares a 16-bit word with the flags.
                h[tcp::FLAG_WORD_OFFSET] = 0;
            }
            L4::Udp => {
                let mut u = udp::Packet::new_unchecked(&mut h[..]);
                u.set_len(0);
                u.set_checksum(0);
            }
        }
        let l4_base = checksum::sum(h, pseudo_base(head, &l));
        let hdr = l.header_len();
        let small = (hdr <= SMALL_HEADERS).then(|| {
            let mut b = [0u8; SMALL_HEADERS];
            b[..hdr].copy_from_slice(&head[..hdr]);
            b
        });
        Template {
            small,
            layout: l,
            mss,
            nseg,
            fixed_id,
            ip_id,
            seq,
            flags,
            doff,
            ip_base,
            l4_base,
        }
    }

    /// Copies the input's headers (at `head_off` of frame `head_idx`) to the
    /// start of `f0`'s window, headroom `hr`.
    #[inline]
    fn copy_headers<M: FrameMemory>(
        &self,
        pool: &mut FramePool<M>,
        head_idx: u32,
        head_off: usize,
        f0: &Frame,
    ) {
        let hr = pool.headroom() as usize;
        let hdr = self.layout.header_len();
        let buf = pool.frame_mut(f0);
        match (&self.small, buf.get_mut(hr..hr + SMALL_HEADERS)) {
            // Bytes past the headers land outside the window: they are never read.
            (Some(b), Some(dst)) => dst.copy_from_slice(b),
            _ => pool
                .memory_mut()
                .copy_between(head_idx, head_off, f0.index(), hr, hdr),
        }
    }

    /// Rewrites the copied headers `h` (frame start .. payload) for segment
    /// `i` carrying `pay` payload bytes, and returns the L4 checksum partial
    /// sum over pseudo-header + L4 header.
    fn patch(&self, h: &mut [u8], i: usize, pay: usize) -> u32 {
        let l = &self.layout;
        let l4_len = l.l4_len() + pay;
        // An IP packet is at most 65535 bytes, so every length here fits 16 bits.
        let l4_len16 = l4_len as u16;
        match l.l3 {
            L3::V4 => {
                let tot = (l.l3_len + l4_len) as u16;
                let mut ip = ipv4::Packet::new_unchecked(&mut h[l.l3_off..l.l4_off]);
                ip.set_total_len(tot);
                let mut sum = self.ip_base + u32::from(tot);
                if !self.fixed_id {
                    // inet_gso_segment: id++ per segment, wrapping at 2^16.
                    let id = self.ip_id.wrapping_add(i as u16);
                    ip.set_ident(id);
                    sum += u32::from(id);
                }
                ip.set_checksum(checksum::finish(sum));
            }
            L3::V6 => {
                let mut ip = ipv6::Packet::new_unchecked(&mut h[l.l3_off..l.l4_off]);
                ip.set_payload_len((l.l3_len - ipv6::HEADER_LEN + l4_len) as u16);
            }
        }
        // Pseudo-header length (RFC 793/8200), then the rewritten L4 fields.
        let mut sum = self.l4_base + u32::from(l4_len16);
        match l.l4 {
            L4::Tcp => {
                let seq = self.seq.wrapping_add((i * self.mss) as u32);
                let mut flags = self.flags;
                // tcp_gso_segment: FIN and PSH only on the last segment ...
                if i + 1 < self.nseg {
                    flags &= !(tcp::FIN | tcp::PSH);
                }
                // ... and CWR only on the first.
                if i > 0 {
                    flags &= !tcp::CWR;
                }
                let mut t = tcp::Packet::new_unchecked(&mut h[l.l4_off..]);
                t.set_seq(seq);
                t.set_flags(flags);
                t.set_checksum(0);
                sum += (seq >> 16)
                    + (seq & 0xffff)
                    + u32::from(u16::from_be_bytes([self.doff, flags]));
            }
            L4::Udp => {
                let mut u = udp::Packet::new_unchecked(&mut h[l.l4_off..]);
                u.set_len(l4_len16);
                u.set_checksum(0);
                sum += u32::from(l4_len16);
            }
        }
        sum
    }
}

/// The data-offset byte of a TCP flag word (offset 12..16: doff, flags, window).
const fn h_doff(flag_word: u32) -> u8 {
    (flag_word >> 24) as u8
}

/// Where the next payload byte of the input chain is.
struct Cursor {
    idx: u32,
    off: usize,
    left: usize,
}

impl Cursor {
    /// Moves to the start of the next chain entry; false at the end of the chain.
    #[inline]
    fn advance<M: FrameMemory>(&mut self, pool: &FramePool<M>) -> bool {
        let next = pool.next_of(self.idx);
        if next == NIL {
            return false;
        }
        let (off, len) = pool.window_at(next);
        *self = Cursor {
            idx: next,
            off: off as usize,
            left: len as usize,
        };
        true
    }
}

fn write_segments<M: FrameMemory>(
    pool: &mut FramePool<M>,
    pkt: &Packet,
    plan: &Plan,
    opts: GsoOptions,
    out: &mut Batch,
) -> Result<usize, GsoError> {
    let l = plan.layout;
    let hdr = l.header_len();
    let head_idx = pkt.head_frame().index();
    let (head_off, head_len) = pool.window_at(head_idx);
    let (head_off, head_len) = (head_off as usize, head_len as usize);
    // inet_gso_segment takes FIXEDID from the packet's gso_type; the option adds to it.
    let fixed_id = opts.fixed_id || pkt.gso_fixed_id;
    let t = Template::new(pool.head(pkt), l, plan.mss, plan.nseg, fixed_id);
    let mut cur = Cursor {
        idx: head_idx,
        off: head_off + hdr,
        left: head_len - hdr,
    };
    let mut remaining = l.payload_len();
    for i in 0..plan.nseg {
        let pay = remaining.min(plan.mss);
        let built = if plan.borrow {
            borrow_segment(pool, &t, head_idx, head_off, &mut cur, i, pay)
        } else {
            build_segment(pool, &t, head_idx, head_off, &mut cur, i, pay)
        };
        let seg = match built {
            Ok(seg) => seg,
            Err(e) => {
                rollback(pool, out, i);
                return Err(e);
            }
        };
        if let Err(seg) = out.push(seg) {
            pool.release(seg);
            rollback(pool, out, i);
            return Err(GsoError::BatchFull {
                needed: plan.nseg,
                room: 0,
            });
        }
        remaining -= pay;
    }
    Ok(plan.nseg)
}

/// Takes back the `n` segments already pushed (failure after the checks:
/// only reachable if the pool or batch changed under us).
fn rollback<M: FrameMemory>(pool: &mut FramePool<M>, out: &mut Batch, n: usize) {
    for _ in 0..n {
        if let Some(p) = out.pop() {
            pool.release(p);
        }
    }
}

/// Writes segment `i` (headers + `pay` payload bytes from the cursor) into
/// fresh frames; its L4 checksum is summed while the payload is copied.
fn build_segment<M: FrameMemory>(
    pool: &mut FramePool<M>,
    t: &Template,
    head_idx: u32,
    head_off: usize,
    cur: &mut Cursor,
    i: usize,
    pay: usize,
) -> Result<Packet, GsoError> {
    let l = &t.layout;
    let hdr = l.header_len();
    let hr = pool.headroom() as usize;
    let cap = pool.frame_capacity();
    let first_len = (hdr + pay).min(cap);

    let f0 = pool.alloc().ok_or(GsoError::PoolExhausted)?;
    let f0_idx = f0.index();
    // hr + first_len <= frame size by construction of frame_capacity.
    let _ = pool.set_window(&f0, hr as u32, first_len as u32);
    t.copy_headers(pool, head_idx, head_off, &f0);
    let hsum = t.patch(&mut pool.frame_mut(&f0)[hr..hr + hdr], i, pay);
    let mut seg = Packet::from_frame(f0, first_len as u32);
    seg.csum = CsumState::Unnecessary;

    let mut psum = 0u32;
    let mut done = 0usize;
    let (mut dst_idx, mut dst_off, mut dst_left) = (f0_idx, hr + hdr, first_len - hdr);
    loop {
        while dst_left > 0 {
            if cur.left == 0 {
                if !cur.advance(pool) {
                    pool.release(seg);
                    return Err(GsoError::BrokenChain {
                        missing: pay - done,
                    });
                }
                continue;
            }
            let n = dst_left.min(cur.left);
            let src = pool.backing(cur.idx);
            let mem = pool.memory_mut();
            let s = mem.copy_sum_between(src, cur.off, dst_idx, dst_off, n);
            // A piece that starts at an odd payload offset sums byte-swapped (RFC 1071 §2B).
            psum = checksum::add(psum, if done % 2 == 1 { checksum::swap(s) } else { s });
            done += n;
            dst_off += n;
            dst_left -= n;
            cur.off += n;
            cur.left -= n;
        }
        if done == pay {
            break;
        }
        // Headers + payload exceed one frame: continue in a chained frame.
        let Some(f) = pool.alloc() else {
            pool.release(seg);
            return Err(GsoError::PoolExhausted);
        };
        let len = (pay - done).min(cap);
        let _ = pool.set_window(&f, hr as u32, len as u32);
        (dst_idx, dst_off, dst_left) = (f.index(), hr, len);
        pool.append(&mut seg, f);
    }

    let c = final_csum(l.l4, checksum::add(hsum, psum));
    let at = hr + l.l4_off + l4_csum_offset(l.l4);
    pool.frame_mut(seg.head_frame())[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(seg)
}

/// Segment `i` as a fresh header frame followed by borrowed windows of the
/// input's payload (`pay` bytes from the cursor), its L4 checksum summed over
/// the borrowed bytes in place.
fn borrow_segment<M: FrameMemory>(
    pool: &mut FramePool<M>,
    t: &Template,
    head_idx: u32,
    head_off: usize,
    cur: &mut Cursor,
    i: usize,
    pay: usize,
) -> Result<Packet, GsoError> {
    let l = &t.layout;
    let hdr = l.header_len();
    let hr = pool.headroom() as usize;

    // hr + hdr <= frame size: `plan` checked hdr against frame_capacity.
    let f0 = pool
        .alloc_window(hr as u32, hdr as u32)
        .map_err(|_| GsoError::PoolExhausted)?;
    let mut seg = Packet::from_frame(f0, hdr as u32);
    seg.csum = CsumState::Unnecessary;

    // The payload first (the header frame holds only headers, so the order is
    // free), then the headers and both checksums in one pass over the frame.
    let mut psum = 0u32;
    let mut done = 0usize;
    while done < pay {
        if cur.left == 0 {
            if !cur.advance(pool) {
                pool.release(seg);
                return Err(GsoError::BrokenChain {
                    missing: pay - done,
                });
            }
            continue;
        }
        let n = (pay - done).min(cur.left);
        let Some(piece) = pool.borrow_onto(&mut seg, cur.idx, cur.off as u32, n as u32) else {
            pool.release(seg);
            return Err(GsoError::PoolExhausted);
        };
        let s = checksum::sum(piece, 0);
        // A piece that starts at an odd payload offset sums byte-swapped (RFC 1071 §2B).
        psum = checksum::add(psum, if done % 2 == 1 { checksum::swap(s) } else { s });
        done += n;
        cur.off += n;
        cur.left -= n;
    }

    let f0 = seg.head_frame();
    let finish = |h: &mut [u8]| {
        let hsum = t.patch(h, i, pay);
        let c = final_csum(l.l4, checksum::add(hsum, psum));
        let at = l.l4_off + l4_csum_offset(l.l4);
        h[at..at + 2].copy_from_slice(&c.to_be_bytes());
    };
    match (&t.small, pool.frame_mut(f0).get_mut(hr..hr + SMALL_HEADERS)) {
        // Bytes past the headers land outside the window: they are never read.
        (Some(b), Some(dst)) => {
            dst.copy_from_slice(b);
            finish(&mut dst[..hdr]);
        }
        _ => {
            let f0_idx = f0.index();
            pool.memory_mut()
                .copy_between(head_idx, head_off, f0_idx, hr, hdr);
            finish(&mut pool.frame_mut(seg.head_frame())[hr..hr + hdr]);
        }
    }
    Ok(seg)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::dissect;
    use proptest::prelude::*;

    /// What a test super-frame looks like.
    #[derive(Debug, Clone)]
    pub(crate) struct Spec {
        pub v6: bool,
        pub udp: bool,
        /// 802.1Q tags (the outer one 802.1ad when there are two).
        pub vlans: u8,
        /// TCP option bytes (a multiple of 4, at most 40).
        pub tcp_opts: Vec<u8>,
        /// IPv6 extension headers: (next-header type, 8-byte units - 1).
        pub ext: Vec<(u8, u8)>,
        pub flags: u8,
        pub seq: u32,
        pub ack: u32,
        pub window: u16,
        pub urg: u16,
        pub id: u16,
        pub df: bool,
        pub tos: u8,
        pub ttl: u8,
        pub payload: Vec<u8>,
        /// Link padding after the IP packet.
        pub pad: usize,
        /// Write a valid L4 checksum instead of garbage (GSO must not trust it either way).
        pub valid_csum: bool,
    }

    impl Spec {
        pub(crate) fn new(v6: bool, udp: bool, payload: usize) -> Spec {
            Spec {
                v6,
                udp,
                vlans: 0,
                tcp_opts: Vec::new(),
                ext: Vec::new(),
                flags: tcp::ACK,
                seq: 0x1000_0000,
                ack: 0x2000_0000,
                window: 501,
                urg: 0,
                id: 0x1234,
                df: true,
                tos: 0,
                ttl: 64,
                payload: (0..payload).map(|i| (i * 7 + 3) as u8).collect(),
                pad: 0,
                valid_csum: false,
            }
        }

        /// The frame; its L4 checksum is deliberately garbage (GSO must not trust it).
        pub(crate) fn build(&self) -> Vec<u8> {
            let mut f = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02];
            let tags: &[u16] = match self.vlans {
                0 => &[],
                1 => &[0x8100],
                _ => &[0x88a8, 0x8100],
            };
            for (k, tpid) in tags.iter().enumerate() {
                f.extend_from_slice(&tpid.to_be_bytes());
                f.extend_from_slice(&(100 + k as u16).to_be_bytes());
            }
            f.extend_from_slice(&(if self.v6 { 0x86ddu16 } else { 0x0800 }).to_be_bytes());
            let proto = if self.udp {
                ipv4::PROTO_UDP
            } else {
                ipv4::PROTO_TCP
            };
            let l4_hdr = if self.udp {
                8
            } else {
                20 + self.tcp_opts.len()
            };
            let l4_len = l4_hdr + self.payload.len();
            let l3_off = f.len();
            if self.v6 {
                let ext_len: usize = self
                    .ext
                    .iter()
                    .map(|&(_, n)| (usize::from(n) + 1) * 8)
                    .sum();
                let mut h = [0u8; 40];
                let first = self.ext.first().map_or(proto, |&(t, _)| t);
                {
                    let mut ip = ipv6::Packet::new_unchecked(&mut h[..]);
                    ip.set_ver_tc_flow(self.tos, 0x5_4321);
                    ip.set_payload_len((ext_len + l4_len) as u16);
                    ip.set_next_header(first);
                    ip.set_hop_limit(self.ttl);
                    ip.set_src([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                    ip.set_dst([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
                }
                f.extend_from_slice(&h);
                for (k, &(_, n)) in self.ext.iter().enumerate() {
                    let next = self.ext.get(k + 1).map_or(proto, |&(t, _)| t);
                    let mut e = vec![0u8; (usize::from(n) + 1) * 8];
                    e[0] = next;
                    e[1] = n;
                    // PadN filling the rest for options headers; a harmless pattern otherwise.
                    e[2] = 1;
                    e[3] = (e.len() - 4) as u8;
                    f.extend_from_slice(&e);
                }
            } else {
                let mut h = [0u8; 20];
                {
                    let mut ip = ipv4::Packet::new_unchecked(&mut h[..]);
                    ip.set_header_len(20);
                    ip.set_tos(self.tos);
                    ip.set_total_len((20 + l4_len) as u16);
                    ip.set_ident(self.id);
                    ip.set_flags(self.df);
                    ip.set_ttl(self.ttl);
                    ip.set_protocol(proto);
                    ip.set_src([198, 18, 0, 1]);
                    ip.set_dst([198, 19, 0, 2]);
                    ip.fill_checksum();
                }
                f.extend_from_slice(&h);
            }
            let _ = l3_off;
            if self.udp {
                let mut h = [0u8; 8];
                let mut u = udp::Packet::new_unchecked(&mut h[..]);
                u.set_src_port(4000);
                u.set_dst_port(5000);
                u.set_len(l4_len as u16);
                u.set_checksum(0xdead);
                f.extend_from_slice(&h);
            } else {
                let mut h = vec![0u8; 20 + self.tcp_opts.len()];
                {
                    let mut t = tcp::Packet::new_unchecked(&mut h[..]);
                    t.set_src_port(40000);
                    t.set_dst_port(80);
                    t.set_seq(self.seq);
                    t.set_ack(self.ack);
                    t.set_header_len(20 + self.tcp_opts.len());
                    t.set_flags(self.flags);
                    t.set_window(self.window);
                    t.set_checksum(0xbeef);
                    t.set_urg_ptr(self.urg);
                }
                h[20..].copy_from_slice(&self.tcp_opts);
                f.extend_from_slice(&h);
            }
            f.extend_from_slice(&self.payload);
            if self.valid_csum {
                let l = dissect(&f).expect("test frame parses");
                let at = l.l4_off + if self.udp { 6 } else { 16 };
                f[at..at + 2].copy_from_slice(&[0, 0]);
                let c = !(fold_naive(l4_sum(&f, &l)) as u16);
                let c = if self.udp && c == 0 { 0xffff } else { c };
                f[at..at + 2].copy_from_slice(&c.to_be_bytes());
            }
            f.extend(std::iter::repeat_n(0xa5u8, self.pad));
            f
        }
    }

    /// Naive ones'-complement sum (reference for the checks, independent of `checksum::sum`).
    fn naive(data: &[u8], mut s: u32) -> u32 {
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        s
    }

    fn fold_naive(s: u32) -> u32 {
        (s & 0xffff) + (s >> 16)
    }

    /// Pseudo-header + L4 segment sum (plain IPv6 destination), naive.
    fn l4_sum(f: &[u8], l: &Layout) -> u32 {
        let l4 = &f[l.l4_off..l.end];
        let proto = if l.l4 == L4::Tcp { 6 } else { 17 };
        let pseudo = match l.l3 {
            L3::V4 => naive(&f[l.l3_off + 12..l.l3_off + 20], proto + l4.len() as u32),
            L3::V6 => naive(&f[l.l3_off + 8..l.l3_off + 40], proto + l4.len() as u32),
        };
        naive(l4, pseudo)
    }

    /// Asserts a frame re-parses and carries valid IP and L4 checksums; returns its layout.
    pub(crate) fn assert_valid(f: &[u8]) -> Layout {
        let l = dissect(f).expect("segment re-parses");
        assert_eq!(l.end, f.len(), "no padding in a segment");
        let l4 = &f[l.l4_off..l.end];
        if l.l3 == L3::V4 {
            assert_eq!(
                naive(&f[l.l3_off..l.l4_off], 0),
                0xffff,
                "IPv4 header checksum"
            );
        }
        assert_eq!(l4_sum(f, &l), 0xffff, "L4 checksum");
        if l.l4 == L4::Udp {
            assert_ne!(&l4[6..8], &[0, 0], "UDP checksum 0 is sent as 0xffff");
        }
        l
    }

    fn bytes_of<M: FrameMemory>(pool: &FramePool<M>, p: &Packet) -> Vec<u8> {
        let mut v = Vec::new();
        pool.copy_out(p, &mut v);
        v
    }

    const POOL_FRAMES: u32 = 8192;

    /// Segments `frame` from a pool of `frames` × `frame_size` and returns the
    /// segment bytes; checks that releasing everything restores the pool.
    /// Runs twice, copying the payload and borrowing it, and checks that both
    /// give the same bytes.
    fn run(frame: &[u8], frame_size: usize, opts: GsoOptions) -> Result<Vec<Vec<u8>>, GsoError> {
        let copied = run_with(frame, frame_size, opts, 0);
        let borrowed = run_with(frame, frame_size, opts, POOL_FRAMES);
        assert_eq!(copied, borrowed, "borrowed segments equal copied ones");
        copied
    }

    fn run_with(
        frame: &[u8],
        frame_size: usize,
        opts: GsoOptions,
        slots: u32,
    ) -> Result<Vec<Vec<u8>>, GsoError> {
        let mut pool = FramePool::heap_borrowing(POOL_FRAMES, frame_size, slots);
        let mut out = Batch::with_capacity(POOL_FRAMES as usize);
        let pkt = pool.packet_from(frame).unwrap();
        let r = segment(&mut pool, pkt, opts, &mut out);
        let res = match r {
            Ok(n) => {
                assert_eq!(n, out.len());
                let segs: Vec<Vec<u8>> = out.iter().map(|p| bytes_of(&pool, p)).collect();
                for p in out.iter() {
                    // A pass-through keeps its checksum state (None here).
                    assert_eq!(
                        p.csum,
                        if n > 1 {
                            CsumState::Unnecessary
                        } else {
                            CsumState::None
                        }
                    );
                    assert_eq!((p.gso_size, p.gso_segs, p.gso_type), (0, 0, GsoType::None));
                }
                Ok(segs)
            }
            Err((p, e)) => {
                assert!(out.is_empty(), "nothing pushed on error");
                assert_eq!(bytes_of(&pool, &p), frame, "packet comes back unchanged");
                pool.release(p);
                Err(e)
            }
        };
        for p in out.drain() {
            pool.release(p);
        }
        assert_eq!(
            pool.free_count(),
            POOL_FRAMES as usize,
            "every frame back in the pool"
        );
        assert_eq!(pool.free_borrow_slots(), slots as usize, "every slot back");
        assert_eq!((pool.pinned_count(), pool.held_count()), (0, 0));
        res
    }

    fn mss(m: u16) -> GsoOptions {
        GsoOptions {
            mss: Some(m),
            fixed_id: false,
        }
    }

    /// Segments and checks every invariant against the spec; returns the segments.
    pub(crate) fn check_segments(spec: &Spec, segs: &[Vec<u8>], m: usize, fixed_id: bool) {
        let n = spec.payload.len().div_ceil(m).max(1);
        assert_eq!(segs.len(), n);
        let input = spec.build();
        let il = dissect(&input).unwrap();
        let mut payload = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let l = assert_valid(s);
            assert_eq!(l.header_len(), il.header_len());
            let pay = &s[l.payload_off..];
            if i + 1 < n {
                assert_eq!(pay.len(), m, "only the last segment may be short");
            }
            payload.extend_from_slice(pay);
            // Ethernet + VLAN bytes are copied.
            assert_eq!(&s[..il.l3_off], &input[..il.l3_off]);
            match l.l3 {
                L3::V4 => {
                    let ip = ipv4::Packet::new_unchecked(&s[l.l3_off..]);
                    let want = if fixed_id {
                        spec.id
                    } else {
                        spec.id.wrapping_add(i as u16)
                    };
                    assert_eq!(ip.ident(), want, "IPv4 ID of segment {i}");
                    assert_eq!(ip.dont_frag(), spec.df);
                    assert_eq!((ip.tos(), ip.ttl()), (spec.tos, spec.ttl));
                    assert_eq!(usize::from(ip.total_len()), s.len() - l.l3_off);
                }
                L3::V6 => {
                    let ip = ipv6::Packet::new_unchecked(&s[l.l3_off..]);
                    assert_eq!(usize::from(ip.payload_len()), s.len() - l.l3_off - 40);
                    // Version/class/flow, next header, hop limit, addresses, extension headers copied.
                    assert_eq!(&s[l.l3_off..l.l3_off + 4], &input[il.l3_off..il.l3_off + 4]);
                    assert_eq!(&s[l.l3_off + 6..l.l4_off], &input[il.l3_off + 6..il.l4_off]);
                }
            }
            match l.l4 {
                L4::Tcp => {
                    let t = tcp::Packet::new_unchecked(&s[l.l4_off..]);
                    assert_eq!(t.seq(), spec.seq.wrapping_add((i * m) as u32));
                    let mut want = spec.flags;
                    if i + 1 < n {
                        want &= !(tcp::FIN | tcp::PSH);
                    }
                    if i > 0 {
                        want &= !tcp::CWR;
                    }
                    assert_eq!(t.flags(), want, "flags of segment {i}");
                    assert_eq!(
                        (t.ack(), t.window(), t.urg_ptr()),
                        (spec.ack, spec.window, spec.urg)
                    );
                    assert_eq!(t.options(), &spec.tcp_opts[..]);
                    assert_eq!(
                        &s[l.l4_off..l.l4_off + 4],
                        &input[il.l4_off..il.l4_off + 4],
                        "ports"
                    );
                }
                L4::Udp => {
                    let u = udp::Packet::new_unchecked(&s[l.l4_off..]);
                    assert_eq!(usize::from(u.len()), 8 + pay.len());
                    assert_eq!((u.src_port(), u.dst_port()), (4000, 5000));
                }
            }
        }
        assert_eq!(payload, spec.payload, "payload concatenation");
    }

    #[test]
    fn tcp4_flags_seq_ids_checksums() {
        let mut spec = Spec::new(false, false, 3000);
        spec.flags = tcp::FIN | tcp::PSH | tcp::CWR | tcp::ECE | tcp::URG | tcp::ACK;
        spec.urg = 7;
        spec.tos = 0xb9;
        spec.ttl = 3;
        spec.tcp_opts = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        let segs = run(&spec.build(), 2048, mss(1000)).unwrap();
        check_segments(&spec, &segs, 1000, false);
        let flags: Vec<u8> = segs.iter().map(|s| s[14 + 20 + 13]).collect();
        let base = tcp::ECE | tcp::URG | tcp::ACK;
        assert_eq!(
            flags,
            vec![base | tcp::CWR, base, base | tcp::FIN | tcp::PSH]
        );
    }

    #[test]
    fn tcp_rst_syn_copied_to_every_segment() {
        let mut spec = Spec::new(false, false, 250);
        spec.flags = tcp::SYN | tcp::RST | tcp::ACK;
        let segs = run(&spec.build(), 2048, mss(100)).unwrap();
        check_segments(&spec, &segs, 100, false);
        assert!(segs
            .iter()
            .all(|s| s[14 + 20 + 13] == tcp::SYN | tcp::RST | tcp::ACK));
    }

    #[test]
    fn tcp6_extension_headers_and_two_vlans() {
        let mut spec = Spec::new(true, false, 5000);
        spec.vlans = 2;
        spec.ext = vec![(ipv6::NEXT_HOP_BY_HOP, 0), (ipv6::NEXT_DEST_OPTS, 1)];
        spec.flags = tcp::PSH | tcp::ACK;
        spec.tos = 0x2e;
        let segs = run(&spec.build(), 4096, mss(1440)).unwrap();
        check_segments(&spec, &segs, 1440, false);
        assert_eq!(segs.len(), 4);
        assert_eq!(segs[0][..22], spec.build()[..22]);
    }

    #[test]
    fn one_vlan_udp4() {
        let mut spec = Spec::new(false, true, 4000);
        spec.vlans = 1;
        let segs = run(&spec.build(), 2048, mss(1472)).unwrap();
        check_segments(&spec, &segs, 1472, false);
    }

    #[test]
    fn fixed_id_keeps_the_first_id() {
        let spec = Spec::new(false, false, 4000);
        let segs = run(
            &spec.build(),
            2048,
            GsoOptions {
                mss: Some(1000),
                fixed_id: true,
            },
        )
        .unwrap();
        check_segments(&spec, &segs, 1000, true);
        // Also without DF: this kernel no longer refuses FIXEDID when DF is clear.
        let mut spec = Spec::new(false, true, 4000);
        spec.df = false;
        let segs = run(
            &spec.build(),
            2048,
            GsoOptions {
                mss: Some(1000),
                fixed_id: true,
            },
        )
        .unwrap();
        check_segments(&spec, &segs, 1000, true);
    }

    #[test]
    fn an_aggregate_with_fixed_ids_keeps_them() {
        let spec = Spec::new(false, false, 3000);
        let mut pool = FramePool::heap(16, 2048);
        let mut out = Batch::with_capacity(8);
        let mut pkt = pool.packet_from(&spec.build()).unwrap();
        pkt.gso_size = 1000;
        pkt.gso_type = GsoType::TcpV4;
        pkt.gso_fixed_id = true;
        assert_eq!(
            segment(&mut pool, pkt, GsoOptions::default(), &mut out).ok(),
            Some(3)
        );
        let segs: Vec<Vec<u8>> = out.iter().map(|p| bytes_of(&pool, p)).collect();
        check_segments(&spec, &segs, 1000, true);
        assert!(out.iter().all(|p| !p.gso_fixed_id));
        for p in out.drain() {
            pool.release(p);
        }
        assert_eq!(pool.free_count(), 16);
    }

    #[test]
    fn ipv4_id_wraps_at_0xffff() {
        for udp in [false, true] {
            let mut spec = Spec::new(false, udp, 30);
            spec.id = 0xfffe;
            let segs = run(&spec.build(), 2048, mss(10)).unwrap();
            check_segments(&spec, &segs, 10, false);
            let ids: Vec<u16> = segs
                .iter()
                .map(|s| u16::from_be_bytes([s[18], s[19]]))
                .collect();
            assert_eq!(ids, vec![0xfffe, 0xffff, 0x0000]);
        }
    }

    #[test]
    fn tcp_seq_wraps() {
        let mut spec = Spec::new(true, false, 300);
        spec.seq = u32::MAX - 150;
        let segs = run(&spec.build(), 2048, mss(100)).unwrap();
        check_segments(&spec, &segs, 100, false);
    }

    #[test]
    fn udp_checksum_zero_is_sent_as_ffff() {
        for v6 in [false, true] {
            // Choose the first datagram's 2 payload bytes so its checksum computes to 0.
            let mut spec = Spec::new(v6, true, 4);
            spec.payload = vec![0, 0, 9, 9];
            let segs = run(&spec.build(), 2048, mss(2)).unwrap();
            let s = &segs[0];
            let l = dissect(s).unwrap();
            let mut zeroed = s.clone();
            zeroed[l.l4_off + 6..l.l4_off + 8].copy_from_slice(&[0, 0]);
            let pseudo = match l.l3 {
                L3::V4 => naive(&zeroed[l.l3_off + 12..l.l3_off + 20], 17 + 10),
                L3::V6 => naive(&zeroed[l.l3_off + 8..l.l3_off + 40], 17 + 10),
            };
            let partial = naive(&zeroed[l.l4_off..], pseudo);
            let w = 0xffff - partial as u16;
            spec.payload[..2].copy_from_slice(&w.to_be_bytes());
            let segs = run(&spec.build(), 2048, mss(2)).unwrap();
            let l = dissect(&segs[0]).unwrap();
            assert_eq!(&segs[0][l.l4_off + 6..l.l4_off + 8], &[0xff, 0xff]);
            check_segments(&spec, &segs, 2, false);
        }
    }

    #[test]
    fn link_padding_is_ignored() {
        for udp in [false, true] {
            let mut spec = Spec::new(false, udp, 25);
            spec.pad = 31;
            let segs = run(&spec.build(), 2048, mss(10)).unwrap();
            check_segments(&spec, &segs, 10, false);
        }
    }

    #[test]
    fn chained_input_and_output_spanning_frames() {
        // Input chained over 128-byte frames; segments (54 + 1000 bytes) span 256-byte frames.
        let spec = Spec::new(false, false, 3500);
        let frame = spec.build();
        let mut pool = FramePool::heap(512, 128);
        let pkt = pool.packet_from(&frame).unwrap();
        assert!(pkt.nframes() > 20);
        // Segment from a pool whose output frames are 256 bytes: re-home the chain first.
        let mut pool2 = FramePool::heap(512, 256);
        let mut out = Batch::with_capacity(8);
        pool.release(pkt);
        let pkt = pool2.packet_from(&frame).unwrap();
        let n = segment(&mut pool2, pkt, mss(1000), &mut out).unwrap();
        assert_eq!(n, 4);
        let segs: Vec<Vec<u8>> = out.iter().map(|p| bytes_of(&pool2, p)).collect();
        assert_eq!(out.get(0).unwrap().nframes(), 5);
        check_segments(&spec, &segs, 1000, false);
        for p in out.drain() {
            pool2.release(p);
        }
        assert_eq!(pool2.free_count(), 512);
        // Small input frames (128) with the same pool for output: segments span 9 frames.
        let segs = run(&frame, 128, mss(1000)).unwrap();
        check_segments(&spec, &segs, 1000, false);
    }

    #[test]
    fn every_frame_size_and_mss_combination_small() {
        let spec = Spec::new(true, false, 301);
        let frame = spec.build();
        for fs in [74usize, 75, 77, 100, 101, 333, 2048] {
            for m in [1u16, 2, 3, 7, 100, 150, 300] {
                let segs = run(&frame, fs, mss(m)).unwrap();
                check_segments(&spec, &segs, usize::from(m), false);
            }
        }
    }

    #[test]
    fn headers_not_in_head_frame() {
        let spec = Spec::new(false, false, 500);
        // 40-byte frames: the 54 bytes of headers straddle the head frame.
        assert_eq!(
            run(&spec.build(), 40, mss(100)),
            Err(GsoError::HeaderNotInHead {
                header_len: 54,
                head_len: 40
            })
        );
        // A malformed chained frame is a parse error, not "not in head".
        let mut bad = spec.build();
        bad[14 + 20 + 12] = 0x40; // data offset 16 < 20
        assert!(matches!(
            run(&bad, 40, mss(100)),
            Err(GsoError::Parse(ParseError::TcpHeaderLen { .. }))
        ));
    }

    #[test]
    fn headers_larger_than_an_output_frame() {
        let mut spec = Spec::new(true, false, 500);
        spec.ext = vec![(ipv6::NEXT_DEST_OPTS, 20)];
        // Headers 14 + 40 + 168 + 20 = 242 bytes; input frames 200 bytes: not in head.
        assert_eq!(
            run(&spec.build(), 200, mss(100)),
            Err(GsoError::HeaderNotInHead {
                header_len: 242,
                head_len: 200
            })
        );
        // With headroom eating the frame, the input head holds them but an output frame cannot.
        let mut pool = FramePool::new(crate::pool::HeapMemory::new(64, 300), 100, true);
        let frame = spec.build();
        let mut out = Batch::with_capacity(8);
        let pkt = pool.packet_from(&frame[..]).unwrap();
        // packet_from fills frames to capacity (200): also not in head.
        let (p, e) = segment(&mut pool, pkt, mss(100), &mut out).unwrap_err();
        assert!(matches!(e, GsoError::HeaderNotInHead { .. }));
        pool.release(p);
        assert_eq!(pool.free_count(), 64);
        // Head frame with a full window (no headroom) holds the headers.
        spec.payload.truncate(150);
        let frame = spec.build();
        let f = pool.alloc().unwrap();
        pool.frame_mut(&f)[..frame.len().min(300)].copy_from_slice(&frame[..frame.len().min(300)]);
        pool.set_window(&f, 0, 300).unwrap();
        let mut pkt = Packet::from_frame(f, 300);
        let g = pool.alloc().unwrap();
        let rest = &frame[300..];
        pool.frame_mut(&g)[100..100 + rest.len()].copy_from_slice(rest);
        pool.set_window(&g, 100, rest.len() as u32).unwrap();
        pool.append(&mut pkt, g);
        let (p, e) = segment(&mut pool, pkt, mss(100), &mut out).unwrap_err();
        assert_eq!(
            e,
            GsoError::HeaderTooLarge {
                header_len: 242,
                frame_capacity: 200
            }
        );
        assert_eq!(e.reason(), "header_too_large");
        pool.release(p);
        assert_eq!(pool.free_count(), 64);
    }

    #[test]
    fn not_a_gso_request_passes_through() {
        for (v6, udp) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut spec = Spec::new(v6, udp, 100);
            spec.pad = if v6 { 0 } else { 6 };
            let frame = spec.build();
            assert_eq!(run(&frame, 2048, mss(100)).unwrap(), vec![frame.clone()]);
            assert_eq!(run(&frame, 2048, mss(1000)).unwrap(), vec![frame.clone()]);
            // Zero payload.
            let spec0 = Spec::new(v6, udp, 0);
            assert_eq!(
                run(&spec0.build(), 2048, mss(1)).unwrap(),
                vec![spec0.build()]
            );
        }
    }

    #[test]
    fn pass_through_completes_a_partial_checksum() {
        for (v6, udp, fs) in [
            (false, false, 2048),
            (true, true, 2048),
            (false, true, 64),
            (true, false, 100),
        ] {
            let spec = Spec::new(v6, udp, 333);
            let frame = spec.build();
            let mut pool = FramePool::heap(64, fs);
            let mut out = Batch::with_capacity(4);
            let mut pkt = pool.packet_from(&frame).unwrap();
            pkt.gso_size = 1400;
            pkt.gso_type = if udp {
                GsoType::UdpL4
            } else if v6 {
                GsoType::TcpV6
            } else {
                GsoType::TcpV4
            };
            pkt.csum = CsumState::Partial {
                start: 0,
                offset: 0,
            };
            // Small frames: the L4 segment is summed across the chain.
            assert_eq!(pkt.nframes() > 1, fs < 2048);
            assert_eq!(
                segment(&mut pool, pkt, GsoOptions::default(), &mut out).ok(),
                Some(1)
            );
            let p = out.pop().unwrap();
            assert_eq!(p.csum, CsumState::Unnecessary);
            assert_eq!((p.gso_size, p.gso_type), (0, GsoType::None));
            let bytes = bytes_of(&pool, &p);
            assert_valid(&bytes);
            let l = dissect(&bytes).unwrap();
            let csum_at = l.l4_off + if udp { 6 } else { 16 };
            assert_eq!(bytes[..csum_at], frame[..csum_at]);
            assert_eq!(bytes[csum_at + 2..], frame[csum_at + 2..]);
            pool.release(p);
            assert_eq!(pool.free_count(), 64);
        }
    }

    #[test]
    fn gso_size_is_the_default_mss() {
        let spec = Spec::new(false, false, 3000);
        let mut pool = FramePool::heap(64, 2048);
        let mut out = Batch::with_capacity(8);
        let mut pkt = pool.packet_from(&spec.build()).unwrap();
        pkt.gso_size = 1448;
        pkt.gso_segs = 3;
        pkt.gso_type = GsoType::TcpV4;
        assert_eq!(
            segment(&mut pool, pkt, GsoOptions::default(), &mut out).ok(),
            Some(3)
        );
        let segs: Vec<Vec<u8>> = out.iter().map(|p| bytes_of(&pool, p)).collect();
        check_segments(&spec, &segs, 1448, false);
        // An explicit mss wins over gso_size.
        for p in out.drain() {
            pool.release(p);
        }
        let mut pkt = pool.packet_from(&spec.build()).unwrap();
        pkt.gso_size = 1448;
        assert_eq!(segment(&mut pool, pkt, mss(1000), &mut out).ok(), Some(3));
        for p in out.drain() {
            pool.release(p);
        }
        assert_eq!(pool.free_count(), 64);
    }

    #[test]
    fn error_paths_leave_pool_and_batch_untouched() {
        let tcp4 = Spec::new(false, false, 3000).build();
        assert_eq!(
            run(&tcp4, 2048, GsoOptions::default()),
            Err(GsoError::NoMss)
        );
        assert_eq!(run(&tcp4, 2048, mss(0)), Err(GsoError::MssZero));
        let udp = Spec::new(true, true, 129).build();
        assert_eq!(
            run(&udp, 2048, mss(1)),
            Err(GsoError::TooManySegments {
                segments: 129,
                max: 128
            })
        );
        let mut bad = tcp4.clone();
        bad[14] = 0x44;
        assert_eq!(
            run(&bad, 2048, mss(100)),
            Err(GsoError::Parse(ParseError::Ipv4HeaderLen {
                offset: 14,
                len: 16
            }))
        );
        assert_eq!(
            run(&tcp4[..40], 2048, mss(100)).unwrap_err().reason(),
            "ipv4_total_len"
        );

        // Pool exhausted: 3 segments need 3 frames; only 2 free after the input took its own.
        let mut pool = FramePool::heap(5, 2048);
        let mut out = Batch::with_capacity(8);
        let pkt = pool.packet_from(&tcp4).unwrap();
        let hog = pool.alloc().unwrap();
        let (pkt, e) = segment(&mut pool, pkt, mss(1000), &mut out).unwrap_err();
        assert_eq!(e, GsoError::PoolExhausted);
        assert_eq!(pool.free_count(), 2);
        pool.free(hog);
        // Exactly enough frames now (3 free); the input's 2 come back after.
        assert_eq!(segment(&mut pool, pkt, mss(1000), &mut out).ok(), Some(3));
        assert_eq!(pool.free_count(), 2);
        for p in out.drain() {
            pool.release(p);
        }

        // Batch full: room 2 for 3 segments, with a packet already in the batch.
        let mut out = Batch::with_capacity(3);
        let other = pool.packet_from(&[1, 2, 3]).unwrap();
        out.push(other).unwrap();
        let pkt = pool.packet_from(&tcp4).unwrap();
        let free = pool.free_count();
        let (pkt, e) = segment(&mut pool, pkt, mss(1000), &mut out).unwrap_err();
        assert_eq!(e, GsoError::BatchFull { needed: 3, room: 2 });
        assert_eq!((pool.free_count(), out.len()), (free, 1));
        // A pass-through needs one slot too.
        out.push(pool.packet_from(&[4]).unwrap()).unwrap();
        out.push(pool.packet_from(&[5]).unwrap()).unwrap();
        let (pkt, e) = segment(&mut pool, pkt, mss(3000), &mut out).unwrap_err();
        assert_eq!(e, GsoError::BatchFull { needed: 1, room: 0 });
        pool.release(pkt);
        for p in out.drain() {
            pool.release(p);
        }
        assert_eq!(pool.free_count(), 5);

        // gso_type that does not match the packet.
        let mut pool = FramePool::heap(8, 2048);
        let mut out = Batch::with_capacity(8);
        for (frame, t) in [
            (&tcp4, GsoType::TcpV6),
            (&tcp4, GsoType::UdpL4),
            (&udp, GsoType::TcpV4),
        ] {
            let mut pkt = pool.packet_from(frame).unwrap();
            pkt.gso_type = t;
            let (pkt, e) = segment(&mut pool, pkt, mss(100), &mut out).unwrap_err();
            assert_eq!(e.reason(), "gso_type_mismatch");
            pool.release(pkt);
        }
        assert_eq!(pool.free_count(), 8);
    }

    #[test]
    fn a_chain_shorter_than_its_length_rolls_back() {
        // Corrupt the accounting on purpose (only possible inside the crate):
        // the tail frame holds 500 bytes fewer than the packet length says.
        let spec = Spec::new(false, false, 3000);
        let frame = spec.build();
        for (m, partial, slots) in [(1000u16, false, 0), (4000, true, 0), (1000, false, 64)] {
            let mut pool = FramePool::heap_borrowing(16, 1024, slots);
            let mut out = Batch::with_capacity(8);
            out.push(pool.packet_from(&[9; 10]).unwrap()).unwrap();
            let mut pkt = pool.packet_from(&frame).unwrap();
            if partial {
                pkt.csum = CsumState::Partial {
                    start: 0,
                    offset: 0,
                };
            }
            let tail = crate::pool::Frame::from_index(pkt.tail);
            let (off, len) = pool.window(&tail);
            pool.set_window(&tail, off, len - 500).unwrap();
            let free = pool.free_count();
            let (p, e) = segment(&mut pool, pkt, mss(m), &mut out).unwrap_err();
            assert_eq!(e.reason(), "broken_chain");
            assert_eq!(
                pool.free_count(),
                free,
                "segments already built are released"
            );
            assert_eq!(out.len(), 1, "segments already pushed are taken back");
            pool.release(p);
            for p in out.drain() {
                pool.release(p);
            }
            assert_eq!(pool.free_count(), 16);
            assert_eq!(pool.free_borrow_slots(), slots as usize);
            assert_eq!(pool.pinned_count(), 0);
        }
    }

    #[test]
    fn too_few_slots_copies_from_a_chain_of_borrowed_windows() {
        // Segment once borrowing, GRO-free: then cut one of those segments
        // again with too few slots left to borrow, so the copy path reads a
        // chain whose payload is borrowed windows.
        let spec = Spec::new(false, false, 6000);
        let frame = spec.build();
        let mut pool = FramePool::heap_borrowing(64, 2048, 8);
        let mut out = Batch::with_capacity(8);
        let pkt = pool.packet_from(&frame).unwrap();
        assert_eq!(segment(&mut pool, pkt, mss(3000), &mut out).ok(), Some(2));
        let first = out.get(0).unwrap();
        assert!(first.nframes() >= 3, "header frame + borrowed windows");
        let want: Vec<Vec<u8>> = run(&bytes_of(&pool, first), 2048, mss(1000)).unwrap();
        assert_eq!(
            pool.free_borrow_slots(),
            4,
            "4 slots left for 3 segments of a 3-piece chain"
        );
        let mut again = Batch::with_capacity(8);
        let first = out.drain_front(1).next().unwrap();
        assert_eq!(
            segment(&mut pool, first, mss(1000), &mut again).ok(),
            Some(3)
        );
        assert_eq!(
            pool.free_borrow_slots(),
            4 + 2,
            "copied: the first segment's slots came back"
        );
        let got: Vec<Vec<u8>> = again.iter().map(|p| bytes_of(&pool, p)).collect();
        assert_eq!(got, want);
        for p in again.drain().chain(out.drain()) {
            pool.release(p);
        }
        assert_eq!(
            (
                pool.free_count(),
                pool.free_borrow_slots(),
                pool.pinned_count()
            ),
            (64, 8, 0)
        );
    }

    #[test]
    fn messages_say_why() {
        let cases: [(GsoError, &str, &str); 6] = [
            (
                GsoError::NoMss,
                "no_mss",
                "no MSS given and the packet has no gso_size",
            ),
            (
                GsoError::TooManySegments {
                    segments: 129,
                    max: 128,
                },
                "too_many_segments",
                "129 UDP segments exceed the limit of 128 (UDP_MAX_SEGMENTS)",
            ),
            (
                GsoError::BatchFull {
                    needed: 45,
                    room: 3,
                },
                "batch_full",
                "output batch has room for 3 packets, 45 segments needed",
            ),
            (
                GsoError::HeaderNotInHead {
                    header_len: 54,
                    head_len: 40,
                },
                "header_not_in_head",
                "headers (54 bytes) run past the head frame (40 bytes) of a chained packet",
            ),
            (
                GsoError::Parse(ParseError::Ipv4HeaderLen {
                    offset: 14,
                    len: 12,
                }),
                "ipv4_header_len",
                "IPv4 header length 12 < 20 at offset 14",
            ),
            (
                GsoError::GsoTypeMismatch {
                    gso_type: GsoType::TcpV4,
                    l3: L3::V6,
                    l4: L4::Tcp,
                },
                "gso_type_mismatch",
                "gso_type TcpV4 does not match a Tcp over V6 packet",
            ),
        ];
        for (e, reason, msg) in cases {
            assert_eq!(e.reason(), reason);
            assert_eq!(e.to_string(), msg);
        }
        assert_eq!(GsoError::PoolExhausted.reason(), "pool_exhausted");
        assert_eq!(GsoError::MssZero.reason(), "mss_zero");
        assert_eq!(
            GsoError::BrokenChain { missing: 3 }.reason(),
            "broken_chain"
        );
    }

    #[test]
    fn ipv6_routing_header_uses_the_final_destination() {
        // Type 2 routing header (one address), one segment left.
        let mut spec = Spec::new(true, false, 300);
        spec.ext = vec![(ipv6::NEXT_ROUTING, 2)];
        let mut frame = spec.build();
        let rh = 14 + 40;
        frame[rh + 2] = 2; // routing type
        frame[rh + 3] = 1; // segments left
        let final_dst = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
        ];
        frame[rh + 8..rh + 24].copy_from_slice(&final_dst);
        let segs = run(&frame, 2048, mss(100)).unwrap();
        assert_eq!(segs.len(), 3);
        for s in &segs {
            let l = dissect(s).unwrap();
            let l4 = &s[l.l4_off..];
            let p = naive(&s[14 + 8..14 + 24], naive(&final_dst, 6 + l4.len() as u32));
            assert_eq!(naive(l4, p), 0xffff);
        }
        // No segments left: the IPv6 destination is final.
        frame[rh + 3] = 0;
        for s in run(&frame, 2048, mss(100)).unwrap() {
            assert_valid(&s);
        }
        // SRH (type 4): Segment List[0] is the final segment.
        frame[rh + 2] = 4;
        frame[rh + 3] = 1;
        for s in run(&frame, 2048, mss(100)).unwrap() {
            let l = dissect(&s).unwrap();
            let l4 = &s[l.l4_off..];
            let p = naive(&s[14 + 8..14 + 24], naive(&final_dst, 6 + l4.len() as u32));
            assert_eq!(naive(l4, p), 0xffff);
        }
    }

    /// tools/testing/selftests/net/udpgso.c: the same table as frames (MTU 1500).
    #[test]
    fn udpgso_selftest_table() {
        for v6 in [false, true] {
            let mss_c: usize = if v6 { 1500 - 48 } else { 1500 - 28 };
            // ETH_MAX_MTU (65535) bounds the IPv4 packet; IPv6 adds its 40-byte header.
            let max_mtu: usize = if v6 { 65535 + 40 } else { 65535 };
            let hdrlen = if v6 { 48 } else { 28 };
            let max_segs = max_mtu / mss_c;
            // (payload, gso_len (0 = none), full-mss datagrams, last length)
            let table: Vec<(usize, usize, usize, usize)> = vec![
                (1, 0, 0, 1),                           // no GSO: a single byte
                (mss_c, 0, 1, 0),                       // no GSO: a single MSS
                (mss_c, mss_c, 1, 0),                   // a single MSS: falls back to no GSO
                (mss_c + 1, mss_c, 1, 1),               // MSS + 1
                (mss_c * 2, mss_c, 2, 0),               // exactly 2 MSS
                (mss_c * 2 + 1, mss_c, 2, 1),           // 2 MSS + 1
                (max_segs * mss_c, mss_c, max_segs, 0), // MAX segs
                (
                    max_mtu - hdrlen,
                    mss_c,
                    max_segs,
                    max_mtu - hdrlen - max_segs * mss_c,
                ), // MAX bytes
                (1, 1, 1, 0),                           // a single 1-byte MSS: no GSO
                (2, 1, 2, 0),                           // 2 1-byte segments
                (5, 2, 2, 1),                           // 2 + 2 + 1
                (UDP_MAX_SEGMENTS, 1, UDP_MAX_SEGMENTS, 0), // max number of min-sized segments
            ];
            for (tlen, gso, full, last) in table {
                let mut spec = Spec::new(v6, true, tlen);
                spec.valid_csum = true;
                let m = if gso == 0 { mss_c } else { gso };
                let segs = run(&spec.build(), 4096, mss(m as u16)).unwrap();
                let lens: Vec<usize> = segs
                    .iter()
                    .map(|s| dissect(s).unwrap().payload_len())
                    .collect();
                let mut want = vec![m; full];
                if last > 0 {
                    want.push(last);
                }
                assert_eq!(lens, want, "v6={v6} tlen={tlen} gso={gso}");
                check_segments(&spec, &segs, m, false);
            }
            // max number + 1 of min-sized segments: fails.
            let spec = Spec::new(v6, true, UDP_MAX_SEGMENTS + 1);
            assert_eq!(
                run(&spec.build(), 4096, mss(1)),
                Err(GsoError::TooManySegments {
                    segments: 129,
                    max: 128
                })
            );
        }
    }

    fn spec_strategy() -> impl Strategy<Value = (Spec, u16, bool, usize)> {
        (
            (
                any::<bool>(),
                any::<bool>(),
                0u8..=2,
                0usize..=10,
                0usize..3,
            ),
            (
                any::<u8>(),
                any::<u32>(),
                any::<u16>(),
                any::<u16>(),
                any::<bool>(),
                any::<u8>(),
            ),
            proptest::collection::vec(any::<u8>(), 0..4000),
            (
                1u16..2000,
                any::<bool>(),
                prop_oneof![Just(2048usize), Just(4096), 120usize..700],
                0usize..20,
            ),
        )
            .prop_map(
                |(
                    (v6, udp, vlans, opt_words, n_ext),
                    (flags, seq, id, urg, df, tos),
                    payload,
                    (m, fixed, fs, pad),
                )| {
                    let mut spec = Spec::new(v6, udp, 0);
                    spec.vlans = vlans;
                    spec.tcp_opts = (0..opt_words * 4)
                        .map(|i| if i % 4 == 3 { 0 } else { 1 })
                        .collect();
                    spec.ext = (0..n_ext)
                        .map(|k| (if k == 0 { 0 } else { 60 }, k as u8))
                        .collect();
                    spec.flags = flags;
                    spec.seq = seq;
                    spec.id = id;
                    spec.urg = urg;
                    spec.df = df;
                    spec.tos = tos;
                    spec.payload = payload;
                    spec.pad = pad;
                    (spec, m, fixed, fs)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn segments_reparse_with_valid_checksums((spec, m, fixed, fs) in spec_strategy()) {
            let frame = spec.build();
            let r = run(&frame, fs, GsoOptions { mss: Some(m), fixed_id: fixed });
            let hdr = dissect(&frame).unwrap().header_len();
            let n = spec.payload.len().div_ceil(usize::from(m));
            match r {
                Ok(segs) if n <= 1 => prop_assert_eq!(segs, vec![frame]),
                Ok(segs) => check_segments(&spec, &segs, usize::from(m), fixed),
                Err(GsoError::TooManySegments { .. }) => prop_assert!(spec.udp && n > UDP_MAX_SEGMENTS),
                Err(GsoError::HeaderNotInHead { .. }) => prop_assert!(hdr > fs),
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }
}
