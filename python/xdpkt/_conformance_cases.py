"""Frame builders and the conformance case lists (GRO and GSO) shared by the kernel oracle and tests.

The GRO cases follow the categories of the kernel selftest ``tools/testing/selftests/drivers/net/gro.c``
(data, ack, flags, tcp, ip, large), each for IPv4 and IPv6 where it applies, plus UDP GRO, 802.1Q and
seeded random mixes. The GSO cases follow the table of ``tools/testing/selftests/net/udpgso.c`` for UDP
(IPv4 and IPv6) plus TCP segmentation cases and seeded random super-frames.

Everything here is pure: bytes in, bytes out, no sockets and no privileges. Frames use locally
administered MAC addresses and addresses from 198.18.0.0/15 / 2001:db8::/32 that are not configured on
any interface, so a receiving kernel never answers them.
"""

from __future__ import annotations

import array
import random
import socket
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

SRC_MAC: Final = bytes.fromhex("020000000a01")
DST_MAC: Final = bytes.fromhex("020000000a02")
V4_SRC: Final = "198.19.0.1"
V4_DST: Final = "198.19.0.2"
V6_SRC: Final = "2001:db8:ffff::1"
V6_DST: Final = "2001:db8:ffff::2"
SPORT: Final = 1500
DPORT: Final = 8000

ETH_P_IP: Final = 0x0800
ETH_P_IPV6: Final = 0x86DD
ETH_P_8021Q: Final = 0x8100
IPPROTO_TCP: Final = 6
IPPROTO_UDP: Final = 17
IPPROTO_HOPOPTS: Final = 0
IPPROTO_ROUTING: Final = 43
IPPROTO_FRAGMENT: Final = 44
IPPROTO_DSTOPTS: Final = 60

FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10
URG: Final = 0x20
ECE: Final = 0x40
CWR: Final = 0x80

# gro.c: PAYLOAD_LEN 100, START_SEQ/START_ACK 100, MSS = 4096 - tcp - ipv6 header.
PAYLOAD_LEN: Final = 100
START_SEQ: Final = 100
START_ACK: Final = 100
LARGE_MSS: Final = 4096 - 20 - 40
IP_MAXPACKET: Final = 65535
UDP_MAX_SEGMENTS: Final = 128

Csum = Literal["full", "bad", "partial", "zero"]


# --- checksums -------------------------------------------------------------------------------------


def sum16(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """One's complement sum of big-endian 16-bit words (unfolded)."""
    raw = bytes(data)
    if len(raw) % 2:
        raw += b"\0"
    words = array.array("H", raw)
    if sys.byteorder == "little":
        words.byteswap()
    return initial + sum(words)


def fold(total: int) -> int:
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    return ~fold(sum16(data, initial)) & 0xFFFF


def pseudo_sum(src: bytes, dst: bytes, proto: int, length: int) -> int:
    """Unfolded sum of the IPv4 or IPv6 pseudo-header (``src``/``dst`` are 4 or 16 bytes)."""
    return sum16(src + dst) + proto + length


# --- builders --------------------------------------------------------------------------------------


def _ip4(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, addr)


def _ip6(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, addr)


def ext_header(next_header: int, body: bytes) -> bytes:
    """An IPv6 extension header (hop-by-hop, routing, destination options): 8-byte units."""
    length = 2 + len(body)
    if length % 8:
        raise ValueError("extension header length must be a multiple of 8")
    return bytes([next_header, length // 8 - 1]) + body


@dataclass(frozen=True)
class L3:
    """Network-layer parameters common to TCP and UDP frames."""

    v6: bool = False
    src: str | None = None
    dst: str | None = None
    ttl: int = 64
    tos: int = 0
    ip_id: int = 0
    df: bool = True
    mf: bool = False
    frag_offset: int = 0
    ip_options: bytes = b""
    bad_ip_csum: bool = False
    tot_len_delta: int = 0
    flow_label: int = 0
    ext: tuple[tuple[int, bytes], ...] = ()  # (header type, body of 6, 14, ... bytes)
    vlan: int | None = None
    pad_to: int = 0  # append zero bytes after the IP packet up to this frame length
    trailer: bytes = b""  # bytes after the IP packet (beyond tot_len / payload_len)
    src_mac: bytes = SRC_MAC
    dst_mac: bytes = DST_MAC


def _addresses(l3: L3) -> tuple[bytes, bytes]:
    if l3.v6:
        return _ip6(l3.src or V6_SRC), _ip6(l3.dst or V6_DST)
    return _ip4(l3.src or V4_SRC), _ip4(l3.dst or V4_DST)


def _wrap(l3: L3, proto: int, l4: bytes) -> bytes:
    """Put an L4 segment (checksum already final) into IP and Ethernet headers."""
    src, dst = _addresses(l3)
    if l3.v6:
        exts = b""
        chain = [t for t, _ in l3.ext] + [proto]
        for i, (_, body) in enumerate(l3.ext):
            exts += ext_header(chain[i + 1], body)
        first = chain[0]
        vtf = (6 << 28) | (l3.tos << 20) | (l3.flow_label & 0xFFFFF)
        ip = struct.pack("!IHBB", vtf, len(exts) + len(l4) + l3.tot_len_delta, first, l3.ttl) + src + dst
        packet = ip + exts + l4
        ethertype = ETH_P_IPV6
    else:
        if len(l3.ip_options) % 4:
            raise ValueError("IPv4 options must be a multiple of 4 bytes")
        ihl = 5 + len(l3.ip_options) // 4
        frag = (0x4000 if l3.df else 0) | (0x2000 if l3.mf else 0) | (l3.frag_offset & 0x1FFF)
        tot_len = 4 * ihl + len(l4) + l3.tot_len_delta
        hdr = bytearray(
            struct.pack("!BBHHHBBH", 0x40 | ihl, l3.tos, tot_len, l3.ip_id & 0xFFFF, frag, l3.ttl, proto, 0)
            + src
            + dst
            + l3.ip_options
        )
        csum = internet_checksum(hdr)
        if l3.bad_ip_csum:
            csum ^= 0x5555
        struct.pack_into("!H", hdr, 10, csum)
        packet = bytes(hdr) + l4
        ethertype = ETH_P_IP
    eth = l3.dst_mac + l3.src_mac
    if l3.vlan is not None:
        eth += struct.pack("!HH", ETH_P_8021Q, l3.vlan & 0x0FFF)
    frame = eth + struct.pack("!H", ethertype) + packet + l3.trailer
    if len(frame) < l3.pad_to:
        frame += bytes(l3.pad_to - len(frame))
    return frame


def _l4_checksum(l3: L3, proto: int, l4: bytearray, offset: int, csum: Csum) -> None:
    src, dst = _addresses(l3)
    ph = pseudo_sum(src, dst, proto, len(l4))
    struct.pack_into("!H", l4, offset, 0)
    if csum == "zero":
        return
    if csum == "partial":
        # What a NEEDS_CSUM sender puts in the field: the folded pseudo-header sum, not complemented.
        struct.pack_into("!H", l4, offset, fold(ph))
        return
    value = internet_checksum(l4, ph)
    if proto == IPPROTO_UDP and value == 0:
        value = 0xFFFF
    if csum == "bad":
        value = (value + 1) & 0xFFFF or 1
    struct.pack_into("!H", l4, offset, value)


def tcp_frame(
    l3: L3 = L3(),
    *,
    seq: int = START_SEQ,
    ack: int = START_ACK,
    flags: int = ACK,
    payload: bytes = b"",
    options: bytes = b"",
    window: int = 0xFFFF,
    urg_ptr: int = 0,
    sport: int = SPORT,
    dport: int = DPORT,
    csum: Csum = "full",
    doff: int | None = None,
) -> bytes:
    if len(options) % 4:
        raise ValueError("TCP options must be padded to a multiple of 4 bytes")
    data_offset = doff if doff is not None else 5 + len(options) // 4
    l4 = bytearray(
        struct.pack(
            "!HHIIBBHHH",
            sport,
            dport,
            seq & 0xFFFFFFFF,
            ack & 0xFFFFFFFF,
            data_offset << 4,
            flags & 0xFF,
            window,
            0,
            urg_ptr,
        )
        + options
        + payload
    )
    _l4_checksum(l3, IPPROTO_TCP, l4, 16, csum)
    return _wrap(l3, IPPROTO_TCP, bytes(l4))


def udp_frame(
    l3: L3 = L3(),
    *,
    payload: bytes = b"",
    sport: int = SPORT,
    dport: int = DPORT,
    csum: Csum = "full",
    len_delta: int = 0,
) -> bytes:
    l4 = bytearray(struct.pack("!HHHH", sport, dport, 8 + len(payload) + len_delta, 0) + payload)
    _l4_checksum(l3, IPPROTO_UDP, l4, 6, csum)
    return _wrap(l3, IPPROTO_UDP, bytes(l4))


def payload_bytes(length: int, start: int = 0) -> bytes:
    """A recognisable payload: byte i is (start + i) mod 251, so shifted or lost bytes show up."""
    return bytes((start + i) % 251 for i in range(length))


def ts_option(tsval: int, tsecr: int = 0, order: int = 0) -> bytes:
    """gro.c's timestamp options: a permutation of {NOP, NOP, TS}."""
    ts = struct.pack("!BBII", 8, 10, tsval, tsecr)
    return (b"\x01\x01" + ts, b"\x01" + ts + b"\x01", ts + b"\x01\x01")[order]


# --- frame inspection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """Where the headers of a frame are (best effort; ``l4`` is None for frames we cannot follow)."""

    vlan: int | None
    l3: int
    v6: bool
    proto: int | None
    l4: int | None
    l3_len: int | None  # tot_len / 40 + payload_len as the header says
    key: tuple[object, ...]


def parse(frame: bytes) -> Parsed:
    """Locate L3/L4 and compute a flow key: L2 header (with tag), addresses, protocol, ports."""
    off = 12
    vlan = None
    ethertype = int.from_bytes(frame[12:14], "big") if len(frame) >= 14 else -1
    if ethertype == ETH_P_8021Q and len(frame) >= 18:
        vlan = int.from_bytes(frame[14:16], "big")
        off = 16
        ethertype = int.from_bytes(frame[16:18], "big")
    l3 = off + 2
    l2 = bytes(frame[:l3])
    if ethertype == ETH_P_IP and len(frame) >= l3 + 20:
        ihl = (frame[l3] & 0x0F) * 4
        proto = frame[l3 + 9]
        l3_len = int.from_bytes(frame[l3 + 2 : l3 + 4], "big")
        addrs = bytes(frame[l3 + 12 : l3 + 20])
        frag = int.from_bytes(frame[l3 + 6 : l3 + 8], "big") & 0x3FFF
        l4 = l3 + ihl if ihl >= 20 and not frag & 0x1FFF else None
        return Parsed(vlan, l3, False, proto, l4, l3_len, (l2, addrs, proto, _ports(frame, l4)))
    if ethertype == ETH_P_IPV6 and len(frame) >= l3 + 40:
        nh = frame[l3 + 6]
        l3_len = 40 + int.from_bytes(frame[l3 + 4 : l3 + 6], "big")
        addrs = bytes(frame[l3 + 8 : l3 + 40])
        flow = int.from_bytes(frame[l3 : l3 + 4], "big") & 0xFFFFF
        pos: int | None = l3 + 40
        while nh in (IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT):
            assert pos is not None
            if len(frame) < pos + 8:
                pos = None
                break
            step = 8 if nh == IPPROTO_FRAGMENT else (frame[pos + 1] + 1) * 8
            nh = frame[pos]
            pos += step
        return Parsed(vlan, l3, True, nh, pos, l3_len, (l2, addrs, flow, nh, _ports(frame, pos)))
    return Parsed(vlan, l3, False, None, None, None, (l2, "raw"))


def _ports(frame: bytes, l4: int | None) -> bytes:
    if l4 is None or len(frame) < l4 + 4:
        return b""
    return bytes(frame[l4 : l4 + 4])


def l4_checksum_ok(frame: bytes) -> bool:
    """Whether the TCP/UDP checksum of a frame is valid over its IP length (UDP 0 counts as valid)."""
    p = parse(frame)
    if p.l4 is None or p.l3_len is None or p.proto not in (IPPROTO_TCP, IPPROTO_UDP):
        return False
    end = p.l3 + p.l3_len
    seg = frame[p.l4 : end]
    if p.v6:
        src, dst = frame[p.l3 + 8 : p.l3 + 24], frame[p.l3 + 24 : p.l3 + 40]
    else:
        src, dst = frame[p.l3 + 12 : p.l3 + 16], frame[p.l3 + 16 : p.l3 + 20]
    if p.proto == IPPROTO_UDP and seg[6:8] == b"\0\0":
        return True
    return internet_checksum(seg, pseudo_sum(src, dst, p.proto, len(seg))) == 0


def l4_checksum_offset(frame: bytes) -> int | None:
    p = parse(frame)
    if p.l4 is None:
        return None
    if p.proto == IPPROTO_TCP:
        return p.l4 + 16
    if p.proto == IPPROTO_UDP:
        return p.l4 + 6
    return None


def l4_payload_len(frame: bytes) -> int:
    """L4 payload bytes by the IP length (padding excluded); -1 when the frame cannot be followed."""
    p = parse(frame)
    if p.l4 is None or p.l3_len is None:
        return -1
    if p.proto == IPPROTO_TCP and len(frame) > p.l4 + 12:
        return p.l3 + p.l3_len - p.l4 - (frame[p.l4 + 12] >> 4) * 4
    if p.proto == IPPROTO_UDP:
        return p.l3 + p.l3_len - p.l4 - 8
    return -1


# --- case types ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroCase:
    """Frames sent back to back (one NAPI batch, ideally) to a receiver with GRO on.

    ``expect`` lists the L4 payload lengths the kernel delivers per flow in order (from gro.c or from
    reading the kernel source), for the self-check of the harness; None where only the comparison counts.
    """

    name: str
    frames: tuple[bytes, ...]
    udp: bool = False
    max_size: int = IP_MAXPACKET
    expect: tuple[int, ...] | None = None
    needs_vlan_gro: bool = False
    # Flows held at once. A veth delivers skbs without an RX hash, so every flow lands in the same one
    # of the kernel's 8 GRO buckets, which holds at most MAX_GRO_SKBS (8): on veth the kernel's table
    # is 8 flows, oldest evicted first. Cases that fill the table say so; the rest never exceed 8.
    max_flows: int = 8


@dataclass(frozen=True)
class GsoCase:
    """One super-frame (full valid checksum) and the segment size to cut it at.

    ``expect`` is the list of segment payload lengths the kernel produces; ``kernel_rejects`` marks
    requests the kernel drops; ``ours_rejects`` marks requests ``xdpkt.gso.segment`` must refuse.
    """

    name: str
    frame: bytes
    mss: int
    expect: tuple[int, ...] | None = None
    kernel_rejects: bool = False
    ours_rejects: bool = False
    notes: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def partial_csum_frame(frame: bytes) -> bytes:
    """The same frame with its L4 checksum field holding the pseudo-header sum (virtio NEEDS_CSUM input)."""
    p = parse(frame)
    off = l4_checksum_offset(frame)
    if off is None or p.l4 is None or p.l3_len is None or p.proto is None:
        raise ValueError("not a TCP/UDP frame")
    if p.v6:
        src, dst = frame[p.l3 + 8 : p.l3 + 24], frame[p.l3 + 24 : p.l3 + 40]
    else:
        src, dst = frame[p.l3 + 12 : p.l3 + 16], frame[p.l3 + 16 : p.l3 + 20]
    length = p.l3 + p.l3_len - p.l4
    out = bytearray(frame)
    struct.pack_into("!H", out, off, fold(pseudo_sum(src, dst, p.proto, length)))
    return bytes(out)


# --- GRO cases -------------------------------------------------------------------------------------


def _segments(
    l3: L3, sizes: Sequence[int], *, seq: int = START_SEQ, flags: int = ACK, options: bytes = b""
) -> list[bytes]:
    out = []
    for size in sizes:
        out.append(tcp_frame(l3, seq=seq, flags=flags, options=options, payload=payload_bytes(size, seq)))
        seq += size
    return out


def _seg(l3: L3, index: int, size: int = PAYLOAD_LEN, **kw: object) -> bytes:
    """Segment number ``index`` of a run of PAYLOAD_LEN segments (seq = START_SEQ + index * 100)."""
    seq = START_SEQ + index * PAYLOAD_LEN
    return tcp_frame(l3, seq=seq, payload=payload_bytes(size, seq), **kw)  # type: ignore[arg-type]


def has_vlan_gro() -> bool:
    """Whether the running kernel merges 802.1Q-tagged frames (``vlan_gro_receive``, CONFIG_VLAN_8021Q).

    Kernels built without 802.1Q support (this machine's 6.18 among them) deliver tagged frames unmerged,
    so VLAN GRO cases can only be compared with a kernel that has it.
    """
    try:
        with open("/proc/kallsyms", encoding="ascii", errors="replace") as f:
            return any(line.rstrip().endswith(" vlan_gro_receive") for line in f)
    except OSError:
        return False


def gro_cases(*, random_vlan: bool = True, seed: int = 20261122, random_count: int = 30) -> list[GroCase]:
    """All GRO cases; ``random_vlan`` lets the random mixes carry 802.1Q tags (those need VLAN GRO)."""
    cases: list[GroCase] = []
    for v6 in (False, True):
        fam = "6" if v6 else "4"
        base = L3(v6=v6, ttl=8)

        def add(
            name: str,
            frames: Iterable[bytes],
            expect: Sequence[int] | None = None,
            fam: str = fam,
            **kw: object,
        ) -> None:
            exp = tuple(expect) if expect is not None else None
            cases.append(GroCase(f"{name}_v{fam}", tuple(frames), expect=exp, **kw))  # type: ignore[arg-type]

        p = PAYLOAD_LEN
        add("data_same", _segments(base, [p] * 4), [4 * p])
        add("data_lrg_sml", _segments(base, [p, p // 2]), [p + p // 2])
        add("data_sml_lrg", _segments(base, [p // 2, p]), [p // 2, p])
        add("data_single_byte", _segments(base, [1, 1, 1]), [3])
        add("data_after_short", _segments(base, [p, p // 2, p]), [p + p // 2, p])
        add(
            "ack",
            [
                tcp_frame(base),
                tcp_frame(base),
                tcp_frame(base, ack=START_ACK + 1),
            ],
            [0, 0, 0],
        )
        add("ack_then_data", [tcp_frame(base), *_segments(base, [p, p])], [0, 2 * p])
        # gro.c send_flags: the flagged packet is number NUM_PACKETS/2 (= 2) of 5; for CWR also number 1.
        add(
            "flags_psh", [_seg(base, i, flags=ACK | (PSH if i == 2 else 0)) for i in range(5)], [3 * p, 2 * p]
        )
        add(
            "flags_fin", [_seg(base, i, flags=ACK | (FIN if i == 2 else 0)) for i in range(5)], [3 * p, 2 * p]
        )
        for fname, flag in (("syn", SYN), ("rst", RST), ("urg", URG)):
            frames = []
            for i in range(5):
                if i == 2:
                    frames.append(tcp_frame(base, seq=START_SEQ, flags=ACK | flag))
                else:
                    frames.append(_seg(base, i))
            add(f"flags_{fname}", frames, [2 * p, 0, 2 * p])
        add(
            "flags_cwr",
            [_seg(base, i, flags=ACK | (CWR if i in (1, 2) else 0)) for i in range(5)],
            [p, p, p, 2 * p],
        )
        add("flags_ece", [_seg(base, i, flags=ACK | (ECE if i == 2 else 0)) for i in range(4)])
        add("flags_urg_data", [_seg(base, i, flags=ACK | URG if i == 1 else ACK, urg_ptr=5 if i == 1 else 0)
                               for i in range(4)])  # fmt: skip
        add("tcp_csum", [_seg(base, 0), _seg(base, 1, csum="bad")], [p, p])
        add("tcp_csum_first_bad", [_seg(base, 0, csum="bad"), _seg(base, 1), _seg(base, 2)], [p, 2 * p])
        add(
            "tcp_seq",
            [_seg(base, 0), tcp_frame(base, seq=START_SEQ + p + 1, payload=payload_bytes(p))],
            [p, p],
        )
        add("tcp_out_of_order", [_seg(base, 1), _seg(base, 0), _seg(base, 2)])
        add("tcp_ack_seq", [_seg(base, 0), _seg(base, 1, ack=START_ACK + 1)], [p, p])
        add("tcp_window", [_seg(base, 0), _seg(base, 1, window=1000)], [p, p])
        add(
            "tcp_ts",
            [
                _seg(base, 0, options=ts_option(0, order=0)),
                _seg(base, 1, options=ts_option(0, order=0)),
                _seg(base, 2, options=ts_option(100, order=0)),
                _seg(base, 3, options=ts_option(100, order=1)),
                _seg(base, 4, options=ts_option(100, order=2)),
            ],
            [2 * p, p, p, p],
        )
        add(
            "tcp_opt",
            [
                _seg(base, 0, options=ts_option(0)),
                _seg(base, 1, options=ts_option(0)),
                _seg(base, 2, options=b"\x01\x03\x03\x00"),  # NOP, window scale 0
            ],
            [2 * p, p],
        )
        add("tcp_doff_small", [_seg(base, 0), _seg(base, 1, doff=4), _seg(base, 2)])
        ecn = base.tos ^ 0x02
        add("ip_ecn", [_seg(base, 0), _seg(L3(v6=v6, ttl=8, tos=ecn), 1)], [p, p])
        add("ip_tos", [_seg(base, 0), _seg(L3(v6=v6, ttl=8, tos=0xF0 if v6 else 1), 1)], [p, p])
        add("ip_ttl", [_seg(base, 0), _seg(L3(v6=v6, ttl=7), 1)])
        add("ip_len_trailer", [_seg(base, 0), _seg(L3(v6=v6, ttl=8, trailer=b"\xee" * 8), 1), _seg(base, 2)])
        add("ip_len_short", [_seg(base, 0), _seg(L3(v6=v6, ttl=8, tot_len_delta=8), 1), _seg(base, 2)])
        add("large_max", _large(base, 0), _large_expect(v6, 0))
        add("large_rem", _large(base, 1), _large_expect(v6, 1))
        add("large_over_max_size", _segments(base, [8000] * 9))
        add("vlan_data_same", _segments(L3(v6=v6, ttl=8, vlan=100), [p] * 4), [4 * p], needs_vlan_gro=True)
        add(
            "vlan_diff",
            [_seg(L3(v6=v6, ttl=8, vlan=100 + (i % 2)), i // 2) for i in range(4)],
            needs_vlan_gro=True,
        )
        add("vlan_flags_psh", [_seg(L3(v6=v6, ttl=8, vlan=9), i, flags=ACK | (PSH if i == 1 else 0))
                               for i in range(4)], [2 * p, 2 * p], needs_vlan_gro=True)  # fmt: skip
        add(
            "two_flows_interleaved",
            [_seg(base, i // 2, sport=SPORT + i % 2) for i in range(8)],
        )
        for nflows in (8, 9, 12):
            add(
                f"flow_table_{nflows}",
                [_seg(base, i // nflows, sport=SPORT + i % nflows) for i in range(3 * nflows)],
                [3 * p] * nflows if nflows <= 8 else [p] * (3 * nflows),
            )
        add("mixed_vlan_untagged", [_seg(base, 0), _seg(L3(v6=v6, ttl=8, vlan=7), 1), _seg(base, 1)])
        if not v6:
            # inet_gro_receive flushes when tot_len differs from the bytes present: Ethernet padding
            # (a 1-byte segment is a 55-byte frame, padded to 60) blocks merging on this kernel.
            add("data_padded", _segments(L3(ttl=8, pad_to=60), [1, 1, 1]), [1, 1, 1])
            add("ip_opt", [_seg(base, 0), _seg(L3(ttl=8, ip_options=b"\x44\x04\x05\x00"), 1), _seg(base, 2)],
                [p, p, p])  # fmt: skip
            add("ip_frag4", [_seg(base, 0), _seg(L3(ttl=8, mf=True), 1)], [p, p])
            add("ip_frag4_offset", [_seg(base, 0), _seg(L3(ttl=8, frag_offset=4), 1), _seg(base, 1)])
            add("ip_csum", [_seg(base, 0), _seg(L3(ttl=8, bad_ip_csum=True), 1), _seg(base, 1)])
            add("ip_df_change", [_seg(L3(ttl=8, ip_id=8), 0), _seg(L3(ttl=8, ip_id=9, df=False), 1)])
            # (DF, ID) of each packet; gro.c's flush_id cases plus the DF=0 mixes.
            ids: list[tuple[str, list[tuple[bool, int]], list[int] | None]] = [
                ("df1_inc", [(True, 8), (True, 9)], [2 * p]),
                ("df1_fixed", [(True, 8), (True, 8)], [2 * p]),
                ("df0_inc", [(False, 8), (False, 9)], [2 * p]),
                ("df0_fixed", [(False, 8), (False, 8)], [2 * p]),
                ("df1_inc_fixed", [(True, 8), (True, 9), (True, 9)], [2 * p, p]),
                ("df1_fixed_inc", [(True, 8), (True, 8), (True, 9)], [2 * p, p]),
                ("df0_inc_fixed", [(False, 8), (False, 9), (False, 9)], None),
                ("df0_fixed_inc", [(False, 8), (False, 8), (False, 9)], None),
            ]
            for idname, spec, exp in ids:
                frames = [_seg(L3(ttl=8, df=df, ip_id=ip_id), i) for i, (df, ip_id) in enumerate(spec)]
                add(f"ip_id_{idname}", frames, exp)
            add("ip_id_wrap", [_seg(L3(ttl=8, ip_id=0xFFFF - 1 + i), i) for i in range(4)], [4 * p])
            add("ip_id_gap", [_seg(L3(ttl=8, ip_id=8 + 2 * i), i) for i in range(3)])
        else:
            frag_l3 = L3(v6=True, ttl=8, ext=((IPPROTO_FRAGMENT, bytes(6)),))
            add("ip_frag6", [_seg(base, 0), _seg(base, 1), _seg(frag_l3, 2), _seg(base, 3)])
            dst1 = L3(v6=True, ttl=8, ext=((IPPROTO_DSTOPTS, b"\x00" * 6),))
            dst2 = L3(v6=True, ttl=8, ext=((IPPROTO_DSTOPTS, b"\x11" * 6),))
            add("ip_v6ext_same", [_seg(dst1, 0), _seg(dst1, 1)], [2 * p])
            add("ip_v6ext_diff", [_seg(dst1, 0), _seg(dst2, 1)], [p, p])
            hbh = L3(v6=True, ttl=8, ext=((IPPROTO_HOPOPTS, b"\x01\x04\x00\x00\x00\x00"),))
            add("ip_v6ext_hbh_same", [_seg(hbh, i) for i in range(3)])
            rth = L3(v6=True, ttl=8, ext=((IPPROTO_ROUTING, b"\x02\x00\x00\x00\x00\x00" + bytes(16)),))
            add("ip_v6ext_routing_same", [_seg(rth, i) for i in range(3)])
            two = L3(
                v6=True, ttl=8, ext=((IPPROTO_HOPOPTS, b"\x01\x04" + bytes(4)), (IPPROTO_DSTOPTS, bytes(6)))
            )
            add("ip_v6ext_two_same", [_seg(two, i) for i in range(3)])
            add("ip_v6ext_vs_none", [_seg(base, 0), _seg(dst1, 1), _seg(dst1, 2)])
            # A smaller gro_max_size (the device's, here IPv6 only: iproute2 6.1 cannot set
            # gro_ipv4_max_size). The kernel merges while the L3 length stays below gro_max_size, so
            # the oracle sets gro_max_size = max_size + 1 for our max_size (largest L3 length).
            for limit, exp in ((8060, [8000, 4000]), (8059, [7000, 5000])):
                add(f"gro_max_size_{limit}", _segments(base, [1000] * 12), exp, max_size=limit)
            add("ip_flowlabel", [_seg(base, 0), _seg(L3(v6=True, ttl=8, flow_label=0x12345), 1)])
        cases.extend(_udp_gro_cases(v6, fam))
    cases.extend(random_gro_cases(seed, random_count, vlan=random_vlan))
    return cases


def _large(l3: L3, extra: int) -> list[bytes]:
    """gro.c send_large: NUM_LARGE_PKT full MSS segments, then two of ``remainder (+1)`` bytes."""
    max_payload = IP_MAXPACKET - 20 - 40
    offset = 0 if l3.v6 else 20
    n = max_payload // LARGE_MSS
    rem = (max_payload + offset) % LARGE_MSS + extra
    frames = _segments(l3, [LARGE_MSS] * n)
    frames.append(tcp_frame(l3, seq=START_SEQ + n * LARGE_MSS, payload=payload_bytes(rem)))
    frames.append(tcp_frame(l3, seq=START_SEQ + (n + 1) * LARGE_MSS, payload=payload_bytes(rem)))
    return frames


def _large_expect(v6: bool, extra: int) -> list[int]:
    max_payload = IP_MAXPACKET - 20 - 40
    offset = 0 if v6 else 20
    rem = (max_payload + offset) % LARGE_MSS
    if extra == 0:
        return [max_payload + offset, rem]
    return [max_payload + offset - rem, rem + 1, rem + 1]


def _udp_gro_cases(v6: bool, fam: str) -> list[GroCase]:
    base = L3(v6=v6, ttl=8)
    p = PAYLOAD_LEN

    def dgrams(sizes: Sequence[int], **kw: object) -> list[bytes]:
        return [udp_frame(base, payload=payload_bytes(s, i), **kw) for i, s in enumerate(sizes)]  # type: ignore[arg-type]

    def case(
        name: str,
        frames: Sequence[bytes],
        expect: Sequence[int] | None = None,
        *,
        needs_vlan_gro: bool = False,
    ) -> GroCase:
        exp = tuple(expect) if expect is not None else None
        return GroCase(
            f"udp_{name}_v{fam}", tuple(frames), udp=True, expect=exp, needs_vlan_gro=needs_vlan_gro
        )

    return [
        case("same", dgrams([p] * 4), [4 * p]),
        case("lrg_sml", dgrams([p, p // 2]), [p + p // 2]),
        case("sml_lrg", dgrams([p // 2, p]), [p // 2, p]),
        case("lrg_sml_lrg", dgrams([p, p // 2, p]), [p + p // 2, p]),
        case("zero_csum", dgrams([p] * 3, csum="zero"), [p, p, p]),
        case("bad_csum", [*dgrams([p]), udp_frame(base, payload=payload_bytes(p, 1), csum="bad")], [p, p]),
        case("len_short", [*dgrams([p]), udp_frame(base, payload=payload_bytes(p), len_delta=-4),
                           *dgrams([p])]),
        case("max_segs", dgrams([p] * 65), [64 * p, p]),
        case("diff_ports", [udp_frame(base, payload=payload_bytes(p), sport=SPORT + i % 2)
                            for i in range(6)]),
        case("ttl", [udp_frame(base, payload=payload_bytes(p)),
                     udp_frame(L3(v6=v6, ttl=7), payload=payload_bytes(p))]),
        case("ttl_then_same", [udp_frame(L3(v6=v6, ttl=7), payload=payload_bytes(p)),
                               *dgrams([p] * 3)], [p, 3 * p]),
        case("mixed_with_tcp", [x for i in range(3) for x in (udp_frame(base, payload=payload_bytes(p, i)),
                                                              _seg(base, i))], [3 * p, 3 * p]),
        case("l3_options", [*dgrams([p]), udp_frame(_with_l3_options(v6), payload=payload_bytes(p)),
                            udp_frame(_with_l3_options(v6), payload=payload_bytes(p)), *dgrams([p])]),
        case("vlan_same", [udp_frame(L3(v6=v6, ttl=8, vlan=5), payload=payload_bytes(p)) for _ in range(3)],
             [3 * p], needs_vlan_gro=True),
    ]  # fmt: skip


def random_gro_cases(seed: int = 20261122, count: int = 30, *, vlan: bool = True) -> list[GroCase]:
    """Seeded mixes of 1..4 flows (TCP, sometimes UDP) with random sizes and occasional rule breakers.

    Rule breakers, each rare: PSH, FIN, URG, CWR, ECE, a sequence gap, a changed window, ack, TTL, TOS,
    DF bit, IPv4 ID (a fixed-ID flow that increments once, or the reverse), timestamp value, a bad TCP
    checksum, two neighbours swapped. Same seed, same cases.
    """
    rng = random.Random(seed)
    use_vlan = vlan
    cases = []
    for n in range(count):
        v6 = rng.random() < 0.5
        tagged = rng.random() < 0.2
        tag = 10 + n if tagged and use_vlan else None
        flows: list[list[bytes]] = []
        for f in range(rng.randint(1, 4)):
            is_udp = rng.random() < 0.25
            mss = rng.choice([1, 7, 100, 536, 1448, 1460, 4000])
            seq = rng.randrange(1 << 32)
            ack = rng.randrange(1 << 32)
            ip_id = rng.randrange(65536)
            fixed_id = rng.random() < 0.3
            df = rng.random() < 0.8
            tsval = rng.randrange(1 << 32) if rng.random() < 0.3 else None
            frames = []
            for _ in range(rng.randint(2, 12)):
                size = mss if rng.random() < 0.8 else rng.randint(0 if not is_udp else 1, mss)
                flags, window, ttl, tos, this_ack, this_df, this_ts = ACK, 0xFFFF, 64, 0, ack, df, tsval
                roll = rng.random()
                if roll < 0.04:
                    flags |= PSH
                elif roll < 0.06:
                    flags |= FIN
                elif roll < 0.07:
                    flags |= URG
                elif roll < 0.08:
                    flags |= CWR
                elif roll < 0.09:
                    flags |= ECE
                elif roll < 0.11:
                    seq += 1
                elif roll < 0.12:
                    window = 512
                elif roll < 0.13:
                    this_ack = ack + 1
                elif roll < 0.14:
                    ttl = 63
                elif roll < 0.15:
                    tos = 0x02
                elif roll < 0.16:
                    this_df = not df
                elif roll < 0.17:
                    ip_id = (ip_id + 1) & 0xFFFF
                elif roll < 0.18 and tsval is not None:
                    this_ts = tsval + 1
                frame_l3 = L3(v6=v6, ttl=ttl, tos=tos, vlan=tag, ip_id=ip_id, df=this_df)
                sport = SPORT + n * 4 + f
                bad = rng.random() < 0.03
                if is_udp:
                    payload = payload_bytes(size, seq)
                    frames.append(
                        udp_frame(frame_l3, payload=payload, sport=sport, csum="bad" if bad else "full")
                    )
                else:
                    frames.append(
                        tcp_frame(
                            frame_l3,
                            seq=seq,
                            ack=this_ack,
                            flags=flags,
                            window=window,
                            urg_ptr=1 if flags & URG else 0,
                            options=ts_option(this_ts) if this_ts is not None else b"",
                            sport=sport,
                            payload=payload_bytes(size, seq),
                            csum="bad" if bad else "full",
                        )
                    )
                seq += size
                if not fixed_id:
                    ip_id = (ip_id + 1) & 0xFFFF
            if len(frames) > 2 and rng.random() < 0.1:
                k = rng.randrange(len(frames) - 1)
                frames[k], frames[k + 1] = frames[k + 1], frames[k]
            flows.append(frames)
        mixed: list[bytes] = []
        while any(flows):
            pick = rng.choice([fl for fl in flows if fl])
            mixed.append(pick.pop(0))
        name = f"random_{n:0{2 if count <= 100 else 4}d}_v{'6' if v6 else '4'}"
        cases.append(GroCase(name, tuple(mixed), udp=True, needs_vlan_gro=tag is not None))
    return cases


# --- GSO cases -------------------------------------------------------------------------------------

MSS_V4: Final = 1500 - 20 - 8  # udpgso.c CONST_MSS_V4
MSS_V6: Final = 1500 - 40 - 8  # udpgso.c CONST_MSS_V6


def _split(total: int, mss: int) -> tuple[int, ...]:
    if total <= mss:
        return (total,)
    full, rest = divmod(total, mss)
    return (mss,) * full + ((rest,) if rest else ())


def gso_cases(*, seed: int = 1122, random_count: int = 20) -> list[GsoCase]:
    cases: list[GsoCase] = []
    for v6 in (False, True):
        fam = "6" if v6 else "4"
        l3 = L3(v6=v6, ip_id=0x1234)
        mss = MSS_V6 if v6 else MSS_V4
        max_bytes = IP_MAXPACKET - (48 if v6 else 28)

        def udp(
            name: str, total: int, seg: int, *, rejects: bool = False, l3_: L3 = l3, fam: str = fam
        ) -> None:
            # More than UDP_MAX_SEGMENTS segments: the kernel drops the request, ours must refuse it.
            cases.append(
                GsoCase(
                    f"udp_{name}_v{fam}",
                    udp_frame(l3_, payload=payload_bytes(total)),
                    seg,
                    expect=() if rejects else _split(total, seg),
                    kernel_rejects=rejects,
                    ours_rejects=rejects,
                )
            )

        # udpgso.c table
        udp("1byte", 1, mss)
        udp("exact_mss", mss, mss)
        udp("mss_plus_1", mss + 1, mss)
        udp("2mss", 2 * mss, mss)
        udp("2mss_plus_1", 2 * mss + 1, mss)
        udp("max_segs", (max_bytes // mss) * mss, mss)
        udp("max_bytes", max_bytes, mss)
        udp("1byte_mss", 1, 1)
        udp("2x1byte", 2, 1)
        udp("2_2_1", 5, 2)
        udp("128_segs", UDP_MAX_SEGMENTS, 1)
        udp("129_segs", UDP_MAX_SEGMENTS + 1, 1, rejects=True)
        udp("vlan_2mss_plus_1", 2 * mss + 1, mss, l3_=L3(v6=v6, ip_id=7, vlan=42))
        udp("id_wrap", 3 * 100, 100, l3_=L3(v6=v6, ip_id=0xFFFF))
        udp("l3_options", 3 * 1000 + 1, 1000, l3_=_with_l3_options(v6))

        tmss = 1448 if not v6 else 1428

        def tcp(
            name: str, total: int, seg: int, *, l3_: L3 = l3, seq: int = 1000, fam: str = fam, **kw: object
        ) -> None:
            frame = tcp_frame(l3_, seq=seq, payload=payload_bytes(total), **kw)  # type: ignore[arg-type]
            cases.append(GsoCase(f"tcp_{name}_v{fam}", frame, seg, expect=_split(total, seg)))

        tcp("1byte", 1, tmss)
        tcp("exact_mss", tmss, tmss)
        tcp("mss_plus_1", tmss + 1, tmss)
        tcp("2mss_plus_1", 2 * tmss + 1, tmss)
        tcp("max", IP_MAXPACKET - (60 if v6 else 40), tmss)
        tcp("1byte_mss", 10, 1)
        tcp("psh_fin", 3 * tmss - 5, tmss, flags=ACK | PSH | FIN)
        tcp("cwr_ece", 3 * tmss, tmss, flags=ACK | CWR | ECE)
        tcp("urg", 3 * tmss, tmss, flags=ACK | URG, urg_ptr=10)
        tcp("rst_syn", 2 * tmss, tmss, flags=ACK | SYN | RST)
        tcp("ts_option", 4 * 1000 + 3, 1000, options=ts_option(12345, 678))
        tcp("window_seq_wrap", 3 * 500, 500, seq=0xFFFFFF00, window=1234)
        tcp("vlan", 2 * tmss + 1, tmss, l3_=L3(v6=v6, ip_id=9, vlan=3))
        tcp("tos_ttl", 2 * 700, 700, l3_=L3(v6=v6, ip_id=1, tos=0xB8, ttl=3))
        tcp("l3_options", 3 * 1000 + 1, 1000, l3_=_with_l3_options(v6))
        if not v6:
            tcp("id_wrap_df0", 4 * 100, 100, l3_=L3(ip_id=0xFFFE, df=False))
        else:
            tcp("flowlabel_ext", 3 * 400, 400, l3_=L3(v6=True, flow_label=0xABCDE,
                                                     ext=((IPPROTO_DSTOPTS, bytes(6)),)))  # fmt: skip
    cases.extend(random_gso_cases(seed, random_count))
    return cases


def _with_l3_options(v6: bool) -> L3:
    """IPv4 with a router-alert option, or IPv6 with a hop-by-hop header: copied to every segment."""
    if v6:
        return L3(v6=True, ip_id=3, ext=((IPPROTO_HOPOPTS, b"\x05\x02\x00\x00\x01\x00"),))
    return L3(ip_id=3, ip_options=b"\x94\x04\x00\x00")


def random_gso_cases(seed: int = 1122, count: int = 20) -> list[GsoCase]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        v6 = rng.random() < 0.5
        is_udp = rng.random() < 0.4
        vlan = rng.randrange(1, 4095) if rng.random() < 0.2 else None
        l3 = L3(v6=v6, vlan=vlan, ip_id=rng.randrange(65536), ttl=rng.randint(1, 255), tos=rng.randrange(256))
        mss = rng.choice([1, 3, 64, 536, 1000, 1448, 1460, 8000])
        total = rng.randint(1, min(60000, mss * 60))
        if is_udp:
            frame = udp_frame(l3, payload=payload_bytes(total, n), sport=rng.randrange(1, 65536))
        else:
            flags = ACK | rng.choice([0, 0, PSH, FIN | PSH, CWR, URG])
            frame = tcp_frame(
                l3,
                seq=rng.randrange(1 << 32),
                ack=rng.randrange(1 << 32),
                flags=flags,
                urg_ptr=rng.randrange(100) if flags & URG else 0,
                options=ts_option(rng.randrange(1 << 32)) if rng.random() < 0.5 else b"",
                payload=payload_bytes(total, n),
            )
        name = f"random_{n:0{2 if count <= 100 else 4}d}_{'udp' if is_udp else 'tcp'}_v{'6' if v6 else '4'}"
        out.append(GsoCase(name, frame, mss, expect=_split(total, mss)))
    return out
