"""xdpkt.scapy: XdpSocket with scapy's sniff/sendp/srp/sr1, conversions, install, ImportError.

Traffic tests run over a veth pair between two namespaces the test creates (``VethPair``): our
XdpSocket on end ``a``, the kernel (or an AF_PACKET socket) on end ``b``.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import frames as F
import pytest
import xdpkt.scapy as xs
from scapy.config import conf
from scapy.fields import ByteField
from scapy.interfaces import resolve_iface
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw
from scapy.sendrecv import AsyncSniffer, sendp, sniff, srp
from scapy.supersocket import SuperSocket
from xdpkt.netns import ETH_P_ALL, VethPair, open_packet_socket
from xdpkt.scapy import XdpSocket, batch_to_scapy, frames_from_scapy

privileged = pytest.mark.privileged


class _Guarded(RuntimeError):
    pass


class _GuardSocket(SuperSocket):
    """Stands in for scapy's own sockets during these tests: nothing may reach the root namespace."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise _Guarded(f"a test tried to open a scapy socket outside its veth pair: {kwargs}")


@pytest.fixture(autouse=True)
def guard_scapy() -> Iterator[None]:
    """scapy defaults to conf.iface (the host's interface): make any such fall-back fail loudly."""
    saved = (conf.L2socket, conf.L2listen, conf.L3socket, conf.L3socket6, conf.verb)
    conf.L2socket = conf.L2listen = conf.L3socket = conf.L3socket6 = _GuardSocket
    conf.verb = 0
    try:
        yield
    finally:
        xs.uninstall()
        conf.L2socket, conf.L2listen, conf.L3socket, conf.L3socket6, conf.verb = saved


@pytest.fixture
def veth() -> Iterator[VethPair]:
    with VethPair(tag="scapy") as v:
        yield v


def _xdp(v: VethPair, **kw: Any) -> XdpSocket:
    kw.setdefault("frames", 1024)
    kw.setdefault("ring_size", 512)
    return XdpSocket(v.a.ifname, netns=v.a.ns.name, **kw)


def _udp_frames(v: VethPair, n: int, size: int = 100) -> list[bytes]:
    """n distinct UDP frames b -> a built with struct (not scapy), ``size`` bytes each."""
    out = []
    for i in range(n):
        payload = i.to_bytes(4, "big") + F.pattern(size - 46, i)
        f = F.udp4(payload, sport=4000, dport=5000 + i % 1000, ident=i)
        out.append(v.a.mac + v.b.mac + f[12:])
    return out


def _peer_sender(v: VethPair) -> socket.socket:
    return open_packet_socket(v.b.ns, v.b.ifname, protocol=0)


def _peer_receiver(v: VethPair) -> socket.socket:
    s = open_packet_socket(v.b.ns, v.b.ifname, protocol=ETH_P_ALL)
    s.settimeout(0.2)
    return s


def _peer_read(s: socket.socket, n: int, deadline: float = 3.0, keep: Any = None) -> list[bytes]:
    out: list[bytes] = []
    end = time.monotonic() + deadline
    while len(out) < n and time.monotonic() < end:
        try:
            f = s.recv(65535)
        except TimeoutError:
            continue
        if keep is None or keep(f):
            out.append(f)
    return out


def _ours(v: VethPair, ethertype: int = 0x0800) -> Any:
    """Keep only frames our socket sent: the kernel on ``a`` still transmits too (IPv6 ND/MLD)."""
    tag = ethertype.to_bytes(2, "big")
    return lambda f: f[6:12] == v.a.mac and f[12:14] == tag


# --- optional dependency ---

_HIDE_SCAPY = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "scapy" or name.startswith("scapy."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Hide())
import xdpkt
print("XDPKT", xdpkt.Socket.__name__)
try:
    import xdpkt.scapy
except ImportError as e:
    print("IMPORTERROR", e.name, e)
else:
    print("IMPORTED")
"""


def test_import_error_without_scapy_says_how_to_get_it() -> None:
    r = subprocess.run([sys.executable, "-c", _HIDE_SCAPY], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "XDPKT Socket"  # the package itself does not need scapy
    assert lines[1].startswith("IMPORTERROR scapy "), r.stdout
    assert "pip install 'xdpkt[scapy]'" in lines[1]


# --- conversions (no privileges) ---


def _scapy_udp4(payload: bytes, sport: int = 4000, dport: int = 5000, ident: int = 1) -> Packet:
    return (
        Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
        / IP(src="198.18.0.1", dst="198.18.0.2", id=ident, flags="DF", ttl=64)
        / UDP(sport=sport, dport=dport)
        / Raw(payload)
    )


def _scapy_tcp4(payload: bytes, seq: int) -> Packet:
    return (
        Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
        / IP(src="198.18.0.1", dst="198.18.0.2", id=1, flags="DF", ttl=64)
        / TCP(sport=4000, dport=5000, seq=seq, ack=77, flags="A", window=512)
        / Raw(payload)
    )


def _scapy_tcp6(payload: bytes) -> Packet:
    return (
        Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
        / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64)
        / TCP(sport=4000, dport=5000, seq=1000, ack=77, flags="A", window=512)
        / Raw(payload)
    )


def test_frames_from_scapy_is_byte_exact() -> None:
    payloads = [F.pattern(n, n) for n in (0, 1, 18, 100, 1400)]
    pkts: list[Packet | bytes] = [_scapy_udp4(p, ident=7) for p in payloads]
    want = [F.udp4(p, ident=7) for p in payloads]
    pkts += [_scapy_tcp4(payloads[3], 1000), _scapy_tcp6(payloads[4])]
    want += [F.tcp4(payloads[3], seq=1000), F.tcp6(payloads[4])]
    raw_frame = F.udp4(b"already bytes")
    pkts.append(bytes(bytearray(raw_frame)))
    want.append(raw_frame)
    got = frames_from_scapy(pkts)
    assert got == want
    assert all(type(g) is bytes for g in got)


def test_frames_from_scapy_expands_like_sendp() -> None:
    base = Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / IP(src="198.18.0.1", ttl=64)
    many = base / UDP(sport=4000, dport=[5000, 5001, 5002])
    got = frames_from_scapy(many)
    assert len(got) == 3
    assert [Ether(f)[UDP].dport for f in got] == [5000, 5001, 5002]
    assert frames_from_scapy([]) == []


_builds = [0]


class Counted(Packet):
    """A layer that counts how often it is built."""

    name = "Counted"
    fields_desc: ClassVar[list[Any]] = [ByteField("x", 0)]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        _builds[0] += 1
        return pkt + pay


def test_frames_from_scapy_builds_each_packet_once() -> None:
    pkts = [
        Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01", type=0x88B5) / Counted(x=i) for i in range(5)
    ]
    _builds[0] = 0
    out = frames_from_scapy(pkts)
    assert _builds[0] == 5
    assert [f[14] for f in out] == list(range(5))


def test_batch_to_scapy_round_trip_is_byte_exact() -> None:
    frames = [F.udp4(F.pattern(n), ident=n) for n in (1, 50, 1000)] + [F.tcp6(b"x" * 33), bytes(10)]
    pkts = batch_to_scapy(frames, timestamp=1234.5)
    assert [bytes(p) for p in pkts] == frames
    assert all(p.time == 1234.5 for p in pkts)
    assert pkts[0][UDP].dport == 5000 and pkts[0][IP].id == 1
    assert pkts[3][IPv6].dst == "2001:db8::2" and bytes(pkts[3][TCP].payload) == b"x" * 33
    # And back: the dissected packets rebuild to the same bytes.
    assert frames_from_scapy(pkts) == frames
    before = time.time()
    raw = batch_to_scapy([memoryview(frames[0])], basecls=Raw)
    assert isinstance(raw[0], Raw) and raw[0].load == frames[0] and raw[0].time >= before


def test_batch_to_scapy_undissectable_frame_becomes_raw() -> None:
    class Broken(Packet):
        name = "Broken"

        def do_dissect(self, s: bytes) -> bytes:
            raise ValueError("cannot parse")

    saved = conf.debug_dissector
    conf.debug_dissector = False
    try:
        (p,) = batch_to_scapy([b"\x01\x02\x03"], basecls=Broken)
        assert isinstance(p, Raw) and p.load == b"\x01\x02\x03"
    finally:
        conf.debug_dissector = saved


def test_arguments_are_checked_before_anything_opens() -> None:
    with pytest.raises(ValueError, match="iface is required"):
        XdpSocket()
    with pytest.raises(ValueError, match=r"filter='arp'.*lfilter"):
        XdpSocket("xdpkt-nope0", filter="arp")
    with pytest.raises(ValueError, match="batch must be"):
        XdpSocket("xdpkt-nope0", batch=0)
    with pytest.raises(ValueError, match="type must be"):
        XdpSocket("xdpkt-nope0", type=0x10000)
    with pytest.raises(ValueError, match="monitor"):
        XdpSocket("xdpkt-nope0", monitor=True)
    with pytest.raises(TypeError, match="iface must be"):
        XdpSocket(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unknown options.*'qeue'"):
        xs.install("xdpkt-nope0", qeue=1)
    with pytest.raises(ValueError, match="queue must be"):
        xs.install("xdpkt-nope0", -1)
    assert xs.installed() == {}


# --- traffic over the veth pair ---


@privileged
def test_sniff_count_of_frames_sent_by_af_packet(veth: VethPair) -> None:
    frames = _udp_frames(veth, 300)
    with _xdp(veth) as s, _peer_sender(veth) as tx:
        t0 = time.time()
        seen: list[Packet] = []

        def send() -> None:
            for f in frames:
                tx.send(f)

        start = time.monotonic()
        got = sniff(
            opened_socket=s,
            count=len(frames),
            timeout=10,
            lfilter=lambda p: p.src == veth.b.mac_str and UDP in p,
            prn=seen.append,
            store=False,
            started_callback=send,
        )
        t1 = time.time()
        assert time.monotonic() - start < 10
        assert len(got) == 0  # store=False
        assert [bytes(p) for p in seen] == frames
        assert all(t0 <= p.time <= t1 for p in seen)
        assert seen[5][UDP].dport == 5005
        st = s.stats()
        assert st["frames_user"] == 0  # every batch went back to the UMEM
        assert (
            sum(st[k] for k in ("frames_free", "frames_fill", "frames_tx", "frames_completion"))
            == (st["frames_total"])
        )


@privileged
def test_recv_returns_one_packet_from_a_batch_read(veth: VethPair) -> None:
    frames = _udp_frames(veth, 40)
    with _xdp(veth, batch=64) as s, _peer_sender(veth) as tx:
        for f in frames:
            tx.send(f)
        end = time.monotonic() + 3
        while s.xsk.stats()["rx_packets"] == 0 and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(0.1)  # let the rest land on the RX ring
        got: list[bytes] = []
        first = s.recv()
        assert first is not None
        got.append(bytes(first))
        st = s.stats()
        # One read took everything that was there; the batch is already released.
        assert s.pending == st["rx_packets"] - 1 and s.pending > 0
        assert st["frames_user"] == 0
        while len(got) < st["rx_packets"]:
            p = s.recv()
            assert p is not None
            got.append(bytes(p))
        assert s.pending == 0
        mine = [g for g in got if g[6:12] == veth.b.mac and g[12:14] == b"\x08\x00"]
        assert mine == frames[: len(mine)] and len(mine) > 1


@privileged
def test_sendp_to_kernel_peer_byte_exact(veth: VethPair) -> None:
    pkts = [
        Ether(dst=veth.b.mac_str, src=veth.a.mac_str)
        / IP(src=veth.a.ipv4, dst=veth.b.ipv4, id=i)
        / UDP(sport=7000, dport=9)
        / Raw(F.pattern(10 + i))
        for i in range(20)
    ]
    want = [bytes(p) for p in pkts]
    with _xdp(veth) as s, _peer_receiver(veth) as rx:
        sendp(pkts, socket=s)
        got = _peer_read(rx, len(want), keep=_ours(veth))
        assert got == want
        one = pkts[0].copy()
        t0 = time.time()
        assert s.send(one) == len(want[0])  # SuperSocket.send returns the bytes sent
        assert one.sent_time is not None and t0 <= one.sent_time <= time.time()
        assert _peer_read(rx, 1, keep=_ours(veth)) == want[:1]
        _builds[0] = 0
        counted = [
            Ether(dst=veth.b.mac_str, src=veth.a.mac_str, type=0x88B5) / Counted(x=i) for i in range(30)
        ]
        assert s.send_batch(counted) == 30
        assert _builds[0] == 30  # built once each, sent as bytes
        got = _peer_read(rx, 30, keep=_ours(veth, 0x88B5))
        assert [g[14] for g in got] == list(range(30))
        assert s.stats()["tx_packets"] == 51


@privileged
def test_srp_arp_answered_by_kernel_peer(veth: VethPair) -> None:
    with _xdp(veth) as s:
        req = Ether(dst="ff:ff:ff:ff:ff:ff", src=veth.a.mac_str) / ARP(
            hwsrc=veth.a.mac_str, psrc=veth.a.ipv4, pdst=veth.b.ipv4
        )
        ans, unans = s.sr(req, timeout=3)
        assert len(ans) == 1 and len(unans) == 0
        reply = ans[0][1]
        assert reply[ARP].op == 2 and reply[ARP].psrc == veth.b.ipv4
        assert reply[ARP].hwsrc == veth.b.mac_str and reply[Ether].dst == veth.a.mac_str
        assert reply.time >= ans[0][0].sent_time
        # sr1 on the socket: same exchange, one answer.
        again = s.sr1(req, timeout=3)
        assert again is not None and again[ARP].psrc == veth.b.ipv4
        # Nobody answers for an address that is not there; bounded by the timeout.
        t0 = time.monotonic()
        ans, unans = s.sr(_arp(veth, "198.19.255.254"), timeout=0.5)
        assert len(ans) == 0 and len(unans) == 1
        assert time.monotonic() - t0 < 3


def _arp(v: VethPair, pdst: str) -> Packet:
    return Ether(dst="ff:ff:ff:ff:ff:ff", src=v.a.mac_str) / ARP(hwsrc=v.a.mac_str, psrc=v.a.ipv4, pdst=pdst)


def _static_neighbour(v: VethPair) -> None:
    # The kernel on a never sees b's ARP requests (our XDP program takes them), so b is
    # told our MAC (docs/scapy.md: you are the endpoint).
    v.b.ns.exec(
        "ip", "neigh", "replace", v.a.ipv4, "lladdr", v.a.mac_str, "dev", v.b.ifname, "nud", "permanent"
    )  # fmt: skip


@privileged
def test_icmp_echo_answered_by_kernel_peer(veth: VethPair) -> None:
    _static_neighbour(veth)
    with _xdp(veth) as s:
        echo = (
            Ether(dst=veth.b.mac_str, src=veth.a.mac_str)
            / IP(src=veth.a.ipv4, dst=veth.b.ipv4)
            / ICMP(type=8, id=0x4242, seq=1)
            / Raw(b"xdpkt scapy ping")
        )
        r = s.sr1(echo, timeout=3)
        assert r is not None
        assert r[IP].src == veth.b.ipv4 and r[IP].dst == veth.a.ipv4
        assert r[ICMP].type == 0 and r[ICMP].id == 0x4242 and r[ICMP].seq == 1
        assert bytes(r[ICMP].payload) == b"xdpkt scapy ping"
        pings = [echo.copy() for _ in range(5)]
        for i, p in enumerate(pings):
            p[ICMP].seq = 10 + i
        ans, unans = s.sr(pings, timeout=3)
        assert len(unans) == 0
        assert sorted(rcv[ICMP].seq for _, rcv in ans) == [10, 11, 12, 13, 14]


@privileged
def test_icmp_echo_with_our_own_arp_answers(veth: VethPair) -> None:
    """No static neighbour: the peer's ARP request for us comes to the socket and we answer it
    from sniff's prn (docs/scapy.md), then the kernel's echo reply arrives."""
    with _xdp(veth, promisc=False) as s:
        echo = (
            Ether(dst=veth.b.mac_str, src=veth.a.mac_str)
            / IP(src=veth.a.ipv4, dst=veth.b.ipv4)
            / ICMP(type=8, id=0x4343, seq=7)
            / Raw(b"answer arp yourself")
        )
        answered: list[Packet] = []

        def prn(p: Packet) -> None:
            if ARP in p and p[ARP].op == 1 and p[ARP].pdst == veth.a.ipv4:
                reply = Ether(dst=p[ARP].hwsrc, src=veth.a.mac_str) / ARP(
                    op=2, hwsrc=veth.a.mac_str, psrc=veth.a.ipv4, hwdst=p[ARP].hwsrc, pdst=p[ARP].psrc
                )
                s.send(reply)
                answered.append(p)

        got = sniff(
            opened_socket=s,
            timeout=5,
            prn=prn,
            stop_filter=lambda p: ICMP in p and p[ICMP].type == 0,
            started_callback=lambda: s.send(echo),
        )
        assert len(answered) >= 1
        r = got[-1]
        assert ICMP in r and r[ICMP].type == 0 and r[ICMP].id == 0x4343 and r[ICMP].seq == 7
        assert bytes(r[ICMP].payload) == b"answer arp yourself"
        assert "REACHABLE" in veth.b.ns.exec("ip", "neigh", "show", veth.a.ipv4).stdout


@privileged
def test_answering_machine_on_the_socket(veth: VethPair) -> None:
    """scapy's ARP_am answers the peer's ARP request through the socket (s.am(...))."""
    from scapy.layers.l2 import ARP_am

    s = _xdp(veth, promisc=False)
    th: threading.Thread | None = None
    try:
        am = s.am(
            ARP_am,
            IP_addr=veth.a.ipv4,
            ARP_addr=veth.a.mac_str,
            stop_filter=lambda p: ARP in p and p[ARP].op == 1,  # count= would count IPv6 MLD too
        )
        th = threading.Thread(target=am)
        th.start()
        time.sleep(0.3)

        def poke() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.sendto(b"x", (veth.a.ipv4, 9))  # makes the kernel on b ask for our MAC

        veth.b.ns.run(poke)
        th.join(5)
        assert not th.is_alive()
        neigh = veth.b.ns.exec("ip", "neigh", "show", veth.a.ipv4).stdout
        assert veth.a.mac_str in neigh and "REACHABLE" in neigh
    finally:
        s.close()  # also ends the machine's sniff if the request never came
        if th is not None:
            th.join(5)


@privileged
def test_kernel_on_our_side_sees_nothing_while_open(veth: VethPair) -> None:
    """The trap of docs/scapy.md: the peer's ARP request for our address comes to the socket,
    so the kernel on our side does not answer (a TCP connect to it fails) until the socket closes."""
    server = veth.a.ns.run(lambda: socket.create_server((veth.a.ipv4, 7777)))

    def connect() -> bool:
        def attempt() -> bool:
            try:
                socket.create_connection((veth.a.ipv4, 7777), timeout=1.0).close()
            except OSError:
                return False
            return True

        return veth.b.ns.run(attempt)

    results: list[bool] = []
    try:
        with _xdp(veth, promisc=False) as s:
            got = sniff(
                opened_socket=s,
                count=1,
                timeout=5,
                lfilter=lambda p: ARP in p and p[ARP].op == 1 and p[ARP].pdst == veth.a.ipv4,
                started_callback=lambda: threading.Thread(target=lambda: results.append(connect())).start(),
            )
            assert len(got) == 1 and got[0][ARP].psrc == veth.b.ipv4
            end = time.monotonic() + 5
            while not results and time.monotonic() < end:
                time.sleep(0.05)
            assert results == [False]
        # Closed: the kernel answers again (b's failed neighbour entry is dropped so that
        # it resolves afresh instead of waiting for its next probe).
        veth.b.ns.exec("ip", "neigh", "flush", "dev", veth.b.ifname)
        assert any(connect() for _ in range(3))
    finally:
        server.close()


@privileged
def test_idle_sniff_sleeps_and_stop_is_prompt(veth: VethPair) -> None:
    with _xdp(veth) as s:
        cpu0, t0 = time.process_time(), time.monotonic()
        got = sniff(opened_socket=s, timeout=1.0, lfilter=lambda p: UDP in p)
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        assert len(got) == 0
        assert 0.9 <= wall < 2.0
        assert cpu < 0.15, f"idle sniff used {cpu:.3f} s of CPU in {wall:.2f} s"
        # AsyncSniffer.stop() wakes the select (scapy's control pipe is polled with our fd).
        sniffer = AsyncSniffer(opened_socket=s, store=True)
        sniffer.start()
        end = time.monotonic() + 3
        while not getattr(sniffer, "running", False) and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(0.2)
        t0 = time.monotonic()
        sniffer.stop()
        assert time.monotonic() - t0 < 1.0


@privileged
def test_close_from_another_thread_ends_sniff(veth: VethPair) -> None:
    s = _xdp(veth)
    done: list[float] = []

    def run() -> None:
        sniff(opened_socket=s, timeout=10, store=False)
        done.append(time.monotonic())

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    s.close()
    th.join(5)
    assert not th.is_alive() and done and done[0] - t0 < 1.0
    s.close()  # idempotent
    assert s.closed
    with pytest.raises(EOFError):
        s.recv()
    with pytest.raises(OSError) as ei:
        s.fileno()
    assert ei.value.errno == errno.EBADF
    with pytest.raises(OSError):
        s.send(b"\x00" * 60)
    assert XdpSocket.select([s], 0) == [s]  # a closed socket is "ready": recv says EOF


@privileged
def test_interface_gone_ends_sniff(veth: VethPair) -> None:
    s = _xdp(veth)
    result: list[Any] = []

    def run() -> None:
        result.append(sniff(opened_socket=s, timeout=10))

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    veth.b.ns.exec("ip", "link", "del", veth.b.ifname)
    th.join(5)
    assert not th.is_alive() and time.monotonic() - t0 < 3.0
    assert s.closed


@privileged
def test_sniff_two_xdp_sockets_at_once(veth: VethPair) -> None:
    """One sniff over an XdpSocket on each end: select multiplexes both fds."""
    a_to_b = [
        bytes(
            Ether(dst=veth.b.mac_str, src=veth.a.mac_str) / IP(src=veth.a.ipv4, dst=veth.b.ipv4, id=i) / UDP()
        )
        for i in range(20)
    ]
    b_to_a = [
        bytes(
            Ether(dst=veth.a.mac_str, src=veth.b.mac_str) / IP(src=veth.b.ipv4, dst=veth.a.ipv4, id=i) / UDP()
        )
        for i in range(30)
    ]
    with (
        _xdp(veth, promisc=False) as sa,
        XdpSocket(veth.b.ifname, netns=veth.b.ns.name, promisc=False, frames=1024, ring_size=512) as sb,
    ):

        def send() -> None:
            sa.send_batch(a_to_b)
            sb.send_batch(b_to_a)

        got = sniff(
            opened_socket={sa: "a", sb: "b"},
            count=len(a_to_b) + len(b_to_a),
            timeout=10,
            lfilter=lambda p: UDP in p,
            started_callback=send,
        )
        on_a = [bytes(p) for p in got if p.sniffed_on == "a"]
        on_b = [bytes(p) for p in got if p.sniffed_on == "b"]
        assert on_a == b_to_a and on_b == a_to_b
        # recv_raw honours scapy's size argument (at most x bytes).
        sb.send(a_to_b[0])
        end = time.monotonic() + 3
        data: bytes | None = None
        while time.monotonic() < end:
            if XdpSocket.select([sa], 0.2):
                cls, data, ts = sa.recv_raw(20)
                if data == a_to_b[0][:20]:
                    break
        assert cls is Ether and data == a_to_b[0][:20] and ts is not None


@privileged
def test_type_keeps_one_ethertype(veth: VethPair) -> None:
    udp = _udp_frames(veth, 5)
    arp = [
        bytes(Ether(dst=veth.a.mac_str, src=veth.b.mac_str) / ARP(op=2, psrc=veth.b.ipv4, pdst=veth.a.ipv4))
    ]
    with _xdp(veth, type=0x0806) as s, _peer_sender(veth) as tx:
        for f in udp[:2] + arp + udp[2:] + arp:
            tx.send(f)
        got = sniff(opened_socket=s, count=2, timeout=5)
        assert [bytes(p) for p in got] == arp * 2
        assert all(ARP in p for p in got)


@privileged
def test_promisc_held_while_open(veth: VethPair) -> None:
    def promiscuity() -> int:
        out = veth.a.ns.exec("ip", "-d", "link", "show", "dev", veth.a.ifname).stdout
        return int(out.split("promiscuity ")[1].split()[0])

    assert promiscuity() == 0
    with _xdp(veth, promisc=True):
        assert promiscuity() == 1
    assert promiscuity() == 0
    with _xdp(veth, promisc=False):
        assert promiscuity() == 0


@privileged
def test_batch_to_scapy_of_a_real_batch(veth: VethPair) -> None:
    frames = _udp_frames(veth, 10)
    with _xdp(veth, promisc=False) as s, _peer_sender(veth) as tx:
        for f in frames:
            tx.send(f)
        got: list[Packet] = []
        end = time.monotonic() + 3
        while len(got) < 10 and time.monotonic() < end:
            with s.xsk.recv(64, timeout=0.2) as batch:
                got += [p for p in batch_to_scapy(batch) if p.src == veth.b.mac_str and UDP in p]
        assert [bytes(p) for p in got] == frames
        assert s.stats()["frames_user"] == 0


@privileged
def test_install_routes_scapy_to_xdp_socket(veth: VethPair) -> None:
    name = veth.a.ifname
    frames = _udp_frames(veth, 25)
    with xs.install(name, netns=veth.a.ns.name, frames=1024, ring_size=512) as inst:
        assert inst.active and xs.installed()[name]["queue"] == 0
        # scapy resolves the name although the device lives in another namespace.
        # scapy's L2 sockets take (iface, type, ...) positionally; conf.L2listen is typed as the
        # SuperSocket base, whose first parameter is the address family.
        probe = conf.L2listen(name, 0x0806)  # type: ignore[arg-type]
        try:
            assert isinstance(probe, XdpSocket) and probe.netns == veth.a.ns.name
            assert probe.type == 0x0806 and probe.iface == name
        finally:
            probe.close()
        # Every other interface still gets the class installed before (here the guard).
        with pytest.raises(_Guarded):
            conf.L2socket(iface="xdpkt-other0")
        with pytest.raises(_Guarded):
            conf.L2listen("xdpkt-other0")  # type: ignore[arg-type]
        with _peer_sender(veth) as tx:

            def send() -> None:
                for f in frames:
                    tx.send(f)

            got = sniff(
                iface=name,
                count=len(frames),
                timeout=10,
                lfilter=lambda p: p.src == veth.b.mac_str and UDP in p,
                started_callback=send,
            )
        assert [bytes(p) for p in got] == frames
        ans, _ = srp(_arp(veth, veth.b.ipv4), iface=name, timeout=3)
        assert len(ans) == 1 and ans[0][1][ARP].hwsrc == veth.b.mac_str
        # scapy learnt the device's MAC and subnet from its namespace: default fields work.
        dev = resolve_iface(name)
        assert dev.mac == veth.a.mac_str and dev.ip == veth.a.ipv4
        assert conf.route.route(veth.b.ipv4)[:2] == (name, veth.a.ipv4)
        bare = Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=veth.b.ipv4)
        ans, _ = srp(bare, iface=name, timeout=3)
        assert len(ans) == 1
        sent, reply = ans[0]
        assert sent[Ether].src == sent[ARP].hwsrc == veth.a.mac_str and sent[ARP].psrc == veth.a.ipv4
        assert reply[ARP].psrc == veth.b.ipv4
        with _peer_receiver(veth) as rx:
            out = Ether(dst=veth.b.mac_str, src=veth.a.mac_str) / IP(src=veth.a.ipv4, dst=veth.b.ipv4) / UDP()
            sendp(out, iface=name)
            assert _peer_read(rx, 1, keep=_ours(veth)) == [bytes(out)]
    assert not inst.active and xs.installed() == {}
    assert conf.L2socket is _GuardSocket and conf.L2listen is _GuardSocket
    assert all(dev.network_name != name for dev in conf.ifaces.values())
    assert conf.route.route(veth.b.ipv4)[0] != name
    inst.uninstall()  # idempotent


def test_install_survives_ifaces_reload_and_uninstall_restores() -> None:
    """No privileges: nothing is opened, only scapy's tables change."""
    xs.install("xdpkt-fake0", netns="xdpkt-none", queue=0)
    xs.install("xdpkt-fake1", 2)
    assert set(xs.installed()) == {"xdpkt-fake0", "xdpkt-fake1"}
    assert conf.L2socket is not _GuardSocket
    conf.ifaces.reload()

    assert resolve_iface("xdpkt-fake0").network_name == "xdpkt-fake0"
    xs.uninstall("xdpkt-fake0")
    assert conf.L2socket is not _GuardSocket  # fake1 is still installed
    xs.uninstall()
    assert conf.L2socket is _GuardSocket and conf.L2listen is _GuardSocket
    with pytest.raises(ValueError):
        resolve_iface("xdpkt-fake0", retry=False)


@privileged
def test_two_sockets_one_queue_is_refused_with_busy(veth: VethPair) -> None:
    with _xdp(veth), pytest.raises(OSError) as ei:
        _xdp(veth)
    assert ei.value.errno == errno.EBUSY


def test_module_exports() -> None:
    assert set(xs.__all__) == {
        "Installation",
        "XdpSocket",
        "batch_to_scapy",
        "frames_from_scapy",
        "install",
        "installed",
        "uninstall",
    }
    assert XdpSocket.nonblocking_socket is False
    assert os.path.basename(xs.__file__ or "") == "scapy.py"


@pytest.mark.privileged
def test_batch_to_scapy_method() -> None:
    """Batch.to_scapy() is xdpkt.scapy.batch_to_scapy on a received batch, byte for byte."""
    import xdpkt

    with VethPair(tag="tosc") as v:
        frame = bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01", type=0x88B5) / (b"x" * 50))
        with xdpkt.Socket(v.b.ifname, netns=v.b.ns.name, frames=256, ring_size=128) as s:
            with open_packet_socket(v.a.ns, v.a.ifname, protocol=0) as tx:
                tx.send(frame)
            with s.recv(16, timeout=2.0) as b:
                pkts = b.to_scapy(timestamp=12.5)
    assert [bytes(p) for p in pkts if bytes(p) == frame] == [frame]
    assert all(p.time == 12.5 for p in pkts)
