//! Zero-copy header views and the frame dissector.
//!
//! Each header module offers a view `Header<T: AsRef<[u8]>>` over a buffer in
//! the style of smoltcp: `new_unchecked` wraps any buffer, `new_checked` also
//! runs `check_len`, and once `check_len` has passed no getter can panic.
//! Getters need `AsRef<[u8]>`, setters `AsMut<[u8]>`. Field offsets live in a
//! private `field` module per header.
//!
//! [`dissect`] walks Ethernet (+ one or two 802.1Q tags), IPv4/IPv6 (with the
//! IPv6 extension headers GRO accepts) and TCP/UDP, and returns a [`Layout`]
//! of offsets that GRO and GSO work from. Every failure is a [`ParseError`]
//! naming the layer, the offset, and what was needed versus found.

pub mod checksum;
pub mod ethernet;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

mod dissect;
pub use dissect::{dissect, dissect_head, dissect_head_lenient, Layout, L3, L4};

use core::fmt;

/// The layer a parse error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Ethernet,
    Vlan,
    Ipv4,
    Ipv6,
    Ipv6Ext,
    Tcp,
    Udp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "Ethernet",
            Layer::Vlan => "802.1Q",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Ipv6Ext => "IPv6 extension",
            Layer::Tcp => "TCP",
            Layer::Udp => "UDP",
        })
    }
}

/// Why a frame could not be parsed. `Copy`, allocation-free, and it says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// The buffer ends before the header does.
    Truncated {
        layer: Layer,
        offset: usize,
        needed: usize,
        found: usize,
    },
    /// The EtherType (after any VLAN tags) is neither IPv4 nor IPv6.
    UnsupportedEtherType { ethertype: u16 },
    /// More than two stacked VLAN tags.
    TooManyVlanTags,
    /// The IP version nibble does not match the EtherType.
    BadIpVersion { offset: usize, version: u8 },
    /// IPv4 IHL below 5 words.
    Ipv4HeaderLen { offset: usize, len: usize },
    /// IPv4 `tot_len` smaller than its own header, or larger than the bytes present.
    Ipv4TotalLen {
        offset: usize,
        tot_len: usize,
        min: usize,
        available: usize,
    },
    /// IPv6 `payload_len` larger than the bytes present (0 = jumbogram, unsupported).
    Ipv6PayloadLen {
        offset: usize,
        payload_len: usize,
        available: usize,
    },
    /// The transport protocol is neither TCP nor UDP.
    UnsupportedProtocol { protocol: u8 },
    /// TCP data offset below 5 words or beyond the segment.
    TcpHeaderLen {
        offset: usize,
        len: usize,
        available: usize,
    },
    /// UDP length field inconsistent with the IP payload.
    UdpLen {
        offset: usize,
        len: usize,
        available: usize,
    },
    /// An IP fragment (IPv4 MF/offset or an IPv6 Fragment header): no L4 header to work on.
    Fragment { offset: usize },
    /// An IPv6 extension header this dissector does not walk (ESP, AH, mobility, ...).
    UnsupportedExtension { offset: usize, next_header: u8 },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseError::Truncated { layer, offset, needed, found } => write!(
                f,
                "{layer} header truncated at offset {offset}: needs {needed} bytes, {found} present"
            ),
            ParseError::UnsupportedEtherType { ethertype } => {
                write!(f, "EtherType 0x{ethertype:04x} is not IPv4 or IPv6")
            }
            ParseError::TooManyVlanTags => f.write_str("more than two 802.1Q tags"),
            ParseError::BadIpVersion { offset, version } => {
                write!(f, "IP version {version} does not match the EtherType at offset {offset}")
            }
            ParseError::Ipv4HeaderLen { offset, len } => {
                write!(f, "IPv4 header length {len} < 20 at offset {offset}")
            }
            ParseError::Ipv4TotalLen { offset, tot_len, min, available } => write!(
                f,
                "IPv4 total length {tot_len} at offset {offset} is outside {min}..={available} (header length .. bytes present)"
            ),
            ParseError::Ipv6PayloadLen { offset, payload_len, available } => write!(
                f,
                "IPv6 payload length {payload_len} at offset {offset} exceeds the {available} bytes present (or is a jumbogram)"
            ),
            ParseError::UnsupportedProtocol { protocol } => {
                write!(f, "IP protocol {protocol} is not TCP or UDP")
            }
            ParseError::TcpHeaderLen { offset, len, available } => write!(
                f,
                "TCP header length {len} at offset {offset} is < 20 or exceeds the {available} bytes of the segment"
            ),
            ParseError::UdpLen { offset, len, available } => write!(
                f,
                "UDP length {len} at offset {offset} is < 8 or exceeds the {available} bytes of the datagram"
            ),
            ParseError::Fragment { offset } => write!(f, "IP fragment at offset {offset}"),
            ParseError::UnsupportedExtension { offset, next_header } => {
                write!(f, "IPv6 extension header {next_header} at offset {offset} is not supported")
            }
        }
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// Every name [`ParseError::reason`] can return, one per variant.
    pub const REASONS: [&'static str; 12] = [
        "truncated",
        "not_ip",
        "vlan_tags",
        "ip_version",
        "ipv4_header_len",
        "ipv4_total_len",
        "ipv6_payload_len",
        "not_tcp_udp",
        "tcp_header_len",
        "udp_len",
        "fragment",
        "ipv6_extension",
    ];

    /// A short stable name for statistics ("truncated", "ipv4_header_len", ...).
    pub const fn reason(&self) -> &'static str {
        match self {
            ParseError::Truncated { .. } => "truncated",
            ParseError::UnsupportedEtherType { .. } => "not_ip",
            ParseError::TooManyVlanTags => "vlan_tags",
            ParseError::BadIpVersion { .. } => "ip_version",
            ParseError::Ipv4HeaderLen { .. } => "ipv4_header_len",
            ParseError::Ipv4TotalLen { .. } => "ipv4_total_len",
            ParseError::Ipv6PayloadLen { .. } => "ipv6_payload_len",
            ParseError::UnsupportedProtocol { .. } => "not_tcp_udp",
            ParseError::TcpHeaderLen { .. } => "tcp_header_len",
            ParseError::UdpLen { .. } => "udp_len",
            ParseError::Fragment { .. } => "fragment",
            ParseError::UnsupportedExtension { .. } => "ipv6_extension",
        }
    }
}

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_once() {
        let errs = [
            ParseError::Truncated {
                layer: Layer::Tcp,
                offset: 0,
                needed: 1,
                found: 0,
            },
            ParseError::UnsupportedEtherType { ethertype: 0 },
            ParseError::TooManyVlanTags,
            ParseError::BadIpVersion {
                offset: 0,
                version: 0,
            },
            ParseError::Ipv4HeaderLen { offset: 0, len: 0 },
            ParseError::Ipv4TotalLen {
                offset: 0,
                tot_len: 0,
                min: 0,
                available: 0,
            },
            ParseError::Ipv6PayloadLen {
                offset: 0,
                payload_len: 0,
                available: 0,
            },
            ParseError::UnsupportedProtocol { protocol: 0 },
            ParseError::TcpHeaderLen {
                offset: 0,
                len: 0,
                available: 0,
            },
            ParseError::UdpLen {
                offset: 0,
                len: 0,
                available: 0,
            },
            ParseError::Fragment { offset: 0 },
            ParseError::UnsupportedExtension {
                offset: 0,
                next_header: 0,
            },
        ];
        let names: Vec<&str> = errs.iter().map(ParseError::reason).collect();
        assert_eq!(names, ParseError::REASONS);
    }
}
