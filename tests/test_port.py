"""xdpkt.Port: GRO on receive, GSO on transmit, forwarding, live controls, accounting, the demo.

Privileged tests build their own namespaces (``xdpkt.netns.ForwardTopology``: A - M - B) and remove
them afterwards; traffic stays on those veth pairs.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import frames as fr
import pytest
import xdpkt
from tcpstream import TcpStream
from xdpkt import netns
from xdpkt._cpu import threads_cpu
from xdpkt.netns import ForwardTopology

privileged = pytest.mark.privileged


# -- configuration (no privileges) ------------------------------------------------------------------


def test_config_errors_name_key_value_and_range() -> None:
    with pytest.raises(ValueError, match=r"PortConfig\.budget=0: must be between 1 and 4096"):
        xdpkt.PortConfig("eth1", budget=0)
    with pytest.raises(ValueError, match=r"PortConfig\.ring_size=1000: must be a power of two"):
        xdpkt.PortConfig("eth1", ring_size=1000)
    with pytest.raises(ValueError, match=r"PortConfig\.per='socket': must be one of 'package', 'core'"):
        xdpkt.PortConfig("eth1", per="socket")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"PortConfig\.gro='yes': must be True or False"):
        xdpkt.PortConfig("eth1", gro="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"PortConfig\.ifname=''"):
        xdpkt.PortConfig("")
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'budgett'"):
        xdpkt.PortConfig.from_dict({"ifname": "eth1", "budgett": 3})
    with pytest.raises(ValueError, match="'ifname' is required"):
        xdpkt.PortConfig.from_dict({"budget": 3})


def test_config_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "port.toml"
    p.write_text('[port]\nifname = "eth1"\nbudget = 32\nrx_usecs = 20\ngro_udp = true\n')
    cfg = xdpkt.PortConfig.from_toml(p, table="port")
    assert (cfg.ifname, cfg.budget, cfg.rx_usecs, cfg.gro_udp) == ("eth1", 32, 20, True)
    bad = tmp_path / "bad.toml"
    bad.write_text('ifname = "eth1"\nframes = 10\n')
    with pytest.raises(ValueError, match=r"bad\.toml: PortConfig\.frames=10: must be between 64"):
        xdpkt.PortConfig.from_toml(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("ifname = \n")
    with pytest.raises(ValueError, match="not valid TOML"):
        xdpkt.PortConfig.from_toml(broken)
    assert xdpkt.PortConfig.from_dict(cfg.to_dict()) == cfg


def test_port_without_interface_is_a_clear_error() -> None:
    if os.geteuid() != 0:
        with pytest.raises(PermissionError, match="CAP_"):
            xdpkt.Port(ifname="xdpkt-none0")
    else:
        with pytest.raises(ValueError, match="no interface named"):
            xdpkt.Port(ifname="xdpkt-none0")


# -- helpers --------------------------------------------------------------------------------------


@pytest.fixture
def topo() -> Iterator[ForwardTopology]:
    with ForwardTopology(queues=1, tag="port") as t:
        yield t


@pytest.fixture
def topo2() -> Iterator[ForwardTopology]:
    with ForwardTopology(queues=2, tag="port2") as t:
        for e in (t.a, t.b):
            netns.set_ethtool_features(e.ns, e.ifname, {"tx-checksumming": False})
        yield t


def _ours(frame: bytes, sport: int = 4000) -> bool:
    """IPv4/TCP from our test flows (sport 4000..4099), not the kernel's own chatter."""
    if len(frame) < 38 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return False
    ihl = (frame[14] & 0x0F) * 4
    sp: int = struct.unpack_from("!H", frame, 14 + ihl)[0]
    return sport <= sp < sport + 100


def _capture(sock: socket.socket, n: int, timeout: float = 5.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while len(got) < n and time.monotonic() < deadline:
        try:
            f = sock.recv(65536)
        except TimeoutError:
            continue
        if _ours(f):
            got.append(f)
    return got


def _tcp_valid(frame: bytes) -> bool:
    ihl = (frame[14] & 0x0F) * 4
    ip = frame[14 : 14 + ihl]
    tot: int = struct.unpack_from("!H", ip, 2)[0]
    l4 = frame[14 + ihl : 14 + tot]
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(l4))
    return fr.csum(ip) == 0 and fr.csum(pseudo + l4) == 0


def _collect_by_queue(
    socks: list[xdpkt.Socket], want: int, timeout: float = 5.0
) -> dict[int, list[tuple[int, bytes]]]:
    """Our test frames read from one socket per queue: {source port: [(queue, frame), ...]} in
    arrival order, until ``want`` frames or ``timeout``."""
    seen: dict[int, list[tuple[int, bytes]]] = {}
    total = 0
    deadline = time.monotonic() + timeout
    while total < want and time.monotonic() < deadline:
        for q, s in enumerate(socks):
            with s.recv(256, timeout=0.02) as b:
                for v in b:
                    f = bytes(v)
                    if _ours(f):
                        seen.setdefault(struct.unpack_from("!H", f, 34)[0], []).append((q, f))
                        total += 1
    return seen


# -- datapath (root) ------------------------------------------------------------------------------


@privileged
def test_forwarding_with_gro_and_gso_reproduces_the_segments(topo: ForwardTopology) -> None:
    """Segments sent into a Port with GRO, forwarded with GSO, arrive byte for byte as sent."""
    flows = [fr.tcp_flow(30, 1448, seq=1000 + 10**6 * k, ident=100 * k, sport=4000 + k) for k in range(3)]
    frames = [f for trio in zip(*flows, strict=True) for f in trio]  # interleaved flows
    bad = bytearray(fr.tcp4(fr.pattern(1448), seq=5, sport=4010))
    bad[-1] ^= 0xFF  # TCP checksum now wrong: must pass through untouched, counted
    frames.append(bytes(bad))
    # GRO holds aggregates up to 300 ms (rx-usecs), so a burst split over many polls (a busy machine)
    # still ends as one aggregate per flow and the counts below are exact.
    with (
        xdpkt.Port(ifname=topo.m_a.ifname, netns=topo.m.name, rx_usecs=300_000) as pa,
        xdpkt.Port(ifname=topo.m_b.ifname, netns=topo.m.name, share_umem=pa) as pb,
    ):
        pa.forward_to(pb)
        rx = netns.open_packet_socket(topo.b.ns, topo.b.ifname)
        tx = netns.open_packet_socket(topo.a.ns, topo.a.ifname, protocol=0)
        with rx, tx:
            for f in frames:
                tx.send(f)
            got = _capture(rx, len(frames))
        pa.stop()
        sa = pa.stats()
        sb = pb.stats()
        places = pa.places()
    # Per flow, order and bytes are as sent.
    for k in range(3):
        sent_k = [f for f in frames if struct.unpack_from("!H", f, 34)[0] == 4000 + k]
        got_k = [f for f in got if struct.unpack_from("!H", f, 34)[0] == 4000 + k]
        assert got_k == sent_k
    assert bytes(bad) in got
    assert all(_tcp_valid(f) for f in got if f != bytes(bad))
    assert sa["rx_gro_pass_tcp_csum"] == 1
    assert sa["rx_gro_aggregates"] == 3 and sa["rx_gro_merged"] == 87
    assert sb["tx_gso_superframes"] == 3 and sb["tx_gso_segments"] == 90
    # Besides ours, A's kernel may send a few frames of its own (IPv6 ND/MLD): each passes GRO as is
    # and is forwarded; nothing else is added or lost.
    extra = sa["rx_packets"] - len(frames)
    assert 0 <= extra == sa["rx_gro_passthrough"] - 1, (sa["rx_packets"], sa["rx_gro_passthrough"])
    assert sb["tx_packets"] == sa["rx_packets"]  # the 90 segments merged into 3 and cut back into 90
    assert places["total"] == sum(v for k, v in places.items() if k != "total")
    assert places["user"] == 0 and places["tx"] == 0


@privileged
def test_port_recv_equals_gro_coalesce(topo: ForwardTopology) -> None:
    """What a Port's GRO delivers equals xdpkt.gro.coalesce on the same frames (one poll's worth)."""
    frames = fr.tcp_flow(20, 1000, sport=4000) + fr.tcp_flow(5, 700, sport=4001)
    frames.insert(7, fr.tcp4(b"", seq=5, sport=4002))  # a pure ACK: never merged
    frames.append(fr.tcp4(fr.pattern(10), seq=9999, flags=fr.ACK | fr.PSH, sport=4003))
    frames.append(fr.udp4(fr.pattern(100)))
    # Hold aggregates 300 ms, so that a burst split over several polls still ends as one.
    with xdpkt.Port(ifname=topo.m_a.ifname, netns=topo.m.name, rx_usecs=300_000) as p:
        tx = netns.open_packet_socket(topo.a.ns, topo.a.ifname, protocol=0)
        with tx:
            for f in frames:
                tx.send(f)
        got: list[bytes] = []
        meta: list[tuple[int, int]] = []
        deadline = time.monotonic() + 5
        want = xdpkt.gro.coalesce(frames)
        while len(got) < len(want) and time.monotonic() < deadline:
            with p.recv(timeout=0.5) as b:
                for v in b:
                    if _ours(bytes(v)) or bytes(v)[12:14] == b"\x08\x00":
                        got.append(bytes(v))
                        meta.append((v.gso_size, v.gso_segs))
        st = p.stats()
    assert got == [bytes(w) for w in want]
    assert meta == [(w.gso_size, w.gso_segs) for w in want]
    assert st["rx_gro_pass_pure_ack"] == 1


@privileged
def test_budget_is_honoured(topo: ForwardTopology) -> None:
    frames = fr.tcp_flow(100, 200, sport=4000)
    with xdpkt.Port(ifname=topo.m_a.ifname, netns=topo.m.name, gro=False, budget=8) as p:
        tx = netns.open_packet_socket(topo.a.ns, topo.a.ifname, protocol=0)
        with tx:
            for f in frames:
                tx.send(f)
        sizes: list[int] = []
        total = 0
        deadline = time.monotonic() + 5
        while total < 100 and time.monotonic() < deadline:
            with p.recv(max_packets=256, timeout=0.5) as b:
                n = sum(1 for v in b if _ours(bytes(v)))
                sizes.append(len(b))
                total += n
        st = p.stats()
    assert total == 100
    assert max(sizes) <= 8
    assert st["napi_budget_exhausted"] >= 1


@privileged
def test_send_cuts_super_frames_to_the_wire_mss(topo: ForwardTopology) -> None:
    """Port.send with GSO: a 20000-byte TCP super-frame leaves as MTU-size segments."""
    payload = fr.pattern(20000)
    frame = fr.tcp4(payload, seq=1, sport=4000)
    with xdpkt.Port(ifname=topo.m_b.ifname, netns=topo.m.name) as p:
        rx = netns.open_packet_socket(topo.b.ns, topo.b.ifname)
        with rx:
            assert p.send([frame]) == 14  # ceil(20000 / 1460)
            got = _capture(rx, 14)
        st = p.stats()
    assert [len(f) for f in got] == [1514] * 13 + [14 + 40 + 20000 - 13 * 1460]
    assert b"".join(f[54:] for f in got) == payload
    assert all(_tcp_valid(f) for f in got)
    assert st["tx_gso_superframes"] == 1 and st["tx_gso_segments"] == 14
    with xdpkt.Port(ifname=topo.m_b.ifname, netns=topo.m.name, gso=False) as p:
        assert p.send([frame]) == 0
        assert p.stats()["tx_mtu_drops"] == 1


@privileged
def test_forward_to_needs_shared_umem_and_equal_channels(topo2: ForwardTopology) -> None:
    t = topo2
    with (
        xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name) as pa,
        xdpkt.Port(ifname=t.m_b.ifname, netns=t.m.name) as pb,
    ):
        with pytest.raises(ValueError, match="sharing one UMEM"):
            pa.forward_to(pb)
        assert not pa.forwarding and not pb.forwarding
    with (
        xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name, channels=2) as pa,
        xdpkt.Port(ifname=t.m_b.ifname, netns=t.m.name, channels=1, share_umem=pa) as pb,
    ):
        with pytest.raises(ValueError, match="same number of channels"):
            pa.forward_to(pb)
        with pytest.raises(ValueError, match="itself"):
            pa.forward_to(pa)
        pa.recv(timeout=0).close()  # still usable


@privileged
def test_live_gro_toggle_and_restart_lose_nothing(topo2: ForwardTopology) -> None:
    """ethtool -K rx-gro off/on on a live forwarding Port; stop/start of the workers; frames accounted."""
    t = topo2
    with (
        xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name) as pa,
        xdpkt.Port(ifname=t.m_b.ifname, netns=t.m.name, share_umem=pa) as pb,
    ):
        pa.forward_to(pb)
        with TcpStream(t, 3.0, port=5300) as s:
            time.sleep(0.8)
            pa.set_features(gro=False)
            time.sleep(0.3)  # within one poll: the next samples see no new aggregate
            agg_off = pa.stats()["rx_gro_aggregates"]
            time.sleep(0.5)
            assert pa.stats()["rx_gro_aggregates"] == agg_off
            assert not pa.features()["rx-gro"]
            pa.set_features(gro=True)
            time.sleep(0.5)
            pa.stop()  # workers drained; frames back with their owners
            places = pa.places()
            assert (
                places["user"] == 0 and sum(v for k, v in places.items() if k != "total") == places["total"]
            )
            pa.forward_to(pb)
        assert s.intact(), (s.nsent, s.nrecv)
        time.sleep(0.1)
        assert pa.stats()["rx_gro_aggregates"] > agg_off
        pa.stop()
        sa, sb = pa.stats(), pb.stats()
    drops = [k for k in ("tx_mtu_drops", "tx_pool_drops", "tx_errors", "xsk_rx_dropped") if sa[k] or sb[k]]
    assert not drops, {k: (sa[k], sb[k]) for k in drops}


@privileged
def test_idle_forwarding_port_uses_almost_no_cpu(topo: ForwardTopology) -> None:
    with (
        xdpkt.Port(ifname=topo.m_a.ifname, netns=topo.m.name) as pa,
        xdpkt.Port(ifname=topo.m_b.ifname, netns=topo.m.name, share_umem=pa) as pb,
    ):
        pa.forward_to(pb)
        time.sleep(0.3)
        c0 = threads_cpu("xdpkt-fwd")
        t0 = time.monotonic()
        time.sleep(2.0)
        used = (threads_cpu("xdpkt-fwd") - c0) / (time.monotonic() - t0)
        pa.stop()
    assert used < 0.02, f"idle Port used {used:.1%} of a CPU"


@privileged
def test_permission_error_names_capability(topo: ForwardTopology) -> None:
    code = (
        "import os, xdpkt\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try:\n"
        f"    xdpkt.Port(ifname={topo.m_a.ifname!r})\n"
        "except PermissionError as e:\n"
        "    print('PERM', e)\n"
    )
    r = subprocess.run(
        ["ip", "netns", "exec", topo.m.name, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(Path(xdpkt.__file__).parent.parent)},
    )
    assert "PERM" in r.stdout and "CAP_NET_RAW" in r.stdout, r.stdout + r.stderr


# -- the demo -------------------------------------------------------------------------------------


def _demo(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xdpkt.cli", "demo", "--seconds", "2", "--streams", "2", "--json", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(xdpkt.__file__).parent.parent)},
    )


@privileged
def test_demo_carries_tcp_intact() -> None:
    r = _demo()
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    run = out["runs"][0]
    assert out["ok"] and run["ok"], run["problems"]
    assert run["goodput_gbps"] > 0.05
    assert all(s["ok"] for s in run["streams"].values()) and len(run["streams"]) == 2
    assert run["drops"] == 0
    assert run["gro_pkts_per_aggregate"] > 2 and run["gso_segs_per_superframe"] > 2
    a = run["ports"]["a-side"]
    # Not one poll() per batch: the loop keeps polling while traffic flows (the demo does not load the
    # forwarder fully, so it does sleep between bursts).
    assert a["poll_syscalls"] < a["napi_polls"], (a["poll_syscalls"], a["napi_polls"])
    assert "rx_queue_0_packets" in a and "tx_queue_0_gso_segments" in run["ports"]["b-side"]
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    assert not [n for n in left if "demo" in n]


@privileged
def test_demo_fails_when_a_byte_is_corrupted() -> None:
    r = _demo("--inject-fault")
    assert r.returncode == 1, r.stdout[-2000:]
    run = json.loads(r.stdout)["runs"][0]
    assert not run["ok"]
    assert any("sha256" in p for p in run["problems"]), run["problems"]


def test_demo_without_root_names_the_capability() -> None:
    if os.geteuid() == 0:
        # Import everything first: the interpreter's own files may not be readable by nobody.
        code = (
            "import os, sys; from xdpkt.cli import build_parser, main; build_parser()\n"
            "os.setgid(65534); os.setuid(65534); sys.exit(main(['demo']))"
        )
        r = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(xdpkt.__file__).parent.parent)},
        )  # fmt: skip
    else:
        argv = [sys.executable, "-m", "xdpkt.cli", "demo"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "CAP_NET_ADMIN" in r.stderr or "CAP_SYS_ADMIN" in r.stderr, r.stderr


# -- software RSS over a multi-queue veth -----------------------------------------------------------


@privileged
def test_software_rss_spreads_flows_one_queue_each() -> None:
    """Port.send steers each flow by Toeplitz: on a 4-queue veth every flow lands, in order, on exactly
    the peer queue the hash predicts, and the flows spread over all four queues."""
    with ForwardTopology(queues=4, tag="rss") as t:
        flows = [fr.tcp_flow(6, 300, seq=1 + 10**5 * k, sport=4000 + k) for k in range(40)]
        frames = [f for group in zip(*flows, strict=True) for f in group]
        socks = [xdpkt.Socket(t.b.ifname, q, netns=t.b.ns.name, frames=1024, ring_size=512) for q in range(4)]
        try:
            with xdpkt.Port(ifname=t.m_b.ifname, netns=t.m.name, channels=4, gro=False) as p:
                predicted = {4000 + k: p.flow_queue(flows[k][0]) for k in range(40)}
                assert p.send(frames) == len(frames)
            seen = _collect_by_queue(socks, len(frames))
        finally:
            for s in socks:
                s.close()
    total = sum(len(v) for v in seen.values())
    assert total == len(frames)
    for k in range(40):
        got = seen[4000 + k]
        assert {q for q, _ in got} == {predicted[4000 + k]}, f"flow {k}"
        assert [f for _, f in got] == flows[k]
    assert set(predicted.values()) == {0, 1, 2, 3}


def _udp_frame(i: int) -> bytes:
    udp = struct.pack("!HHHH", 4000, 9, 8 + 18, 0) + struct.pack("!Q", i) + bytes(10)
    return fr.eth(0x0800) + fr.ipv4(17, udp)


@privileged
def test_accounting_after_ten_million_packets_and_restarts() -> None:
    """10 million 64-byte frames forwarded A -> B through two Ports, the workers stopped and started
    twice on the way: afterwards every UMEM frame is in its place, and every frame sent is accounted
    for (forwarded, or counted as dropped by the Ports, the kernel's XSK counters, or the veth)."""
    total = 10_000_000
    with ForwardTopology(queues=1, tag="tenm") as t:
        kw: dict[str, object] = {"netns": t.m.name, "channels": 1, "frames": 8192, "ring_size": 2048}
        with (
            xdpkt.Port(ifname=t.m_a.ifname, **kw) as pa,  # type: ignore[arg-type]
            xdpkt.Port(ifname=t.m_b.ifname, share_umem=pa, **kw) as pb,  # type: ignore[arg-type]
            xdpkt.Socket(t.a.ifname, netns=t.a.ns.name, frames=4096, ring_size=2048) as tx,
        ):
            batch = [_udp_frame(i) for i in range(2048)]
            sent = 0
            deadline = time.monotonic() + 120
            for phase in range(3):
                pa.forward_to(pb, both_ways=False)
                goal = total * (phase + 1) // 3
                while sent < goal and time.monotonic() < deadline:
                    sent += tx.send(batch)
                # Let the worker catch up with what the veth redirected (bounded), then stop.
                settle = time.monotonic() + 5
                while time.monotonic() < settle:
                    if _veth_xdp_counters(t.m, t.m_a.ifname)["xdp_redirect"] == pa.stats()["rx_packets"]:
                        break
                    time.sleep(0.05)
                pa.stop()
                for p in (pa, pb):
                    places = p.places()
                    assert places["user"] == 0, places
                    assert sum(v for k, v in places.items() if k != "total") == places["total"], places
            sa, sb = pa.stats(), pb.stats()
            veth = _veth_xdp_counters(t.m, t.m_a.ifname)
            a_tx_dropped = int(netns.read_sysfs(t.a.ns, t.a.ifname, "statistics/tx_dropped"))
    assert sent >= total, f"sent only {sent} in the time bound"
    # What A sent reached M's XDP program (plus a few frames of A's own kernel: IPv6 ND), or A's veth
    # dropped it and counted it.
    assert sent <= veth["xdp_packets"] + a_tx_dropped <= sent + 50, (sent, veth, a_tx_dropped)
    # The program redirected every frame to the Port's socket; what the socket could not take the
    # kernel counted (fill ring empty -> xsk_rx_dropped, RX ring full -> xsk_rx_ring_full).
    assert veth["xdp_packets"] == veth["xdp_redirect"] + veth["drops"], veth
    assert veth["xdp_redirect"] == sa["rx_packets"], (veth, sa["rx_packets"])
    assert veth["drops"] == sa["xsk_rx_dropped"] + sa["xsk_rx_ring_full"], (veth, sa)
    # Everything the Port received left on B, or is in a Port drop counter.
    port_drops = sb["tx_mtu_drops"] + sb["tx_pool_drops"] + sb["tx_errors"] + sa["rx_no_route"]
    assert sa["rx_packets"] == sb["tx_packets"] + port_drops, (sa["rx_packets"], sb["tx_packets"], port_drops)


def _veth_xdp_counters(ns: netns.Namespace, ifname: str) -> dict[str, int]:
    """A veth's XDP counters of queue 0 (ethtool -S: rx_queue_0_xdp_packets, ...)."""
    out = ns.exec("ethtool", "-S", ifname).stdout
    vals: dict[str, int] = {}
    for line in out.splitlines():
        k, _, v = line.strip().partition(": ")
        if k.startswith("rx_queue_0_") and v.strip().isdigit():
            vals[k[len("rx_queue_0_") :]] = int(v)
    return vals


@privileged
def test_four_queue_forwarding_keeps_each_flow_on_one_worker() -> None:
    """4-queue veths, 4 channels, 4 workers: every flow A sends is forwarded by exactly one worker,
    leaves on the same queue it arrived on, and arrives at B in order, byte for byte."""
    with ForwardTopology(queues=4, tag="q4") as t:
        flows = [fr.tcp_flow(8, 400, seq=1 + 10**5 * k, sport=4000 + k) for k in range(32)]
        frames = [f for group in zip(*flows, strict=True) for f in group]
        socks = [xdpkt.Socket(t.b.ifname, q, netns=t.b.ns.name, frames=1024, ring_size=512) for q in range(4)]
        try:
            with (
                xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name, channels=4, rx_usecs=200_000) as pa,
                xdpkt.Port(ifname=t.m_b.ifname, netns=t.m.name, channels=4, share_umem=pa) as pb,
            ):
                pa.forward_to(pb)
                tx = netns.open_packet_socket(t.a.ns, t.a.ifname, protocol=0)
                with tx:
                    for f in frames:
                        tx.send(f)
                seen = _collect_by_queue(socks, len(frames))
                pa.stop()
                per_worker = [q["rx_packets"] for q in pa.queue_stats()]
        finally:
            for s in socks:
                s.close()
    total = sum(len(v) for v in seen.values())
    assert total == len(frames)
    for k in range(32):
        got = seen[4000 + k]
        assert len({q for q, _ in got}) == 1, f"flow {k} crossed queues: {sorted({q for q, _ in got})}"
        assert [f for _, f in got] == flows[k]
    # Flows arrived on several queues (A's kernel spreads them), each worker forwarding its own.
    used = {got[0][0] for got in seen.values()}
    assert len(used) >= 2, used
    # (A's kernel may add a frame or two of its own, IPv6 ND: forwarded too.)
    assert 0 <= sum(per_worker) - len(frames) <= 8, per_worker
    assert sum(1 for n in per_worker if n) >= len(used), (per_worker, used)
