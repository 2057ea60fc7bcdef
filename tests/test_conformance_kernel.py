"""Differential tests: xdpkt's GRO and GSO against the Linux kernel of this machine, case by case.

Each GRO case is sent over a veth pair into a receiver with GRO on (see ``xdpkt._oracle``) and also given
to ``xdpkt.gro.coalesce`` as one batch; the outputs must be equal per flow (the order across flows
follows the kernel's hash buckets; within a flow it must match exactly), byte for byte, with gso_size and
gso_segs. The only field not compared is the L4 checksum of a merged frame, which the kernel leaves
partial; ours must be valid instead, and is checked. A busy machine can split a burst across NAPI polls,
so a GRO case passes when any of up to three kernel runs matches.

Each GSO case is one super-frame segmented by the kernel's software GSO and by ``xdpkt.gso.segment``;
the segment lists must be identical (the kernel writes full checksums here).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from xdpkt import _conformance_cases as cases
from xdpkt import _oracle as oracle_mod

xdpkt = pytest.importorskip("xdpkt", reason="xdpkt package not importable")
gro = pytest.importorskip("xdpkt.gro", reason="xdpkt.gro engine not built (maturin develop)")
gso = pytest.importorskip("xdpkt.gso", reason="xdpkt.gso engine not built (maturin develop)")

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("ethtool") is None,
        reason="needs root (CAP_NET_ADMIN, CAP_NET_RAW) and iproute2 + ethtool",
    ),
]

VLAN_GRO = cases.has_vlan_gro()
GRO_CASES = cases.gro_cases(random_vlan=VLAN_GRO)
GSO_CASES = cases.gso_cases()
KERNEL_TRIES = 3


@pytest.fixture(scope="module")
def oracle() -> Iterator[oracle_mod.KernelOracle]:
    with oracle_mod.open_oracle() as o:
        yield o


def _ipv4_header_ok(frame: bytes) -> bool:
    p = cases.parse(frame)
    if p.v6 or p.l3_len is None:
        return True
    ihl = (frame[p.l3] & 0x0F) * 4
    return cases.internet_checksum(frame[p.l3 : p.l3 + ihl]) == 0


def _ours_gro(case: cases.GroCase) -> list[oracle_mod.Out]:
    packets: list[Any] = gro.coalesce(list(case.frames), max_size=case.max_size, udp=case.udp)
    outs = []
    for p in packets:
        frame = bytes(p)
        gso_size = int(p.gso_size)
        if gso_size:
            # Ours must be valid on its own where the kernel leaves the checksum partial.
            assert cases.l4_checksum_ok(frame), f"{case.name}: our merged frame has a bad L4 checksum"
            assert _ipv4_header_ok(frame), f"{case.name}: our merged frame has a bad IPv4 header checksum"
            frame = oracle_mod.zero_l4_checksum(frame)
        outs.append(oracle_mod.Out(frame, gso_size, int(p.gso_segs) if gso_size else 1))
    return outs


def _first_difference(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first differing byte at offset {i}: kernel {x:#04x} ours {y:#04x}"
    return f"lengths differ: kernel {len(a)} ours {len(b)}"


def _explain(
    kernel: dict[tuple[object, ...], list[oracle_mod.Out]],
    ours: dict[tuple[object, ...], list[oracle_mod.Out]],
) -> str:
    lines = []
    for n, key in enumerate(dict.fromkeys([*kernel, *ours])):
        k, o = kernel.get(key, []), ours.get(key, [])
        lines.append(f"flow {n}: kernel {[x.describe() for x in k]}")
        lines.append(f"        ours   {[x.describe() for x in o]}")
        for i, (kx, ox) in enumerate(zip(k, o, strict=False)):
            if kx != ox:
                what = _first_difference(kx.frame, ox.frame) if kx.frame != ox.frame else "gso metadata"
                lines.append(f"        frame {i}: {what}")
                break
    return "\n".join(lines)


@pytest.mark.parametrize("case", GRO_CASES, ids=lambda c: c.name)
def test_gro_matches_kernel(oracle: oracle_mod.KernelOracle, case: cases.GroCase) -> None:
    if case.needs_vlan_gro and not VLAN_GRO:
        pytest.skip("kernel built without CONFIG_VLAN_8021Q: it has no vlan_gro_receive to compare with")
    ours = oracle_mod.by_flow(_ours_gro(case))

    def matches(run: list[oracle_mod.Delivered]) -> bool:
        return oracle_mod.by_flow([oracle_mod.kernel_out(d) for d in run]) == ours

    runs = oracle_mod.gro_runs(oracle, case.frames, matches, tries=KERNEL_TRIES)
    if not matches(runs[-1]):
        explanations = [
            _explain(oracle_mod.by_flow([oracle_mod.kernel_out(d) for d in r]), ours) for r in runs
        ]
        pytest.fail(
            f"{case.name}: ours differs from every kernel run\n" + "\n-- next run --\n".join(explanations)
        )


@pytest.mark.parametrize("case", GSO_CASES, ids=lambda c: c.name)
def test_gso_matches_kernel(oracle: oracle_mod.KernelOracle, case: cases.GsoCase) -> None:
    kernel = oracle.gso(case.frame, case.mss)
    if case.ours_rejects:
        with pytest.raises(xdpkt.PacketError):
            gso.segment(case.frame, case.mss)
        assert kernel == [] or not case.kernel_rejects
        return
    ours = [bytes(s) for s in gso.segment(case.frame, case.mss)]
    for _ in range(KERNEL_TRIES - 1):
        if kernel == ours:
            break
        kernel = oracle.gso(case.frame, case.mss)  # a frame lost on a busy machine: ask again
    if kernel != ours:
        detail = [f"kernel {len(kernel)} segments {[cases.l4_payload_len(s) for s in kernel][:10]}",
                  f"ours   {len(ours)} segments {[cases.l4_payload_len(s) for s in ours][:10]}"]  # fmt: skip
        for i, (k, o) in enumerate(zip(kernel, ours, strict=False)):
            if k != o:
                detail.append(f"segment {i}: {_first_difference(k, o)}")
                break
        pytest.fail(f"{case.name}: ours differs from the kernel\n" + "\n".join(detail))
    assert all(cases.l4_checksum_ok(s) for s in ours)
