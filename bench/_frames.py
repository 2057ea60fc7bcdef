"""Frame builders shared by the bench scripts (struct-based, valid checksums)."""

from __future__ import annotations

import struct

SRC_MAC = bytes.fromhex("020000000001")
DST_MAC = bytes.fromhex("020000000002")


def csum(data: bytes) -> int:
    """RFC 1071 internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp4(payload: bytes, seq: int, ident: int, sport: int = 4000, flags: int = 0x10, net: int = 0) -> bytes:
    """Ethernet / IPv4 198.18.<net>.1 -> .2 / TCP sport -> 5001, ACK set unless ``flags`` says otherwise."""
    src, dst = bytes([198, 18, net, 1]), bytes([198, 18, net, 2])
    tcp = struct.pack("!HHIIBBHHH", sport, 5001, seq, 1, 5 << 4, flags, 512, 0, 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return DST_MAC + SRC_MAC + b"\x08\x00" + ip + tcp
