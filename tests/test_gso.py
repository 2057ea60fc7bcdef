"""xdpkt.gso.segment: TSO/USO behaviour, arguments and errors."""

from __future__ import annotations

import struct

import frames as F
import pytest
import xdpkt


def tcp_fields(frame: bytes, l3: int = 14) -> tuple[int, int, int]:
    """(IPv4 ID, TCP seq, TCP flags) of a TCP/IPv4 frame."""
    ident = struct.unpack_from("!H", frame, l3 + 4)[0]
    seq = struct.unpack_from("!I", frame, l3 + 24)[0]
    return ident, seq, frame[l3 + 33]


def assert_valid_v4(frame: bytes, proto: int = 6, l3: int = 14) -> None:
    ihl = (frame[l3] & 0xF) * 4
    tot = struct.unpack_from("!H", frame, l3 + 2)[0]
    assert F.csum(frame[l3 : l3 + ihl]) == 0, "IPv4 header checksum"
    l4 = frame[l3 + ihl : l3 + tot]
    pseudo = frame[l3 + 12 : l3 + 20] + struct.pack("!BBH", 0, proto, len(l4))
    assert F.csum(pseudo + l4) == 0, "L4 checksum"


def test_tcp4_cut_at_mss_with_kernel_rules() -> None:
    frame = F.tcp4(F.pattern(5000), seq=7, flags=F.ACK | F.PSH | F.FIN, ident=100)
    segs = xdpkt.gso.segment(frame, mss=1448)
    assert [len(s) - 54 for s in segs] == [1448, 1448, 1448, 656]
    assert [tcp_fields(s)[:2] for s in segs] == [(100 + i, 7 + i * 1448) for i in range(4)]
    # FIN and PSH only on the last segment.
    assert [tcp_fields(s)[2] for s in segs] == [F.ACK] * 3 + [F.ACK | F.PSH | F.FIN]
    assert b"".join(s[54:] for s in segs) == F.pattern(5000)
    for s in segs:
        assert_valid_v4(s)


def test_fixed_id_keeps_the_first_id() -> None:
    segs = xdpkt.gso.segment(F.tcp4(F.pattern(3000), ident=9), mss=1000, fixed_id=True)
    assert [tcp_fields(s)[0] for s in segs] == [9, 9, 9]


def test_tcp6_and_vlan() -> None:
    segs = xdpkt.gso.segment(F.tcp6(F.pattern(2500)), mss=1200)
    assert [struct.unpack_from("!H", s, 18)[0] for s in segs] == [1220, 1220, 120]
    segs = xdpkt.gso.segment(F.tcp4(F.pattern(2500), vlan=42), mss=1200)
    assert len(segs) == 3
    for s in segs:
        assert s[12:16] == b"\x81\x00\x00\x2a"
        assert_valid_v4(s, l3=18)


def test_udp4_datagrams_each_with_own_headers() -> None:
    segs = xdpkt.gso.segment(F.udp4(F.pattern(3000)), mss=1400)
    assert [struct.unpack_from("!H", s, 38)[0] for s in segs] == [1408, 1408, 208]
    for s in segs:
        assert_valid_v4(s, proto=17)


def test_udp_segment_limit_is_a_packet_error() -> None:
    with pytest.raises(xdpkt.PacketError, match="UDP_MAX_SEGMENTS"):
        xdpkt.gso.segment(F.udp4(F.pattern(xdpkt.gso.UDP_MAX_SEGMENTS + 1)), mss=1)
    assert len(xdpkt.gso.segment(F.udp4(F.pattern(xdpkt.gso.UDP_MAX_SEGMENTS)), mss=1)) == 128


def test_payload_that_fits_is_returned_unchanged() -> None:
    frame = F.tcp4(F.pattern(1448))
    assert xdpkt.gso.segment(frame, mss=1448) == [frame]


def test_many_segments_grow_the_pool() -> None:
    segs = xdpkt.gso.segment(F.tcp4(F.pattern(3000)), mss=1)
    assert len(segs) == 3000
    assert b"".join(s[54:] for s in segs) == F.pattern(3000)


def test_bytes_like_inputs() -> None:
    frame = F.tcp4(F.pattern(3000))
    want = xdpkt.gso.segment(frame, mss=1000)
    assert xdpkt.gso.segment(bytearray(frame), mss=1000) == want
    assert xdpkt.gso.segment(memoryview(frame), mss=1000) == want
    assert xdpkt.gso.segment(xdpkt.Packet(frame), mss=1000) == want


def test_packet_without_mss_uses_its_gso_size() -> None:
    frame = F.tcp4(F.pattern(3000))
    p = xdpkt.Packet(frame, gso_size=1000, gso_segs=3, gso_type="tcpv4")
    assert xdpkt.gso.segment(p) == xdpkt.gso.segment(frame, mss=1000)
    # Not an aggregate: nothing to cut.
    assert xdpkt.gso.segment(xdpkt.Packet(frame)) == [frame]


@pytest.mark.parametrize("mss", [0, -1, 65536])
def test_mss_out_of_range(mss: int) -> None:
    with pytest.raises(ValueError, match=r"mss must be in 1\.\.=65535"):
        xdpkt.gso.segment(F.tcp4(b"x" * 10), mss=mss)


def test_mss_required_for_plain_bytes() -> None:
    with pytest.raises(ValueError, match="mss is required"):
        xdpkt.gso.segment(F.tcp4(b"x" * 10))


def test_wrong_types() -> None:
    with pytest.raises(TypeError, match="frame: expected a bytes-like object"):
        xdpkt.gso.segment(12, mss=10)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        xdpkt.gso.segment(F.tcp4(b"x"), mss="10")  # type: ignore[arg-type]


def test_malformed_frame_names_the_problem() -> None:
    frame = bytearray(F.tcp4(F.pattern(100)))
    frame[14] = 0x43  # IHL 3 words
    with pytest.raises(xdpkt.PacketError, match=r"^IPv4 header length 12 < 20 at offset 14$") as ei:
        xdpkt.gso.segment(bytes(frame), mss=10)
    assert isinstance(ei.value, ValueError)
    assert isinstance(ei.value, xdpkt.XdpktError)
    with pytest.raises(xdpkt.PacketError, match="truncated"):
        xdpkt.gso.segment(F.tcp4(b"")[:30], mss=10)
    with pytest.raises(xdpkt.PacketError, match="EtherType 0x0806"):
        xdpkt.gso.segment(F.eth(0x0806) + bytes(28), mss=10)


def test_gso_type_mismatch_is_refused() -> None:
    p = xdpkt.Packet(F.tcp4(F.pattern(3000)), gso_size=1000, gso_type="tcpv6")
    with pytest.raises(xdpkt.PacketError, match="gso_type"):
        xdpkt.gso.segment(p)
