"""xdpkt.gro: one-batch coalesce, the streaming Gro, Packet, reversibility."""

from __future__ import annotations

import struct

import frames as F
import pytest
import xdpkt
from test_gso import assert_valid_v4


def test_one_flow_coalesces_into_one_aggregate() -> None:
    segs = F.tcp_flow(5, 1000)
    out = xdpkt.gro.coalesce(segs)
    assert len(out) == 1
    p = out[0]
    assert (p.gso_size, p.gso_segs, p.gso_type) == (1000, 5, "tcpv4")
    assert len(p) == 54 + 5000
    data = bytes(p)
    assert data[54:] == b"".join(s[54:] for s in segs)
    # First segment's headers, valid checksums (ours writes a full TCP checksum).
    assert struct.unpack_from("!H", data, 18)[0] == 1
    assert_valid_v4(data)


def test_interleaved_flows_and_ipv6() -> None:
    a = F.tcp_flow(3, 500, sport=1)
    b = F.tcp_flow(3, 500, sport=2)
    v6 = [F.tcp6(F.pattern(400), seq=1 + 400 * i) for i in range(3)]
    mixed = [x for t in zip(a, b, v6, strict=True) for x in t]
    out = xdpkt.gro.coalesce(mixed)
    assert sorted((p.gso_type, p.gso_segs) for p in out) == [("tcpv4", 3), ("tcpv4", 3), ("tcpv6", 3)]


def test_max_size_bounds_the_aggregate() -> None:
    out = xdpkt.gro.coalesce(F.tcp_flow(6, 1000), max_size=3040)
    assert [p.gso_segs for p in out] == [3, 3]
    assert all(len(p) - 14 <= 3040 for p in out)


def test_udp_gro_is_opt_in() -> None:
    dgrams = [F.udp4(F.pattern(800), ident=i) for i in range(4)]
    assert [p.gso_segs for p in xdpkt.gro.coalesce(dgrams)] == [0, 0, 0, 0]
    out = xdpkt.gro.coalesce(dgrams, udp=True)
    assert [(p.gso_type, p.gso_segs) for p in out] == [("udp_l4", 4)]


def test_bad_frames_pass_through_in_order_and_are_counted() -> None:
    bad_ihl = bytearray(F.tcp4(F.pattern(100)))
    bad_ihl[14] = 0x43
    junk = [b"", b"\x01" * 5, F.eth(0x0806) + bytes(28), bytes(bad_ihl)]
    out, reasons = xdpkt.gro.coalesce_counted(junk)
    assert [bytes(p) for p in out] == junk
    assert reasons == {"truncated": 2, "not_ip": 1, "ipv4_header_len": 1}


def test_coalesce_never_raises_on_random_bytes() -> None:
    import random

    rng = random.Random(7)
    good = F.tcp_flow(4, 300)
    frames: list[bytes] = []
    for f in good:
        frames.append(f)
        cut = bytearray(f[: rng.randrange(len(f))])
        for _ in range(3):
            if cut:
                cut[rng.randrange(len(cut))] = rng.randrange(256)
        frames.append(bytes(cut))
    out, reasons = xdpkt.gro.coalesce_counted(frames)
    assert sum(max(p.gso_segs, 1) for p in out) == len(frames)
    assert sum(reasons.values()) >= 1


def test_reversible_gro_segment_gives_back_the_segments() -> None:
    for segs in (F.tcp_flow(7, 1448), [F.tcp6(F.pattern(900, i), seq=5 + 900 * i) for i in range(4)]):
        (agg,) = xdpkt.gro.coalesce(segs)
        assert xdpkt.gso.segment(agg) == segs


def test_inputs_may_be_any_bytes_like_and_packets() -> None:
    segs = F.tcp_flow(3, 100)
    out = xdpkt.gro.coalesce([segs[0], bytearray(segs[1]), memoryview(segs[2])])
    assert [p.gso_segs for p in out] == [3]
    assert [p.gso_segs for p in xdpkt.gro.coalesce(xdpkt.Packet(s) for s in segs)] == [3]


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"max_size must be in 1\.\.=65535, got 0"):
        xdpkt.gro.coalesce([], max_size=0)
    with pytest.raises(ValueError, match="max_flows"):
        xdpkt.gro.coalesce([], max_flows=0)
    with pytest.raises(TypeError, match="frames: expected an iterable"):
        xdpkt.gro.coalesce(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"frames\[1\]: expected a bytes-like object"):
        xdpkt.gro.coalesce([b"x", 3])  # type: ignore[list-item]
    # A failed call leaves nothing behind for the next one.
    assert [p.gso_segs for p in xdpkt.gro.coalesce(F.tcp_flow(2, 100))] == [2]


def test_packet_object() -> None:
    (p,) = xdpkt.gro.coalesce(F.tcp_flow(2, 100))
    m = memoryview(p)
    assert m.readonly and m.tobytes() == bytes(p) and len(m) == len(p)
    with pytest.raises(TypeError):
        m[0] = 1
    assert p == xdpkt.Packet(bytes(p), gso_size=100, gso_segs=2, gso_type="tcpv4")
    assert p != xdpkt.Packet(bytes(p))
    assert hash(p) == hash(bytes(p))
    assert "gso_segs=2" in repr(p)
    with pytest.raises(ValueError, match="gso_type must be one of"):
        xdpkt.Packet(b"", gso_type="tso")
    with pytest.raises(ValueError, match="gso_size"):
        xdpkt.Packet(b"", gso_size=70000)


class TestStreamingGro:
    def test_push_without_timeout_flushes_each_poll(self) -> None:
        g = xdpkt.gro.Gro()
        out = g.push(F.tcp_flow(3, 100))
        assert [p.gso_segs for p in out] == [3]
        assert g.held == 0

    def test_flush_timeout_holds_across_pushes(self) -> None:
        g = xdpkt.gro.Gro(flush_usecs=1000)
        segs = F.tcp_flow(4, 100)
        assert g.push(segs[:2], now_ns=0) == []
        assert g.held == 1
        assert g.push(segs[2:], now_ns=500_000) == []
        assert g.flush_expired(now_ns=900_000) == []
        assert g.flush_expired(now_ns=1_000_000) == []  # not older than 1 ms yet
        (agg,) = g.flush_expired(now_ns=1_000_001)
        assert agg.gso_segs == 4 and g.held == 0
        assert g.push(segs[:1], now_ns=2_000_000) == []
        assert [p.gso_segs for p in g.flush()] == [0]

    def test_stats_and_settings(self) -> None:
        g = xdpkt.gro.Gro(max_size=9000, flush_usecs=50, max_flows=8, udp=True)
        assert (g.max_size, g.flush_usecs, g.max_flows, g.udp) == (9000, 50, 8, True)
        g.push([b"junk", *F.tcp_flow(3, 100)], now_ns=0)
        g.flush()
        s = g.stats()
        assert (s["packets_in"], s["packets_out"], s["merged"], s["aggregates"]) == (4, 2, 2, 1)
        assert s["passthrough"] == 1 and s["reasons"]["truncated"] == 1 and s["held"] == 0

    def test_bounded_flow_table_evicts_the_oldest(self) -> None:
        g = xdpkt.gro.Gro(max_flows=2, flush_usecs=10**6)
        flows = [F.tcp_flow(2, 100, sport=p) for p in (1, 2, 3)]
        out = g.push([f[0] for f in flows], now_ns=0)
        assert len(out) == 1 and g.held == 2
        assert g.stats()["evicted"] == 1

    def test_large_push_crosses_chunks(self) -> None:
        flows = [F.tcp_flow(40, 1000, sport=p) for p in range(1, 21)]
        frames = [f[i] for i in range(40) for f in flows]
        out = xdpkt.gro.Gro().push(frames)
        assert sum(p.gso_segs for p in out) == 800
        assert sum(len(p) - 54 for p in out) == 800 * 1000

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="flush_usecs"):
            xdpkt.gro.Gro(flush_usecs=-1)
        with pytest.raises(ValueError, match="now_ns"):
            xdpkt.gro.Gro().push([], now_ns=-5)


def test_fixed_id_aggregate_re_segments_with_fixed_ids() -> None:
    segs = [F.tcp4(F.pattern(500, i), seq=1 + 500 * i, ident=77) for i in range(3)]
    (agg,) = xdpkt.gro.coalesce(segs)
    assert agg.gso_fixed_id and "gso_fixed_id=True" in repr(agg)
    assert xdpkt.gso.segment(agg) == segs
    (inc,) = xdpkt.gro.coalesce(F.tcp_flow(3, 500))
    assert not inc.gso_fixed_id
