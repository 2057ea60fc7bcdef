"""The kernel-oracle harness itself: known kernel GRO/GSO behaviour (gro.c, udpgso.c) reproduced on veth.

These tests need no xdpkt engine: they prove that the harness sends, collects and decodes correctly, so
that a mismatch in ``test_conformance_kernel.py`` points at the engine and not at the harness.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from xdpkt import _conformance_cases as cases
from xdpkt import _oracle as oracle_mod
from xdpkt import netns

ROOT = os.geteuid() == 0
HAVE_TOOLS = shutil.which("ip") is not None and shutil.which("ethtool") is not None
privileged = pytest.mark.privileged
needs_root = pytest.mark.skipif(
    not (ROOT and HAVE_TOOLS), reason="needs root (CAP_NET_ADMIN, CAP_NET_RAW) and iproute2 + ethtool"
)
VLAN_GRO = cases.has_vlan_gro()

GRO_CASES = [c for c in cases.gro_cases(random_vlan=VLAN_GRO) if c.expect is not None]
GSO_CASES = [c for c in cases.gso_cases() if not c.name.startswith("random_")]


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def oracle() -> Iterator[oracle_mod.KernelOracle]:
    with oracle_mod.open_oracle() as o:
        yield o


def _flat(runs: list[list[int]]) -> list[int]:
    return [n for flow in runs for n in flow]


def _payload(frame: bytes) -> bytes:
    p = cases.parse(frame)
    assert p.l4 is not None and p.l3_len is not None
    n = cases.l4_payload_len(frame)
    end = p.l3 + p.l3_len
    return frame[end - n : end]


def _ipv4_header_ok(frame: bytes) -> bool:
    p = cases.parse(frame)
    if p.v6:
        return True
    ihl = (frame[p.l3] & 0x0F) * 4
    return cases.internet_checksum(frame[p.l3 : p.l3 + ihl]) == 0


@privileged
@needs_root
@pytest.mark.parametrize("case", GRO_CASES, ids=lambda c: c.name)
def test_kernel_gro_geometry(oracle: oracle_mod.KernelOracle, case: cases.GroCase) -> None:
    if case.needs_vlan_gro and not VLAN_GRO:
        pytest.skip("kernel built without CONFIG_VLAN_8021Q: no vlan_gro_receive, tagged frames never merge")
    expect = list(case.expect or ())
    runs = oracle_mod.gro_runs(
        oracle, case.frames, lambda d: _flat(oracle_mod.geometry_by_flow(d)) == expect, max_size=case.max_size
    )
    got = runs[-1]
    assert _flat(oracle_mod.geometry_by_flow(got)) == expect, [oracle_mod.geometry_by_flow(r) for r in runs]
    sent = b"".join(_payload(f) for f in case.frames if cases.l4_payload_len(f) >= 0)
    delivered = b"".join(_payload(d.frame) for d in got if cases.l4_payload_len(d.frame) >= 0)
    assert sorted(sent) == sorted(delivered)  # same bytes, nothing lost or invented
    for d in got:
        assert _ipv4_header_ok(d.frame)
        if d.gso_size:
            p = cases.parse(d.frame)
            if p.proto == cases.IPPROTO_UDP:
                want = oracle_mod.VIRTIO_NET_HDR_GSO_UDP_L4
            elif p.v6:
                want = oracle_mod.VIRTIO_NET_HDR_GSO_TCPV6
            else:
                want = oracle_mod.VIRTIO_NET_HDR_GSO_TCPV4
            assert d.gso_type & ~oracle_mod.VIRTIO_NET_HDR_GSO_ECN == want
            assert d.csum_partial  # the kernel leaves a merged L4 checksum partial
            assert d.gso_segs >= 2
        else:
            assert cases.l4_payload_len(d.frame) < 0 or d.frame in case.frames  # delivered unchanged


@privileged
@needs_root
def test_kernel_merges_payload_in_order(oracle: oracle_mod.KernelOracle) -> None:
    case = next(c for c in GRO_CASES if c.name == "data_same_v4")
    runs = oracle_mod.gro_runs(oracle, case.frames, lambda d: len(d) == 1)
    (merged,) = runs[-1]
    assert _payload(merged.frame) == b"".join(_payload(f) for f in case.frames)
    assert merged.gso_size == cases.PAYLOAD_LEN and merged.gso_segs == 4
    # The kernel's aggregate keeps the first segment's headers; only lengths and IP checksum change.
    first = case.frames[0]
    assert merged.frame[: 14 + 2] == first[: 14 + 2]
    assert merged.frame[14 + 4 : 14 + 10] == first[14 + 4 : 14 + 10]


@privileged
@needs_root
@pytest.mark.parametrize("case", GSO_CASES, ids=lambda c: c.name)
def test_kernel_gso_geometry(oracle: oracle_mod.KernelOracle, case: cases.GsoCase) -> None:
    segs = oracle.gso(case.frame, case.mss)
    if case.kernel_rejects:
        assert segs == []
        return
    assert tuple(cases.l4_payload_len(s) for s in segs) == case.expect
    assert all(cases.l4_checksum_ok(s) for s in segs)
    assert all(_ipv4_header_ok(s) for s in segs)
    assert b"".join(_payload(s) for s in segs) == _payload(case.frame)
    if len(segs) == 1:
        assert segs[0] == case.frame  # not a GSO request: out unchanged


@privileged
@needs_root
def test_kernel_tso_flags_placement(oracle: oracle_mod.KernelOracle) -> None:
    frame = cases.tcp_frame(
        cases.L3(), seq=5, flags=cases.ACK | cases.PSH | cases.FIN | cases.CWR, payload=bytes(3000)
    )
    segs = oracle.gso(frame, 1000)
    flags = [s[14 + 20 + 13] for s in segs]
    assert flags == [cases.ACK | cases.CWR, cases.ACK, cases.ACK | cases.PSH | cases.FIN]
    seqs = [int.from_bytes(s[14 + 20 + 4 : 14 + 20 + 8], "big") for s in segs]
    assert seqs == [5, 1005, 2005]
    ids = [int.from_bytes(s[14 + 4 : 14 + 6], "big") for s in segs]
    assert ids == [0, 1, 2]


@privileged
@needs_root
def test_vethpair_removes_namespaces_even_on_error() -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), netns.VethPair(mtu=9000, tag="oracletest") as pair:
        names = [pair.a.ns.name, pair.b.ns.name]
        assert set(names) <= _netns_names()
        assert all(n.startswith(f"xdpkt-{os.getpid()}-oracletest") for n in names)
        link = pair.a.ns.exec("ip", "-o", "link", "show", "dev", pair.a.ifname).stdout
        assert "mtu 9000" in link and "state UP" in link
        addrs = pair.b.ns.exec("ip", "-6", "addr", "show", "dev", pair.b.ifname).stdout
        assert pair.b.ipv6.replace(":0:0::", "::") in addrs and "tentative" not in addrs
        raise RuntimeError("boom")
    assert names
    # Other processes may add or remove their own namespaces meanwhile: look only at ours.
    assert not set(names) & _netns_names()


@privileged
@needs_root
def test_stale_namespaces_of_dead_processes_are_removed() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    stale = f"xdpkt-{proc.pid}-stale00-a"
    live = f"xdpkt-{os.getpid()}-live00-a"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    subprocess.run(["ip", "netns", "add", live], check=True)
    try:
        removed = netns.cleanup_stale()
        names = _netns_names()
        assert stale in removed and stale not in names
        assert live in names  # our own process is alive: never touched
    finally:
        for name in (stale, live):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@privileged
@needs_root
def test_packet_socket_lives_in_its_namespace() -> None:
    with netns.VethPair(tag="oracletest") as pair:
        sock = netns.open_packet_socket(pair.b.ns, pair.b.ifname)
        try:
            assert sock.getsockname()[0] == pair.b.ifname
        finally:
            sock.close()
        with pytest.raises(OSError):
            # The device does not exist in the root namespace.
            netns.open_packet_socket(netns.Namespace("does-not-exist-xdpkt"), pair.b.ifname)


def test_not_root_is_a_clear_permission_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PermissionError, match="CAP_NET_ADMIN") as info:
        netns.VethPair().open()
    assert info.value.errno == errno.EPERM


def test_bad_arguments_are_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="mtu"):
        netns.VethPair(mtu=10)
    with pytest.raises(ValueError, match="tag"):
        netns.VethPair(tag="Bad Tag")
    with pytest.raises(ValueError, match="interface"):
        netns.open_packet_socket(netns.Namespace("x"), "eth0; rm -rf /")


def test_case_builders_make_valid_frames() -> None:
    for case in cases.gro_cases():
        for frame in case.frames:
            if "csum" not in case.name and "doff" not in case.name and "frag" not in case.name:
                if cases.l4_payload_len(frame) >= 0 and "len_" not in case.name:
                    assert cases.l4_checksum_ok(frame) or "zero" in case.name or "random" in case.name, (
                        case.name
                    )
    for gcase in cases.gso_cases():
        assert cases.l4_checksum_ok(gcase.frame), gcase.name
        partial = cases.partial_csum_frame(gcase.frame)
        assert len(partial) == len(gcase.frame)
    # Seeded: the random lists are the same on every run.
    assert cases.random_gro_cases() == cases.random_gro_cases()
    assert [c.frame for c in cases.random_gso_cases()] == [c.frame for c in cases.random_gso_cases()]
