//! Frame builders and checkers for tests, benchmarks and fuzzing.
//!
//! Not part of the datapath (these allocate). Public so that integration
//! tests, criterion benches and fuzz targets build the same frames as the unit
//! tests: Ethernet (+ optional 802.1Q) / IPv4 or IPv6 (+ options or extension
//! headers) / TCP or UDP, with valid checksums unless asked otherwise.

use crate::wire::{checksum, dissect, ethernet, ipv4, ipv6, tcp, Layout, L3, L4};

/// Everything that describes one test segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegSpec {
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// UDP (else TCP).
    pub udp: bool,
    /// One 802.1Q tag with this TCI.
    pub vlan: Option<u16>,
    /// Last byte of the source address (distinguishes flows).
    pub host: u8,
    /// L4 source port.
    pub src_port: u16,
    /// L4 destination port.
    pub dst_port: u16,
    /// TCP sequence number.
    pub seq: u32,
    /// TCP acknowledgment number.
    pub ack: u32,
    /// TCP flags byte.
    pub flags: u8,
    /// TCP window.
    pub window: u16,
    /// TCP option bytes (length a multiple of 4).
    pub tcp_opts: Vec<u8>,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IPv4 don't-fragment flag.
    pub df: bool,
    /// IPv4 identification.
    pub id: u16,
    /// IPv4 option bytes (length a multiple of 4).
    pub ip_opts: Vec<u8>,
    /// IPv4 MF flag and fragment offset (8-byte units).
    pub frag: Option<(bool, u16)>,
    /// IPv6 flow label.
    pub flow_label: u32,
    /// IPv6 extension headers: (type, body after the 2-byte next/len prefix);
    /// bodies are zero-padded so each header is a multiple of 8 bytes.
    pub v6_ext: Vec<(u8, Vec<u8>)>,
    /// L4 payload.
    pub payload: Vec<u8>,
    /// Pad the frame with zeros to at least this many bytes (Ethernet minimum is 60).
    pub pad_to: usize,
    /// Flip the L4 checksum after computing it.
    pub bad_l4_csum: bool,
    /// Flip the IPv4 header checksum after computing it.
    pub bad_ip_csum: bool,
    /// Write a zero UDP checksum.
    pub udp_csum_zero: bool,
}

impl SegSpec {
    /// A TCP/IPv4 ACK segment with `len` payload bytes (pattern depends on `seq`).
    pub fn tcp4(seq: u32, len: usize) -> SegSpec {
        SegSpec {
            v6: false,
            udp: false,
            vlan: None,
            host: 1,
            src_port: 40000,
            dst_port: 8000,
            seq,
            ack: 1000,
            flags: tcp::ACK,
            window: 502,
            tcp_opts: Vec::new(),
            ttl: 64,
            tos: 0,
            df: true,
            id: 100,
            ip_opts: Vec::new(),
            frag: None,
            flow_label: 0,
            v6_ext: Vec::new(),
            payload: pattern(seq, len),
            pad_to: 60,
            bad_l4_csum: false,
            bad_ip_csum: false,
            udp_csum_zero: false,
        }
    }
    /// A TCP/IPv6 ACK segment.
    pub fn tcp6(seq: u32, len: usize) -> SegSpec {
        SegSpec {
            v6: true,
            ..SegSpec::tcp4(seq, len)
        }
    }
    /// A UDP/IPv4 datagram (`seq` only seeds the payload pattern).
    pub fn udp4(seq: u32, len: usize) -> SegSpec {
        SegSpec {
            udp: true,
            ..SegSpec::tcp4(seq, len)
        }
    }
    /// A UDP/IPv6 datagram.
    pub fn udp6(seq: u32, len: usize) -> SegSpec {
        SegSpec {
            udp: true,
            v6: true,
            ..SegSpec::tcp4(seq, len)
        }
    }

    /// The next in-order segment of the same flow (seq advanced, IPv4 ID + 1).
    pub fn next(&self, len: usize) -> SegSpec {
        let seq = self.seq.wrapping_add(self.payload.len() as u32);
        SegSpec {
            seq,
            id: self.id.wrapping_add(1),
            payload: pattern(seq, len),
            ..self.clone()
        }
    }

    /// The frame bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(64 + self.payload.len());
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
        if let Some(tci) = self.vlan {
            f.extend_from_slice(&ethernet::ETHERTYPE_VLAN.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        let et = if self.v6 {
            ethernet::ETHERTYPE_IPV6
        } else {
            ethernet::ETHERTYPE_IPV4
        };
        f.extend_from_slice(&et.to_be_bytes());
        let l3 = f.len();
        let proto = if self.udp {
            ipv4::PROTO_UDP
        } else {
            ipv4::PROTO_TCP
        };
        let l4_len = if self.udp {
            8
        } else {
            20 + self.tcp_opts.len()
        } + self.payload.len();
        if self.v6 {
            let mut ext = Vec::new();
            for (k, (_, body)) in self.v6_ext.iter().enumerate() {
                let next = self.v6_ext.get(k + 1).map_or(proto, |e| e.0);
                let total = (2 + body.len()).div_ceil(8) * 8;
                let mut h = vec![0u8; total];
                h[0] = next;
                h[1] = (total / 8 - 1) as u8;
                h[2..2 + body.len()].copy_from_slice(body);
                ext.extend_from_slice(&h);
            }
            let mut h = [0u8; 40];
            {
                let mut ip = ipv6::Packet::new_unchecked(&mut h[..]);
                ip.set_ver_tc_flow(self.tos, self.flow_label);
                ip.set_payload_len((ext.len() + l4_len) as u16);
                ip.set_next_header(self.v6_ext.first().map_or(proto, |e| e.0));
                ip.set_hop_limit(self.ttl);
                let mut src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                src[15] = self.host;
                let mut dst = src;
                dst[15] = 0xfe;
                ip.set_src(src);
                ip.set_dst(dst);
            }
            f.extend_from_slice(&h);
            f.extend_from_slice(&ext);
        } else {
            let hl = 20 + self.ip_opts.len();
            let mut h = vec![0u8; hl];
            {
                let mut ip = ipv4::Packet::new_unchecked(&mut h[..]);
                ip.set_header_len(hl);
                ip.set_tos(self.tos);
                ip.set_total_len((hl + l4_len) as u16);
                ip.set_ident(self.id);
                let mut ff = if self.df { 0x4000 } else { 0 };
                if let Some((mf, off)) = self.frag {
                    ff |= if mf { 0x2000 } else { 0 } | (off & 0x1fff);
                }
                ip.set_raw_flags_frag(ff);
                ip.set_ttl(self.ttl);
                ip.set_protocol(proto);
                ip.set_src([198, 18, 0, self.host]);
                ip.set_dst([198, 19, 0, 1]);
            }
            h[20..].copy_from_slice(&self.ip_opts);
            ipv4::Packet::new_unchecked(&mut h[..]).fill_checksum();
            if self.bad_ip_csum {
                h[10] ^= 0x5a;
            }
            f.extend_from_slice(&h);
        }
        let l4 = f.len();
        if self.udp {
            f.extend_from_slice(&self.src_port.to_be_bytes());
            f.extend_from_slice(&self.dst_port.to_be_bytes());
            f.extend_from_slice(&(l4_len as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        } else {
            let mut h = vec![0u8; 20 + self.tcp_opts.len()];
            {
                let mut th = tcp::Packet::new_unchecked(&mut h[..]);
                th.set_src_port(self.src_port);
                th.set_dst_port(self.dst_port);
                th.set_seq(self.seq);
                th.set_ack(self.ack);
                th.set_header_len(20 + self.tcp_opts.len());
                th.set_flags(self.flags);
                th.set_window(self.window);
            }
            h[20..].copy_from_slice(&self.tcp_opts);
            f.extend_from_slice(&h);
        }
        f.extend_from_slice(&self.payload);
        let pseudo = l4_pseudo(&f, l3, self.v6, proto, l4_len as u32);
        let mut c = checksum::finish(checksum::sum(&f[l4..], pseudo));
        let at = l4 + if self.udp { 6 } else { 16 };
        if self.udp && c == 0 {
            c = 0xffff;
        }
        if self.udp && self.udp_csum_zero {
            c = 0;
        }
        if self.bad_l4_csum {
            c ^= 0x1234;
        }
        f[at..at + 2].copy_from_slice(&c.to_be_bytes());
        if f.len() < self.pad_to {
            f.resize(self.pad_to, 0);
        }
        f
    }
}

fn l4_pseudo(f: &[u8], l3: usize, v6: bool, proto: u8, l4_len: u32) -> u32 {
    if v6 {
        ipv6::Packet::new_unchecked(&f[l3..]).pseudo_sum(proto, l4_len)
    } else {
        ipv4::Packet::new_unchecked(&f[l3..]).pseudo_sum(l4_len)
    }
}

/// `flows` TCP flows (source ports 10000..) of `segs` in-order segments of `mss`
/// payload bytes each, interleaved segment by segment, as one NAPI poll of a busy
/// receiver sees them: the input of the GRO benchmark and allocation test.
pub fn interleaved_flows(flows: u16, segs: usize, mss: usize, v6: bool) -> Vec<Vec<u8>> {
    let mut specs: Vec<SegSpec> = (0..flows)
        .map(|k| {
            let base = if v6 {
                SegSpec::tcp6(0, mss)
            } else {
                SegSpec::tcp4(0, mss)
            };
            SegSpec {
                src_port: 10000 + k,
                ..base
            }
        })
        .collect();
    let mut frames = Vec::with_capacity(usize::from(flows) * segs);
    for i in 0..segs {
        for f in specs.iter_mut() {
            if i > 0 {
                *f = f.next(mss);
            }
            frames.push(f.build());
        }
    }
    frames
}

/// Deterministic payload bytes for stream offset `seq` (so concatenations are checkable).
pub fn pattern(seq: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq.wrapping_add(i as u32).wrapping_mul(7) >> 1) as u8 ^ 0x5a)
        .collect()
}

/// Why [`verify`] rejected a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The frame does not dissect.
    Parse(crate::wire::ParseError),
    /// Bad IPv4 header checksum.
    IpChecksum,
    /// Bad TCP/UDP checksum.
    L4Checksum,
    /// UDP length differs from the IP payload length.
    UdpLength,
}

/// Parses a frame and checks its IPv4 header checksum and its TCP/UDP checksum.
pub fn verify(frame: &[u8]) -> Result<Layout, VerifyError> {
    let lay = dissect(frame).map_err(VerifyError::Parse)?;
    let proto = if lay.l4 == L4::Tcp {
        ipv4::PROTO_TCP
    } else {
        ipv4::PROTO_UDP
    };
    if lay.l3 == L3::V4 && !ipv4::Packet::new_unchecked(&frame[lay.l3_off..]).verify_checksum() {
        return Err(VerifyError::IpChecksum);
    }
    let l4_len = (lay.end - lay.l4_off) as u32;
    if lay.l4 == L4::Udp
        && usize::from(crate::wire::be16(frame, lay.l4_off + 4)) != lay.end - lay.l4_off
    {
        return Err(VerifyError::UdpLength);
    }
    let pseudo = l4_pseudo(frame, lay.l3_off, lay.l3 == L3::V6, proto, l4_len);
    if checksum::fold(checksum::sum(&frame[lay.l4_off..lay.end], pseudo)) != 0xffff {
        return Err(VerifyError::L4Checksum);
    }
    Ok(lay)
}
