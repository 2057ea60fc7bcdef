//! The frame dissector: Ethernet → (802.1Q) → IPv4/IPv6 (+ extension headers) → TCP/UDP.

use super::ethernet::{self, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN};
use super::ipv4::{self, PROTO_TCP, PROTO_UDP};
use super::ipv6::{self, NEXT_DEST_OPTS, NEXT_FRAGMENT, NEXT_HOP_BY_HOP, NEXT_ROUTING};
use super::{be16, tcp, udp, Layer, ParseError};

/// Network layer of a dissected frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L3 {
    V4,
    V6,
}

/// Transport layer of a dissected frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4 {
    Tcp,
    Udp,
}

/// Offsets of every header in a frame. All offsets are from the frame start.
///
/// Invariant after [`dissect`] returned it: `l3_off < l4_off < payload_off <= end <= frame.len()`,
/// every header between them fits, so views built at these offsets never panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Number of 802.1Q / 802.1ad tags (0..=2).
    pub vlan_tags: u8,
    pub l3: L3,
    pub l3_off: usize,
    /// IPv4: IHL × 4. IPv6: 40 + extension headers.
    pub l3_len: usize,
    pub l4: L4,
    pub l4_off: usize,
    /// Start of L4 payload (after TCP options / the UDP header).
    pub payload_off: usize,
    /// End of the IP packet (`l3_off + tot_len`); bytes beyond are link padding.
    pub end: usize,
}

impl Layout {
    /// L4 payload length.
    pub const fn payload_len(&self) -> usize {
        self.end - self.payload_off
    }
    /// L4 header length (TCP with options, or 8 for UDP).
    pub const fn l4_len(&self) -> usize {
        self.payload_off - self.l4_off
    }
    /// Length of all headers (L2 .. L4).
    pub const fn header_len(&self) -> usize {
        self.payload_off
    }
}

/// Dissects an Ethernet frame carrying TCP or UDP over IPv4 or IPv6.
pub fn dissect(frame: &[u8]) -> Result<Layout, ParseError> {
    dissect_head(frame, frame.len())
}

/// Dissects a frame of which only the first bytes, `head`, are contiguous:
/// the head frame of a chained packet whose whole length is `total_len`.
///
/// Every header must lie in `head`; one that runs past it is reported as
/// [`ParseError::Truncated`] (with `found` = the bytes of it in `head`). The
/// length fields (IPv4 `tot_len`, IPv6 `payload_len`, UDP length) are checked
/// against `total_len`, so the returned `end` may lie beyond `head.len()`.
/// A `total_len` below `head.len()` counts as `head.len()`; with
/// `total_len == head.len()` this is exactly [`dissect`].
pub fn dissect_head(head: &[u8], total_len: usize) -> Result<Layout, ParseError> {
    match fast_tcp4(head, total_len) {
        Some(lay) => Ok(lay),
        None => dissect_inner(head, total_len, false),
    }
}

/// The common case in a few loads and compares: untagged Ethernet, IPv4
/// without options, not a fragment, TCP, every header in `head`. Returns
/// exactly what the full dissector returns (strict or lenient: such a
/// frame's lengths claim no more than is present) for such a frame, and `None` for
/// anything else (which then takes the full path, errors included).
#[inline]
fn fast_tcp4(head: &[u8], total_len: usize) -> Option<Layout> {
    const L3: usize = ethernet::HEADER_LEN;
    const L4: usize = L3 + ipv4::MIN_HEADER_LEN;
    // A fixed-size array: the constant indexes below are checked at compile time.
    let h: &[u8; L4 + tcp::MIN_HEADER_LEN] =
        head.get(..L4 + tcp::MIN_HEADER_LEN)?.try_into().ok()?;
    let total = total_len.max(head.len());
    let ethertype = be16(h, 12);
    let tot = usize::from(be16(h, L3 + 2));
    let frag = be16(h, L3 + 6);
    let doff = usize::from(h[L4 + 12] >> 4) * 4;
    let end = L3 + tot;
    let payload_off = L4 + doff;
    let ok = ethertype == ETHERTYPE_IPV4
        && h[L3] == 0x45
        && h[L3 + 9] == PROTO_TCP
        // neither MF nor a fragment offset
        && frag & 0x3fff == 0
        && tot >= ipv4::MIN_HEADER_LEN + tcp::MIN_HEADER_LEN
        && end <= total
        && doff >= tcp::MIN_HEADER_LEN
        && payload_off <= end
        && payload_off <= head.len();
    ok.then_some(Layout {
        vlan_tags: 0,
        l3: L3::V4,
        l3_off: L3,
        l3_len: ipv4::MIN_HEADER_LEN,
        l4: L4::Tcp,
        l4_off: L4,
        payload_off,
        end,
    })
}

/// Like [`dissect_head`], but an IPv4 `tot_len` or IPv6 `payload_len` that
/// claims more bytes than are present is taken to end at the bytes present
/// instead of failing. The flag says whether that happened.
///
/// GRO needs this: the kernel's `inet_gro_receive`/`ipv6_gro_receive` only
/// mark such a packet "flush", still look its flow up, and so flush the held
/// packet of that flow before delivering it unmerged.
pub fn dissect_head_lenient(head: &[u8], total_len: usize) -> Result<(Layout, bool), ParseError> {
    if let Some(lay) = fast_tcp4(head, total_len) {
        return Ok((lay, false));
    }
    let lay = dissect_inner(head, total_len, true)?;
    let total = total_len.max(head.len());
    let claimed = match lay.l3 {
        L3::V4 => usize::from(be16(head, lay.l3_off + 2)),
        L3::V6 => ipv6::HEADER_LEN + usize::from(be16(head, lay.l3_off + 4)),
    };
    Ok((lay, lay.l3_off + claimed > total))
}

fn dissect_inner(head: &[u8], total_len: usize, lenient: bool) -> Result<Layout, ParseError> {
    let frame = head;
    let total = total_len.max(frame.len());
    let eth = ethernet::Frame::new_checked(frame)?;
    let mut ethertype = eth.ethertype();
    let mut off = ethernet::HEADER_LEN;
    let mut vlan_tags = 0u8;
    while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        if vlan_tags == 2 {
            return Err(ParseError::TooManyVlanTags);
        }
        let found = frame.len() - off;
        if found < ethernet::VLAN_TAG_LEN {
            return Err(ParseError::Truncated {
                layer: Layer::Vlan,
                offset: off,
                needed: 4,
                found,
            });
        }
        ethertype = be16(frame, off + 2);
        off += ethernet::VLAN_TAG_LEN;
        vlan_tags += 1;
    }
    let l3_off = off;
    let (l3, l3_len, proto, end) = match ethertype {
        ETHERTYPE_IPV4 => dissect_v4(frame, total, l3_off, lenient)?,
        ETHERTYPE_IPV6 => dissect_v6(frame, total, l3_off, lenient)?,
        other => return Err(ParseError::UnsupportedEtherType { ethertype: other }),
    };
    let l4_off = l3_off + l3_len;
    // Bytes of the L4 segment: up to the IP end, and of those, the ones in `head`.
    let available = end - l4_off;
    let in_head = end.min(frame.len()) - l4_off;
    let (l4, l4_len) = match proto {
        PROTO_TCP => {
            if available < tcp::MIN_HEADER_LEN {
                let found = available;
                return Err(ParseError::Truncated {
                    layer: Layer::Tcp,
                    offset: l4_off,
                    needed: 20,
                    found,
                });
            }
            if in_head < tcp::MIN_HEADER_LEN {
                let found = in_head;
                return Err(ParseError::Truncated {
                    layer: Layer::Tcp,
                    offset: l4_off,
                    needed: 20,
                    found,
                });
            }
            let hl = tcp::Packet::new_unchecked(&frame[l4_off..l4_off + in_head]).header_len();
            if hl < tcp::MIN_HEADER_LEN || hl > available {
                return Err(ParseError::TcpHeaderLen {
                    offset: l4_off,
                    len: hl,
                    available,
                });
            }
            if hl > in_head {
                return Err(ParseError::Truncated {
                    layer: Layer::Tcp,
                    offset: l4_off,
                    needed: hl,
                    found: in_head,
                });
            }
            (L4::Tcp, hl)
        }
        PROTO_UDP => {
            let u = udp::Packet::new_checked(&frame[l4_off..l4_off + in_head])
                .map_err(|e| shift(e, l4_off))?;
            let len = usize::from(u.len());
            if len < udp::HEADER_LEN || len > available {
                return Err(ParseError::UdpLen {
                    offset: l4_off,
                    len,
                    available,
                });
            }
            (L4::Udp, udp::HEADER_LEN)
        }
        protocol => return Err(ParseError::UnsupportedProtocol { protocol }),
    };
    Ok(Layout {
        vlan_tags,
        l3,
        l3_off,
        l3_len,
        l4,
        l4_off,
        payload_off: l4_off + l4_len,
        end,
    })
}

fn dissect_v4(
    frame: &[u8],
    total: usize,
    off: usize,
    lenient: bool,
) -> Result<(L3, usize, u8, usize), ParseError> {
    let ip = ipv4::Packet::new_checked(&frame[off..]).map_err(|e| shift(e, off))?;
    if ip.version() != 4 {
        return Err(ParseError::BadIpVersion {
            offset: off,
            version: ip.version(),
        });
    }
    let hl = ip.header_len();
    let mut tot = usize::from(ip.total_len());
    let available = total - off;
    if lenient && tot > available && available >= hl {
        tot = available;
    }
    if tot < hl || tot > available {
        return Err(ParseError::Ipv4TotalLen {
            offset: off,
            tot_len: tot,
            min: hl,
            available,
        });
    }
    if ip.is_fragment() {
        return Err(ParseError::Fragment { offset: off });
    }
    Ok((L3::V4, hl, ip.protocol(), off + tot))
}

fn dissect_v6(
    frame: &[u8],
    total: usize,
    off: usize,
    lenient: bool,
) -> Result<(L3, usize, u8, usize), ParseError> {
    let ip = ipv6::Packet::new_checked(&frame[off..]).map_err(|e| shift(e, off))?;
    if ip.version() != 6 {
        return Err(ParseError::BadIpVersion {
            offset: off,
            version: ip.version(),
        });
    }
    let mut plen = usize::from(ip.payload_len());
    let available = total - off - ipv6::HEADER_LEN;
    if lenient && plen > available && available > 0 {
        plen = available;
    }
    if plen == 0 || plen > available {
        return Err(ParseError::Ipv6PayloadLen {
            offset: off,
            payload_len: plen,
            available,
        });
    }
    let end = off + ipv6::HEADER_LEN + plen;
    // Extension headers are read from `frame` only: none may run past it.
    let limit = end.min(frame.len());
    let mut next = ip.next_header();
    let mut at = off + ipv6::HEADER_LEN;
    loop {
        match next {
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_DEST_OPTS => {
                let found = limit - at;
                if found < 8 {
                    return Err(ParseError::Truncated {
                        layer: Layer::Ipv6Ext,
                        offset: at,
                        needed: 8,
                        found,
                    });
                }
                let len = (usize::from(frame[at + 1]) + 1) * 8;
                if found < len {
                    return Err(ParseError::Truncated {
                        layer: Layer::Ipv6Ext,
                        offset: at,
                        needed: len,
                        found,
                    });
                }
                next = frame[at];
                at += len;
            }
            NEXT_FRAGMENT => return Err(ParseError::Fragment { offset: at }),
            PROTO_TCP | PROTO_UDP => break,
            // Anything else: not TCP/UDP (ICMPv6, no-next-header, ESP...).
            59 | 58 | 50 | 51 | 135 | 139 | 140 | 253 | 254 => {
                return Err(ParseError::UnsupportedExtension {
                    offset: at,
                    next_header: next,
                })
            }
            other => return Err(ParseError::UnsupportedProtocol { protocol: other }),
        }
    }
    Ok((L3::V6, at - off, next, end))
}

/// Re-bases an error from a sub-slice view onto frame offsets.
fn shift(e: ParseError, by: usize) -> ParseError {
    match e {
        ParseError::Truncated {
            layer,
            offset,
            needed,
            found,
        } => ParseError::Truncated {
            layer,
            offset: offset + by,
            needed,
            found,
        },
        ParseError::Ipv4HeaderLen { offset, len } => ParseError::Ipv4HeaderLen {
            offset: offset + by,
            len,
        },
        ParseError::TcpHeaderLen {
            offset,
            len,
            available,
        } => ParseError::TcpHeaderLen {
            offset: offset + by,
            len,
            available,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path returns exactly what the full dissector returns, for a
    /// plain TCP/IPv4 frame with every header bit flipped in turn, at every
    /// truncation and with every claimed total length around the real one.
    #[test]
    fn fast_path_agrees_with_full_dissector() {
        let mut base = tcp4(30);
        let mut checked = 0;
        for with_opts in [false, true] {
            if with_opts {
                // TCP data offset 8: 12 option bytes (NOP NOP timestamp), payload shorter.
                base[14 + 20 + 12] = 0x80;
            }
            for at in 0..54 {
                for bit in 0..8 {
                    let mut f = base.clone();
                    f[at] ^= 1 << bit;
                    for cut in [f.len(), 66, 54, 53, 40] {
                        let g = &f[..cut.min(f.len())];
                        for total in [0, g.len(), g.len() + 1, f.len(), f.len() + 7] {
                            if let Some(lay) = fast_tcp4(g, total) {
                                assert_eq!(
                                    Ok(lay),
                                    dissect_inner(g, total, false),
                                    "byte {at} bit {bit} cut {cut}"
                                );
                                assert_eq!(Ok(lay), dissect_inner(g, total, true));
                                checked += 1;
                            }
                            assert_eq!(dissect_head(g, total), dissect_inner(g, total, false));
                            let lenient = dissect_inner(g, total, true).map(|l| {
                                let claimed = l.l3_off + usize::from(be16(g, l.l3_off + 2));
                                (l, l.l3 == L3::V4 && claimed > total.max(g.len()))
                            });
                            if lenient.as_ref().is_ok_and(|(l, _)| l.l3 == L3::V4) {
                                assert_eq!(dissect_head_lenient(g, total), lenient);
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }
    use crate::wire::checksum;

    /// Ethernet + IPv4 + TCP(20) + payload, valid checksums.
    pub(crate) fn tcp4(payload: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20 + payload];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let tot = (40 + payload) as u16;
        {
            let mut ip = ipv4::Packet::new_unchecked(&mut f[14..34]);
            ip.set_header_len(20);
            ip.set_total_len(tot);
            ip.set_ttl(64);
            ip.set_protocol(PROTO_TCP);
            ip.set_src([198, 18, 0, 1]);
            ip.set_dst([198, 18, 0, 2]);
            ip.fill_checksum();
        }
        f[14 + 20 + 12] = 0x50;
        f
    }

    fn tcp6(payload: usize, ext: &[u8], first_next: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 40];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        {
            let mut ip = ipv6::Packet::new_unchecked(&mut f[14..54]);
            ip.set_ver_tc_flow(0, 0);
            ip.set_payload_len((ext.len() + 20 + payload) as u16);
            ip.set_next_header(first_next);
            ip.set_hop_limit(64);
        }
        f.extend_from_slice(ext);
        let mut t = vec![0u8; 20 + payload];
        t[12] = 0x50;
        f.extend_from_slice(&t);
        f
    }

    #[test]
    fn ipv4_tcp_layout() {
        let f = tcp4(100);
        let l = dissect(&f).unwrap();
        assert_eq!(l.l3, L3::V4);
        assert_eq!(l.l4, L4::Tcp);
        assert_eq!(
            (l.l3_off, l.l4_off, l.payload_off, l.end),
            (14, 34, 54, 154)
        );
        assert_eq!(l.payload_len(), 100);
        assert!(ipv4::Packet::new_unchecked(&f[14..]).verify_checksum());
        let _ = checksum::sum(&f, 0);
    }

    #[test]
    fn padding_is_trimmed() {
        let mut f = tcp4(1);
        f.resize(60, 0);
        let l = dissect(&f).unwrap();
        assert_eq!(l.end, 55);
        assert_eq!(l.payload_len(), 1);
    }

    #[test]
    fn vlan_tag() {
        let mut f = tcp4(10);
        f.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
        let l = dissect(&f).unwrap();
        assert_eq!(l.vlan_tags, 1);
        assert_eq!(l.l3_off, 18);
    }

    #[test]
    fn ipv6_with_extensions() {
        // hop-by-hop (8 bytes, next = dest opts), dest opts (8 bytes, next = TCP)
        let ext = [60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0];
        let f = tcp6(5, &ext, 0);
        let l = dissect(&f).unwrap();
        assert_eq!(l.l3, L3::V6);
        assert_eq!(l.l3_len, 56);
        assert_eq!(l.l4_off, 14 + 56);
        assert_eq!(l.payload_len(), 5);
        let frag = tcp6(5, &[6, 0, 0, 0, 0, 0, 0, 0], 44);
        assert_eq!(
            dissect(&frag).unwrap_err(),
            ParseError::Fragment { offset: 54 }
        );
    }

    #[test]
    fn short_ihl_message() {
        let mut f = tcp4(0);
        f[14] = 0x43;
        let e = dissect(&f).unwrap_err();
        assert_eq!(e.to_string(), "IPv4 header length 12 < 20 at offset 14");
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        for f in [tcp4(3), tcp6(3, &[6, 0, 1, 4, 0, 0, 0, 0], 60)] {
            let full = dissect(&f).unwrap();
            for n in 0..full.end {
                assert!(dissect(&f[..n]).is_err(), "cut at {n} parsed");
            }
        }
    }

    #[test]
    fn truncation_errors_are_exact() {
        let f = tcp4(0);
        for n in 0..14 {
            assert_eq!(
                dissect(&f[..n]).unwrap_err(),
                ParseError::Truncated {
                    layer: Layer::Ethernet,
                    offset: 0,
                    needed: 14,
                    found: n
                }
            );
        }
        for n in 14..34 {
            assert_eq!(
                dissect(&f[..n]).unwrap_err(),
                ParseError::Truncated {
                    layer: Layer::Ipv4,
                    offset: 14,
                    needed: 20,
                    found: n - 14
                }
            );
        }
        for n in 34..54 {
            assert_eq!(
                dissect(&f[..n]).unwrap_err(),
                ParseError::Ipv4TotalLen {
                    offset: 14,
                    tot_len: 40,
                    min: 20,
                    available: n - 14
                }
            );
        }
    }

    #[test]
    fn head_of_a_chain() {
        let f = tcp4(1000);
        // Headers in the head, payload beyond it: parses, `end` past the head.
        let l = dissect_head(&f[..60], f.len()).unwrap();
        assert_eq!(l, dissect(&f).unwrap());
        // TCP header cut by the head boundary (the bytes exist later in the chain).
        assert_eq!(
            dissect_head(&f[..40], f.len()).unwrap_err(),
            ParseError::Truncated {
                layer: Layer::Tcp,
                offset: 34,
                needed: 20,
                found: 6
            }
        );
        // TCP options cut by the head boundary.
        let mut g = tcp4(1000);
        g[14 + 20 + 12] = 0x80;
        assert_eq!(
            dissect_head(&g[..60], g.len()).unwrap_err(),
            ParseError::Truncated {
                layer: Layer::Tcp,
                offset: 34,
                needed: 32,
                found: 26
            }
        );
        // IPv6 extension header cut by the head boundary.
        let h = tcp6(100, &[6, 1, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 60);
        assert_eq!(
            dissect_head(&h[..64], h.len()).unwrap_err(),
            ParseError::Truncated {
                layer: Layer::Ipv6Ext,
                offset: 54,
                needed: 16,
                found: 10
            }
        );
        // A total below the head length is the head length.
        assert_eq!(dissect_head(&f, 3), dissect(&f));
    }

    #[test]
    fn lenient_clamps_a_length_that_claims_too_much() {
        let mut f = tcp4(10);
        // tot_len claims 8 bytes more than the frame has.
        let tot = u16::from_be_bytes([f[16], f[17]]) + 8;
        f[16..18].copy_from_slice(&tot.to_be_bytes());
        assert!(matches!(dissect(&f), Err(ParseError::Ipv4TotalLen { .. })));
        let (l, claimed_more) = dissect_head_lenient(&f, f.len()).unwrap();
        assert!(claimed_more);
        assert_eq!((l.end, l.payload_len()), (f.len(), 10));
        let (l, claimed_more) = dissect_head_lenient(&tcp4(10), 64).unwrap();
        assert!(!claimed_more);
        assert_eq!(l.payload_len(), 10);
        let mut g = tcp6(10, &[], 6);
        let plen = u16::from_be_bytes([g[18], g[19]]) + 8;
        g[18..20].copy_from_slice(&plen.to_be_bytes());
        assert!(matches!(
            dissect(&g),
            Err(ParseError::Ipv6PayloadLen { .. })
        ));
        let (l, claimed_more) = dissect_head_lenient(&g, g.len()).unwrap();
        assert!(claimed_more);
        assert_eq!(l.end, g.len());
    }

    proptest::proptest! {
        #[test]
        fn head_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), extra in 0usize..70000) {
            let _ = dissect_head(&data, data.len() + extra);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = dissect(&data);
        }
    }
}
