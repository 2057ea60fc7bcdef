"""The benchmark inputs and the scapy peer are right, independently of xdpkt.

If the generator wrote a bad checksum, every engine would pass frames through
instead of merging them and the benchmarks would measure the wrong thing.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_capture
import scapy_peer


def checksums_valid(frame: bytes) -> bool:
    """Recompute every checksum with scapy and compare with the frame's own."""
    p = Ether(frame)
    q = Ether(frame)
    for layer in (IP, TCP, UDP):
        if layer in q:
            del q[layer].chksum
    r = Ether(bytes(q))
    return all(p[layer].chksum == r[layer].chksum for layer in (IP, TCP, UDP) if layer in p)


@pytest.mark.parametrize("ip", ["v4", "v6"])
@pytest.mark.parametrize("kind", ["gro", "gso", "uso"])
def test_frames_have_valid_checksums_and_lengths(kind: str, ip: str) -> None:
    frames = list(
        gen_capture.generate(kind, ip, 130 if kind == "gro" else 3, flows=64 if kind == "gro" else 3)
    )
    for f in frames:
        assert checksums_valid(f)
        p = Ether(f)
        l3 = p[IP] if ip == "v4" else p[IPv6]
        assert (l3.len if ip == "v4" else l3.plen + 40) == len(f) - 14
    sizes = {len(f) for f in frames}
    if kind == "gro":
        assert sizes == {1514 if ip == "v4" else 1534}
    else:
        payload = len(bytes((Ether(frames[0])[TCP] if kind == "gso" else Ether(frames[0])[UDP]).payload))
        assert payload == gen_capture.BLOCK == 45 * 1448


def test_gro_order_is_round_robin_with_contiguous_seq() -> None:
    frames = [Ether(f) for f in gen_capture.generate("gro", "v4", 64 * 3, flows=64)]
    assert [p[TCP].sport for p in frames[:64]] == list(range(40000, 40064))
    for flow in range(64):
        segs = frames[flow::64]
        assert [s[TCP].seq - segs[0][TCP].seq for s in segs] == [0, 1448, 2896]
        assert [s[IP].id - segs[0][IP].id for s in segs] == [0, 1, 2]
        assert all(s[TCP].flags == "A" and s[IP].flags == "DF" for s in segs)


def test_run_option_groups_segments_per_flow() -> None:
    frames = [Ether(f) for f in gen_capture.generate("gro", "v4", 20, flows=64, run=8)]
    assert [p[TCP].sport for p in frames] == [40000] * 8 + [40001] * 8 + [40002] * 4


def test_pcap_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    frames = list(gen_capture.generate("gso", "v6", 2, flows=2))
    assert gen_capture.write_pcap(str(path), frames) == 2
    data = path.read_bytes()
    magic, _, _, _, _, snaplen, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, linktype) == (0xA1B2C3D4, 1) and snaplen >= len(frames[0])
    off, got = 24, []
    while off < len(data):
        caplen, length = struct.unpack("<II", data[off + 8 : off + 16])
        assert caplen == length
        got.append(data[off + 16 : off + 16 + caplen])
        off += 16 + caplen
    assert got == frames


@pytest.mark.parametrize("ip", ["v4", "v6"])
def test_scapy_peer_segment_and_coalesce_undo_each_other(ip: str) -> None:
    sup = next(gen_capture.generate("gso", ip, 1, flows=1))
    segs = scapy_peer.segment(sup, 1448)
    assert len(segs) == 45 and all(checksums_valid(s) for s in segs)
    # GRO undoes GSO exactly: same headers (first segment's IP ID and seq, PSH back on), same bytes
    assert scapy_peer.coalesce(segs) == [sup]


def test_scapy_peer_keeps_flows_apart_and_passes_non_tcp() -> None:
    gro = list(gen_capture.generate("gro", "v4", 64 * 2, flows=64))
    udp = next(gen_capture.generate("uso", "v4", 1, flows=1))
    out = scapy_peer.coalesce([udp, *gro])
    assert out[0] == udp
    assert len(out) == 1 + 64
    assert all(len(f) == 14 + 20 + 32 + 2 * 1448 for f in out[1:])
