//! TCP rules of GRO (`tcp_gro_receive` / `tcp_gro_complete`, Linux 6.18).

use super::flow::Held;
use super::Seg;
use crate::pool::{FrameMemory, FramePool};
use crate::wire::{checksum, tcp, Layout};

/// Flags that end an aggregate (`out_check_final`): URG, PSH, RST, SYN, FIN.
pub(crate) const FLUSH_FLAGS: u8 = tcp::URG | tcp::PSH | tcp::RST | tcp::SYN | tcp::FIN;

/// FIN and PSH in the 32-bit word at TCP offset 12 (doff, flags, window).
const FIN_PSH_WORD: u32 = ((tcp::FIN | tcp::PSH) as u32) << 16;

/// The TCP flags byte of a dissected frame.
pub(crate) fn flags(frame: &[u8], lay: &Layout) -> u8 {
    frame.get(lay.l4_off + 13).copied().unwrap_or(0)
}

/// `tcp_gro_receive`: true when `seg` may not merge into `held` (which then flushes).
pub(crate) fn merge_flush(new: &[u8], seg: &Seg, held: &mut Held, cap: u32) -> bool {
    let Some(a) = new.get(seg.lay.l4_off..seg.lay.payload_off) else {
        return true;
    };
    let th = tcp::Packet::new_unchecked(a);
    let mut flush = false;
    // CWR: a segment carrying CWR never joins an aggregate (6.18).
    flush |= th.flags() & tcp::CWR != 0;
    // Word at offset 12 equal except FIN/PSH: data offset, ECE/URG/ACK/RST/SYN/CWR, window.
    flush |= (th.flag_word() ^ held.hdr.tcp_word) & !FIN_PSH_WORD != 0;
    // Equal ack_seq.
    flush |= th.ack() != held.hdr.ack;
    // Identical option bytes (a changed timestamp blocks).
    flush |= !super::flow::same_bytes(th.options(), held.hdr.options());
    // IP: equal TTL/hop limit, TOS/traffic class, DF; IPv4 ID fixed or incrementing.
    flush |= super::network_flush(new, &seg.lay, held);
    // 1 <= payload <= gso_size: no pure ACK, nothing longer than the first segment.
    flush |= seg.len.wrapping_sub(1) >= held.gso_size;
    // In order: seq = head seq + payload merged so far (no out-of-order, no prepending).
    flush |= held.hdr.seq.wrapping_add(held.payload) != th.seq();
    // Aggregate L3 length <= max_size.
    flush |= aggregate_l3_len(held) + seg.len > cap;
    flush
}

/// `out_check_final`: a segment shorter than `mss`, or with URG/PSH/RST/SYN/FIN, ends its aggregate.
pub(crate) fn ends_aggregate(len: u32, mss: u32, flags: u8) -> bool {
    len < mss || flags & FLUSH_FLAGS != 0
}

/// PSH and FIN of a merged segment are ORed into the head.
pub(crate) fn or_fin_psh<M: FrameMemory>(pool: &mut FramePool<M>, held: Option<&Held>, flags: u8) {
    let Some(held) = held else { return };
    if flags & (tcp::FIN | tcp::PSH) == 0 {
        return;
    }
    let at = held.lay.l4_off + 13;
    if let Some(b) = pool.head_mut(&held.pkt).get_mut(at) {
        *b |= flags & (tcp::FIN | tcp::PSH);
    }
}

/// The aggregate's L3 length now.
pub(crate) fn aggregate_l3_len(held: &Held) -> u32 {
    (held.lay.payload_off - held.lay.l3_off) as u32 + held.payload
}

/// Writes a full TCP checksum: pseudo header (new length) + header with a zero
/// checksum field + the payload sums collected while merging.
pub(crate) fn write_csum(hdr: &mut [u8], pseudo: u32, psum: u32) {
    let at = tcp::CHECKSUM_OFFSET;
    let (Some(before), Some(after)) = (hdr.get(..at), hdr.get(at + 2..)) else {
        return;
    };
    // `at` is even, so both halves sum at their natural alignment.
    let h = checksum::add(checksum::sum(before, 0), checksum::sum(after, 0));
    let c = checksum::finish(checksum::add(checksum::add(pseudo, h), psum));
    let mut th = tcp::Packet::new_unchecked(hdr);
    th.set_checksum(c);
}
