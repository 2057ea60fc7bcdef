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
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import xdpkt
from xdpkt import _conformance_cases as cases
from xdpkt import _oracle as oracle_mod
from xdpkt import gro, gso

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


def _coalesce(frames: list[bytes], max_size: int, udp: bool, max_flows: int) -> Sequence[Any]:
    result: Sequence[Any] = gro.coalesce(frames, max_size=max_size, udp=udp, max_flows=max_flows)
    return result


def _segment(frame: bytes, mss: int) -> Sequence[bytes]:
    return [bytes(s) for s in gso.segment(frame, mss)]


@pytest.mark.parametrize("case", GRO_CASES, ids=lambda c: c.name)
def test_gro_matches_kernel(oracle: oracle_mod.KernelOracle, case: cases.GroCase) -> None:
    if case.needs_vlan_gro and not VLAN_GRO:
        pytest.skip("kernel built without CONFIG_VLAN_8021Q: it has no vlan_gro_receive to compare with")
    verdict = oracle_mod.compare_gro(oracle, case, _coalesce, tries=KERNEL_TRIES)
    assert verdict.ok, f"{case.name}\n{verdict.detail}"


@pytest.mark.parametrize("case", GSO_CASES, ids=lambda c: c.name)
def test_gso_matches_kernel(oracle: oracle_mod.KernelOracle, case: cases.GsoCase) -> None:
    verdict = oracle_mod.compare_gso(oracle, case, _segment, xdpkt.PacketError, tries=KERNEL_TRIES)
    assert verdict.ok, f"{case.name}\n{verdict.detail}"


def _with_full_checksum(frame: bytes) -> bytes:
    """The kernel's aggregate with its partial L4 checksum completed, as a sender would see it."""
    p = cases.parse(frame)
    off = cases.l4_checksum_offset(frame)
    assert p.l4 is not None and p.l3_len is not None and p.proto is not None and off is not None
    if p.v6:
        src, dst = frame[p.l3 + 8 : p.l3 + 24], frame[p.l3 + 24 : p.l3 + 40]
    else:
        src, dst = frame[p.l3 + 12 : p.l3 + 16], frame[p.l3 + 16 : p.l3 + 20]
    end = p.l3 + p.l3_len
    out = bytearray(frame)
    out[off : off + 2] = b"\0\0"
    value = cases.internet_checksum(out[p.l4 : end], cases.pseudo_sum(src, dst, p.proto, end - p.l4))
    if p.proto == cases.IPPROTO_UDP and value == 0:
        value = 0xFFFF
    out[off : off + 2] = value.to_bytes(2, "big")
    return bytes(out)


REVERSIBLE = [
    c
    for c in GRO_CASES
    if len({cases.parse(f).key for f in c.frames}) == 1 and c.expect is not None and not c.needs_vlan_gro
]


@pytest.mark.parametrize("case", REVERSIBLE, ids=lambda c: c.name)
def test_our_gso_reverses_kernel_gro(oracle: oracle_mod.KernelOracle, case: cases.GroCase) -> None:
    """Segmenting each kernel aggregate at its gso_size gives back the frames it was made of."""
    expect = list(case.expect or ())

    def as_expected(run: list[oracle_mod.Delivered]) -> bool:
        return [cases.l4_payload_len(d.frame) for d in run] == expect

    run = oracle_mod.gro_runs(oracle, case.frames, as_expected, tries=KERNEL_TRIES, max_size=case.max_size)[
        -1
    ]
    if not as_expected(run):
        pytest.skip("the kernel split the burst in every run; nothing to reverse")
    if any(d.frame not in case.frames for d in run if not d.gso_size):
        pytest.skip("the kernel reordered pass-through frames; aggregates cannot be matched to inputs")
    pending = list(case.frames)
    for d in run:
        if not d.gso_size:
            pending.remove(d.frame)
            continue
        parts, pending = pending[: d.gso_segs], pending[d.gso_segs :]
        # IPv4 aggregates of segments that all carry one ID were merged as fixed-ID (IPv6 has no ID).
        v4_ids = {f[18:20] for f in parts if not cases.parse(f).v6}
        fixed_id = len(parts) > 1 and len(v4_ids) == 1
        ours = [bytes(s) for s in gso.segment(_with_full_checksum(d.frame), d.gso_size, fixed_id=fixed_id)]
        assert ours == parts, f"{case.name}: segment(kernel aggregate) != its {len(parts)} input frames"
