//! Super-frames for the GSO allocation test and benchmarks (shared by path).
#![allow(dead_code)]

use xdpkt::wire::{ipv4, ipv6, tcp, udp};

/// An Ethernet frame carrying TCP (or UDP) over IPv4 (or IPv6) with `payload`
/// bytes; the L4 checksum holds only garbage, as a TSO sender may leave it.
pub fn super_frame(v6: bool, is_udp: bool, payload: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02];
    f.extend_from_slice(&(if v6 { 0x86ddu16 } else { 0x0800 }).to_be_bytes());
    let proto = if is_udp {
        ipv4::PROTO_UDP
    } else {
        ipv4::PROTO_TCP
    };
    let l4_len = if is_udp { 8 } else { 32 } + payload;
    if v6 {
        let mut h = [0u8; 40];
        let mut ip = ipv6::Packet::new_unchecked(&mut h[..]);
        ip.set_ver_tc_flow(0, 0x12345);
        ip.set_payload_len(l4_len as u16);
        ip.set_next_header(proto);
        ip.set_hop_limit(64);
        ip.set_src([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip.set_dst([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&h);
    } else {
        let mut h = [0u8; 20];
        let mut ip = ipv4::Packet::new_unchecked(&mut h[..]);
        ip.set_header_len(20);
        ip.set_total_len((20 + l4_len) as u16);
        ip.set_ident(0x4242);
        ip.set_flags(true);
        ip.set_ttl(64);
        ip.set_protocol(proto);
        ip.set_src([198, 18, 0, 1]);
        ip.set_dst([198, 18, 0, 2]);
        ip.fill_checksum();
        f.extend_from_slice(&h);
    }
    if is_udp {
        let mut h = [0u8; 8];
        let mut u = udp::Packet::new_unchecked(&mut h[..]);
        u.set_src_port(4000);
        u.set_dst_port(5000);
        u.set_len(l4_len as u16);
        u.set_checksum(0x1234);
        f.extend_from_slice(&h);
    } else {
        // 20-byte header + 12 bytes of options (NOP, NOP, timestamp), like Linux sends.
        let mut h = [0u8; 32];
        {
            let mut t = tcp::Packet::new_unchecked(&mut h[..]);
            t.set_src_port(40000);
            t.set_dst_port(5201);
            t.set_seq(0x1000_0000);
            t.set_ack(0x2000_0000);
            t.set_header_len(32);
            t.set_flags(tcp::ACK | tcp::PSH);
            t.set_window(502);
            t.set_checksum(0x1234);
        }
        h[20..].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        f.extend_from_slice(&h);
    }
    f.extend((0..payload).map(|i| (i * 31 + 7) as u8));
    f
}
