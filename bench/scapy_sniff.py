#!/usr/bin/env python3
"""scapy's sniff() over xdpkt.scapy.XdpSocket vs over scapy's own L2ListenSocket (AF_PACKET).

On a private veth pair (two namespaces made here, removed at the end): each consumer opens its
socket on end a, an AF_PACKET socket in namespace b sends a bounded burst of `--burst` distinct
64-byte UDP frames (it takes a few tens of ms; every socket has room to queue all of them), and
only then the consumer drains what arrived. So the generator never competes with the consumer
for the CPU, and each figure is the consumer's own packets/s (frames delivered / time from the
start of draining to the last one):

  raw Socket.recv          xdpkt.Socket.recv(256) + Batch.close(): the AF_XDP path alone
  raw Socket.recv+bytes    the same plus Batch.to_bytes() (what XdpSocket does per batch)
  XdpSocket sniff          sniff(opened_socket=XdpSocket, count=N, store=False, prn=...)
  XdpSocket sniff (Raw)    the same with basecls=Raw: scapy's loop without Ether dissection
  L2ListenSocket sniff     sniff(opened_socket=L2ListenSocket, ...) (its receive buffer raised
                           so it can queue the whole burst)
  sniff, in-memory socket  sniff() over a socket that dissects the burst's frames from memory:
                           scapy's loop and dissection with no I/O at all (the ceiling for any socket)
  Ether() dissect only     Ether(frame) over the burst's frames, no sniff, no socket

Then the send paths, 2000 UDP packets each: scapy's sendp over XdpSocket, send_batch, bytes(pkt)
alone, and Socket.send of the built bytes.

Rounds interleave the consumers; medians and per-round ratios are printed.

    sudo .venv/bin/python bench/scapy_sniff.py [--burst 10000] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import xdpkt
from scapy.config import conf
from scapy.data import MTU
from scapy.interfaces import InterfaceProvider, NetworkInterface
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.sendrecv import sendp, sniff
from scapy.supersocket import SuperSocket
from xdpkt.netns import VethPair, open_packet_socket
from xdpkt.scapy import XdpSocket

# Room for the whole burst: UMEM frames and rings for the AF_XDP sockets, a receive buffer for
# the AF_PACKET one (a 64-byte frame costs about 1 KiB of skb truesize there).
_XSK = {"frames": 32768, "frame_size": 2048, "ring_size": 16384}
_RCVBUF = 64 << 20


def _csum(data: bytes) -> int:
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def burst_frames(v: VethPair, n: int) -> list[bytes]:
    """n distinct 64-byte Ethernet/IPv4/UDP frames b -> a (valid IP checksum, UDP checksum 0)."""
    src, dst = socket.inet_aton(v.b.ipv4), socket.inet_aton(v.a.ipv4)
    out = []
    for i in range(n):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 50, i & 0xFFFF, 0x4000, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
        # Port 9 (discard) both ways: scapy binds no protocol to it, so every frame dissects
        # as Ether/IP/UDP/Raw, the same work for each.
        udp = struct.pack("!HHHH", 9, 9, 30, 0) + i.to_bytes(4, "big") + bytes(18)
        out.append(v.a.mac + v.b.mac + b"\x08\x00" + ip + udp)
    return out


class Result:
    def __init__(self, n: int, seconds: float) -> None:
        self.n, self.seconds = n, seconds

    @property
    def pps(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0


Case = Callable[[Callable[[], None], int], Result]  # (send the burst, burst size) -> Result


def raw_recv(v: VethPair, with_bytes: bool) -> Case:
    def run(send: Callable[[], None], n: int) -> Result:
        got = 0
        with xdpkt.Socket(v.a.ifname, netns=v.a.ns.name, **_XSK) as s:  # type: ignore[arg-type]
            send()
            t0 = last = time.monotonic()
            while got < n:
                with s.recv(256, timeout=0.5) as b:
                    if not len(b):
                        break
                    got += len(b)
                    if with_bytes:
                        b.to_bytes()
                last = time.monotonic()
        return Result(got, last - t0)

    return run


def _sniff(s: SuperSocket, n: int) -> Result:
    count = [0]
    last = [0.0]

    def prn(_p: object) -> None:
        count[0] += 1
        last[0] = time.monotonic()

    t0 = time.monotonic()
    sniff(opened_socket=s, count=n, store=False, prn=prn, timeout=n / 500 + 5)
    return Result(count[0], last[0] - t0 if count[0] else 0.0)


def xdp_sniff(v: VethPair, **kw: Any) -> Case:
    def run(send: Callable[[], None], n: int) -> Result:
        with XdpSocket(v.a.ifname, netns=v.a.ns.name, promisc=False, **_XSK, **kw) as s:  # type: ignore[arg-type]
            send()
            return _sniff(s, n)

    return run


def l2listen_sniff(v: VethPair) -> Case:
    # scapy resolves names in this namespace only: hand it the interface as an object.
    dev = NetworkInterface(InterfaceProvider(), {"name": v.a.ifname, "network_name": v.a.ifname})

    def run(send: Callable[[], None], n: int) -> Result:
        def make() -> SuperSocket:
            s: SuperSocket = conf.L2listen(iface=dev, promisc=False)
            s.ins.setsockopt(socket.SOL_SOCKET, 33, _RCVBUF)  # SO_RCVBUFFORCE
            return s

        # Created on a thread inside namespace a: the AF_PACKET socket lives there.
        s = v.a.ns.run(make)
        try:
            send()
            return _sniff(s, n)
        finally:
            s.close()

    return run


class MemorySocket(SuperSocket):
    """scapy's sniff loop with no I/O: recv() dissects the next frame from a list."""

    desc = "frames from memory"
    nonblocking_socket = True

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.i = 0
        self.closed = False

    def recv(self, x: int = MTU, **kwargs: Any) -> Packet | None:
        if self.i >= len(self.frames):
            raise EOFError
        p = Ether(self.frames[self.i])
        self.i += 1
        p.time = time.time()
        return p

    @staticmethod
    def select(sockets: list[SuperSocket], remain: float | None = None) -> list[SuperSocket]:
        return list(sockets)

    def close(self) -> None:
        self.closed = True


def memory_sniff(frames: list[bytes]) -> Case:
    def run(send: Callable[[], None], n: int) -> Result:
        return _sniff(MemorySocket(frames[:n]), n)

    return run


def dissect_only(frames: list[bytes]) -> float:
    t0 = time.monotonic()
    for f in frames:
        Ether(f)
    return len(frames) / (time.monotonic() - t0)


def send_rates(v: VethPair, n: int = 2000) -> dict[str, float]:
    def pkts() -> list[Packet]:
        return [
            Ether(dst=v.b.mac_str, src=v.a.mac_str) / IP(src=v.a.ipv4, dst=v.b.ipv4, id=i) / UDP(dport=9)
            for i in range(n)
        ]

    out: dict[str, float] = {}
    with XdpSocket(v.a.ifname, netns=v.a.ns.name, promisc=False) as s:
        for name, fn in (
            ("sendp(socket=XdpSocket)", lambda p: sendp(p, socket=s)),
            ("XdpSocket.send_batch", s.send_batch),
            ("bytes(pkt) only", lambda p: [bytes(x) for x in p]),
        ):
            batch = pkts()
            t0 = time.monotonic()
            fn(batch)
            out[name] = n / (time.monotonic() - t0)
        frames = [bytes(p) for p in pkts()]
        t0 = time.monotonic()
        s.xsk.send(frames)
        out["Socket.send(built bytes)"] = n / (time.monotonic() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--burst", type=int, default=10000, help="frames per burst (1000..15000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds over all consumers (1..9)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not 1000 <= a.burst <= 15000:
        ap.error("--burst must be within 1000..15000")
    if not 1 <= a.rounds <= 9:
        ap.error("--rounds must be within 1..9")
    if os.geteuid() != 0:
        print("needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF)", file=sys.stderr)
        return 1
    conf.verb = 0
    runs: dict[str, list[Result]] = {}
    ratios: dict[str, list[float]] = {"xdp_vs_l2listen": [], "xdp_vs_memory": []}
    with VethPair(tag="scsniff") as v:
        frames = burst_frames(v, a.burst)
        tx = open_packet_socket(v.b.ns, v.b.ifname, protocol=0)

        def send() -> None:
            for f in frames:
                tx.send(f)
            time.sleep(0.2)  # the last frames land

        cases: list[tuple[str, Case]] = [
            ("raw Socket.recv", raw_recv(v, False)),
            ("raw Socket.recv+bytes", raw_recv(v, True)),
            ("XdpSocket sniff", xdp_sniff(v)),
            ("XdpSocket sniff (Raw)", xdp_sniff(v, basecls=Raw)),
            ("L2ListenSocket sniff", l2listen_sniff(v)),
            ("sniff, in-memory socket", memory_sniff(frames)),
        ]
        try:
            for _ in range(a.rounds):
                this: dict[str, float] = {}
                for name, case in cases:
                    r = case(send, a.burst)
                    runs.setdefault(name, []).append(r)
                    this[name] = r.pps
                ratios["xdp_vs_l2listen"].append(this["XdpSocket sniff"] / this["L2ListenSocket sniff"])
                ratios["xdp_vs_memory"].append(this["XdpSocket sniff"] / this["sniff, in-memory socket"])
            ceiling = dissect_only(frames)
            sends = send_rates(v)
        finally:
            tx.close()
    if a.json:
        out = {
            "burst": a.burst,
            "rounds": a.rounds,
            "pps": {k: [r.pps for r in rs] for k, rs in runs.items()},
            "delivered": {k: [r.n for r in rs] for k, rs in runs.items()},
            "ether_dissect_pps": ceiling,
            "send_pps": sends,
            **ratios,
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"burst of {a.burst} frames, {a.rounds} rounds")
    print(f"{'consumer':<24}{'median pps':>12}{'min..max':>26}{'delivered':>11}")
    for name, rs in runs.items():
        pps = [r.pps for r in rs]
        rng = f"{min(pps):,.0f}..{max(pps):,.0f}"
        print(f"{name:<24}{statistics.median(pps):>12,.0f}{rng:>26}{min(r.n for r in rs):>11}")
    print(f"{'Ether() dissect only':<24}{ceiling:>12,.0f}")
    for name, p in sends.items():
        print(f"{'send: ' + name:<36}{p:>12,.0f}")

    def span(xs: list[float], fmt: str) -> str:
        return f"median {statistics.median(xs):{fmt}} ({min(xs):{fmt}}..{max(xs):{fmt}})"

    print(f"XdpSocket sniff / L2ListenSocket sniff: {span(ratios['xdp_vs_l2listen'], '.2f')}")
    print(f"XdpSocket sniff / in-memory sniff (no I/O at all): {span(ratios['xdp_vs_memory'], '.0%')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
