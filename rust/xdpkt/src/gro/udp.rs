//! UDP rules of GRO (`udp_gro_receive_segment`, `rx-udp-gro-forwarding`, Linux 6.18).

use super::flow::Held;
use super::{Seg, UDP_GRO_CNT_MAX};
use crate::wire::{checksum, udp};

/// `udp_gro_receive_segment`: true when `seg` may not merge into `held`
/// (the held packet flushes and `seg` starts a new one).
pub(crate) fn merge_flush(new: &[u8], seg: &Seg, held: &mut Held, cap: u32) -> bool {
    let mut flush = false;
    // IP: equal TTL/hop limit, TOS/traffic class, DF; IPv4 ID fixed or incrementing.
    flush |= super::network_flush(new, &seg.lay, held);
    // A datagram longer than the first (gso_size) ends the aggregate before it.
    flush |= seg.len > held.gso_size;
    // Aggregate L3 length <= max_size.
    flush |= (held.lay.payload_off - held.lay.l3_off) as u32 + held.payload + seg.len > cap;
    flush
}

/// After a merge: a shorter datagram, or the 64th, completes the aggregate.
pub(crate) fn ends_aggregate(len: u32, gso_size: u32, count: u32) -> bool {
    len != gso_size || count >= UDP_GRO_CNT_MAX
}

/// Writes the aggregate's UDP length and a full checksum (0 is sent as 0xffff).
pub(crate) fn write_len_csum(hdr: &mut [u8], len: u16, pseudo: u32, psum: u32) {
    let mut uh = udp::Packet::new_unchecked(&mut *hdr);
    uh.set_len(len);
    let Some(before) = hdr.get(..udp::CHECKSUM_OFFSET) else {
        return;
    };
    let h = checksum::sum(before, 0);
    let mut c = checksum::finish(checksum::add(checksum::add(pseudo, h), psum));
    if c == 0 {
        c = 0xffff;
    }
    udp::Packet::new_unchecked(hdr).set_checksum(c);
}
