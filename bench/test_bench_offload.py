"""Python-level offload benchmarks (issue 2, "Speed"): xdpkt against scapy.

Same jobs, same frames (bench/gen_capture.py):
  gro-v4 / gro-v6   one batch of 64 interleaved TCP flows x 8 segments of
                    1448 bytes (512 frames) -> xdpkt.gro.coalesce / scapy
  gso-v4 / gso-v6   one 64 KB TCP super-frame (45 x 1448 bytes of payload)
                    -> xdpkt.gso.segment(frame, 1448) / scapy
  uso-v4 / uso-v6   the same for UDP (USO)

Run:  pytest bench/test_bench_offload.py --benchmark-json=out.json
(`bench/run_offload.sh` does this and turns the JSON into packets/s, Gbit/s
and the xdpkt/scapy ratio).  Each benchmark's extra_info says how many
packets and bytes one call handles and which side (input/output) counts.

The correctness tests at the bottom make sure both sides did the same job:
scapy's output and xdpkt's output are compared byte for byte.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_capture
import scapy_peer
import xdpkt

FLOWS = 64
SEGS_PER_FLOW = 8
MSS = 1448
# scapy needs ~0.1-1 s per call: a few rounds are enough for a ratio
SCAPY_ROUNDS = 3


def gro_frames(ip: str) -> list[bytes]:
    return list(gen_capture.generate("gro", ip, FLOWS * SEGS_PER_FLOW, flows=FLOWS))


def super_frame(kind: str, ip: str) -> bytes:
    return next(gen_capture.generate(kind, ip, 1))


def xdpkt_coalesce(frames: list[bytes]) -> list[bytes]:
    return [bytes(p) for p in xdpkt.gro.coalesce(frames)]


def xdpkt_segment(frame: bytes) -> list[bytes]:
    return list(xdpkt.gso.segment(frame, MSS))


def scapy_segment(frame: bytes) -> list[bytes]:
    return scapy_peer.segment(frame, MSS)


def run(benchmark: Any, impl: str, fn: Callable[[Any], list[bytes]], arg: Any) -> list[bytes]:
    if impl == "scapy":
        out: list[bytes] = benchmark.pedantic(fn, args=(arg,), rounds=SCAPY_ROUNDS, iterations=1)
    else:
        out = benchmark(fn, arg)
    return out


@pytest.mark.parametrize("ip", ["v4", "v6"])
@pytest.mark.parametrize("impl", ["xdpkt", "scapy"])
def test_gro(benchmark: Any, impl: str, ip: str) -> None:
    frames = gro_frames(ip)
    benchmark.group = f"gro-{ip}"
    benchmark.extra_info.update(
        job=f"gro-{ip}", impl=impl, packets=len(frames), bytes=sum(map(len, frames)), counted="input"
    )
    fn = xdpkt_coalesce if impl == "xdpkt" else scapy_peer.coalesce
    out = run(benchmark, impl, fn, frames)
    assert len(out) == FLOWS  # every flow's 8 segments became one aggregate


@pytest.mark.parametrize("ip", ["v4", "v6"])
@pytest.mark.parametrize("kind", ["gso", "uso"])
@pytest.mark.parametrize("impl", ["xdpkt", "scapy"])
def test_segment(benchmark: Any, impl: str, kind: str, ip: str) -> None:
    frame = super_frame(kind, ip)
    nseg = gen_capture.SEGS_PER_SUPER
    out_bytes = len(frame) + (nseg - 1) * (len(frame) - gen_capture.BLOCK)
    benchmark.group = f"{kind}-{ip}"
    benchmark.extra_info.update(
        job=f"{kind}-{ip}", impl=impl, packets=nseg, bytes=out_bytes, counted="output"
    )
    fn = xdpkt_segment if impl == "xdpkt" else scapy_segment
    out = run(benchmark, impl, fn, frame)
    assert len(out) == nseg
    assert sum(map(len, out)) == out_bytes


# ---------------------------------------------------------------- same job?


@pytest.mark.parametrize("ip", ["v4", "v6"])
@pytest.mark.parametrize("kind", ["gso", "uso"])
def test_segment_same_bytes_as_scapy(kind: str, ip: str) -> None:
    frame = super_frame(kind, ip)
    assert xdpkt_segment(frame) == scapy_segment(frame)


@pytest.mark.parametrize("ip", ["v4", "v6"])
def test_segments_are_the_gro_workload(ip: str) -> None:
    # segmenting flow 0's first super-frame gives flow 0's first 45 segments
    # (the last one additionally carries PSH, as the super-frame did)
    segs = xdpkt_segment(super_frame("gso", ip))
    flow0 = list(gen_capture.generate("gro", ip, FLOWS * gen_capture.SEGS_PER_SUPER, flows=FLOWS))[::FLOWS]
    assert segs[:-1] == flow0[:-1]


@pytest.mark.parametrize("ip", ["v4", "v6"])
def test_coalesce_same_bytes_as_scapy(ip: str) -> None:
    frames = gro_frames(ip)
    ours = sorted(xdpkt_coalesce(frames))
    theirs = sorted(scapy_peer.coalesce(frames))
    assert ours == theirs
