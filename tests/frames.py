"""Tiny struct-based builders of Ethernet/IPv4/IPv6/TCP/UDP frames and capture files for tests."""

from __future__ import annotations

import struct
from pathlib import Path

SRC_MAC = bytes.fromhex("020000000001")
DST_MAC = bytes.fromhex("020000000002")
V4_SRC = bytes([198, 18, 0, 1])
V4_DST = bytes([198, 18, 0, 2])
V6_SRC = bytes.fromhex("20010db8000000000000000000000001")
V6_DST = bytes.fromhex("20010db8000000000000000000000002")

ACK = 0x10
PSH = 0x08
FIN = 0x01


def csum(data: bytes) -> int:
    """RFC 1071 internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(ethertype: int, vlan: int | None = None) -> bytes:
    if vlan is None:
        return DST_MAC + SRC_MAC + struct.pack("!H", ethertype)
    return DST_MAC + SRC_MAC + struct.pack("!HHH", 0x8100, vlan, ethertype)


def tcp_header(sport: int, dport: int, seq: int, ack: int, flags: int, window: int = 512) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0)


def l4_checksummed(l4: bytes, pseudo: bytes, csum_at: int) -> bytes:
    c = csum(pseudo + l4)
    if csum_at == 6 and c == 0:  # UDP sends 0 as 0xFFFF
        c = 0xFFFF
    return l4[:csum_at] + struct.pack("!H", c) + l4[csum_at + 2 :]


def ipv4(proto: int, l4: bytes, ident: int = 1, ttl: int = 64, df: bool = True, ihl: int = 5) -> bytes:
    opts = b"\x01" * (4 * (ihl - 5)) if ihl > 5 else b""
    flags = 0x4000 if df else 0
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        (4 << 4) | ihl,
        0,
        20 + len(opts) + len(l4),
        ident,
        flags,
        ttl,
        proto,
        0,
        V4_SRC,
        V4_DST,
    )
    hdr += opts
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    pseudo = V4_SRC + V4_DST + struct.pack("!BBH", 0, proto, len(l4))
    return hdr + l4_checksummed(l4, pseudo, 16 if proto == 6 else 6)


def ipv6(proto: int, l4: bytes, hop_limit: int = 64) -> bytes:
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, hop_limit, V6_SRC, V6_DST)
    pseudo = V6_SRC + V6_DST + struct.pack("!I3xB", len(l4), proto)
    return hdr + l4_checksummed(l4, pseudo, 16 if proto == 6 else 6)


def tcp4(
    payload: bytes,
    seq: int = 1000,
    flags: int = ACK,
    ident: int = 1,
    sport: int = 4000,
    dport: int = 5000,
    vlan: int | None = None,
) -> bytes:
    return eth(0x0800, vlan) + ipv4(6, tcp_header(sport, dport, seq, 77, flags) + payload, ident=ident)


def tcp6(payload: bytes, seq: int = 1000, flags: int = ACK, sport: int = 4000, dport: int = 5000) -> bytes:
    return eth(0x86DD) + ipv6(6, tcp_header(sport, dport, seq, 77, flags) + payload)


def udp4(payload: bytes, sport: int = 4000, dport: int = 5000, ident: int = 1) -> bytes:
    l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return eth(0x0800) + ipv4(17, l4, ident=ident)


def pattern(n: int, start: int = 0) -> bytes:
    return bytes((start + j) & 0xFF for j in range(n))


def tcp_flow(n: int, size: int, seq: int = 1000, ident: int = 1, sport: int = 4000) -> list[bytes]:
    """``n`` in-order TCP/IPv4 segments of ``size`` payload bytes each."""
    return [tcp4(pattern(size, i), seq=seq + i * size, ident=ident + i, sport=sport) for i in range(n)]


def write_pcap(
    path: Path, frames: list[bytes], *, snaplen: int = 262144, ts0_us: int = 1_700_000_000_000_000
) -> None:
    """Classic little-endian microsecond pcap, Ethernet; frame i at ts0 + i ms."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)]
    for i, f in enumerate(frames):
        us = ts0_us + i * 1000
        out.append(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(f), len(f)) + f)
    path.write_bytes(b"".join(out))


def _ng_block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def write_pcapng(
    path: Path, frames: list[bytes], *, linktype: int = 1, ts0_ns: int = 1_700_000_000 * 10**9
) -> None:
    """A minimal pcapng: section header, one interface (ns resolution), packet blocks 1 µs apart."""
    shb = _ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = _ng_block(1, struct.pack("<HHI", linktype, 0, 0) + struct.pack("<HHB3x", 9, 1, 9) + b"\0" * 4)
    blocks = [shb, idb, _ng_block(0x0BAD, b"a block readers must skip")]
    for i, f in enumerate(frames):
        ts = ts0_ns + i * 1000
        blocks.append(_ng_block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f))
    path.write_bytes(b"".join(blocks))


def read_pcap(path: Path) -> tuple[int, list[tuple[int, bytes]]]:
    """(ticks per second, [(timestamp in ticks, frame)]) of a little-endian pcap written by xdpkt."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    assert linktype == 1
    per_sec = 10**9 if magic == 0xA1B23C4D else 10**6
    at, out = 24, []
    while at < len(data):
        sec, frac, incl, _orig = struct.unpack_from("<IIII", data, at)
        out.append((sec * per_sec + frac, data[at + 16 : at + 16 + incl]))
        at += 16 + incl
    return per_sec, out
