#!/usr/bin/env python3
"""scapy's sniff() over xdpkt.scapy.XdpSocket vs over scapy's own L2ListenSocket (AF_PACKET).

On a private veth pair (two namespaces made here, removed at the end), the Rust txonly loop
(`xdpkt.bench("txonly")`, in a child process in namespace b) sends 64-byte UDP frames for a
bounded time, faster than any Python consumer; in namespace a each consumer runs for
`--seconds`, in `--rounds` interleaved rounds, and we count what it delivered:

  raw Socket.recv          xdpkt.Socket.recv(256) + Batch.close(): the AF_XDP path alone
  raw Socket.recv+bytes    the same plus Batch.to_bytes() (what XdpSocket does per batch)
  XdpSocket sniff          sniff(opened_socket=XdpSocket, store=False, prn=count)
  XdpSocket sniff (Raw)    the same with basecls=Raw: scapy's loop without Ether dissection
  L2ListenSocket sniff     sniff(opened_socket=L2ListenSocket, store=False, prn=count)
  sniff, in-memory socket  sniff() over a socket that dissects one captured frame forever: scapy's
                           loop and dissection with no I/O at all (the ceiling for any socket)
  Ether() dissect only     Ether(frame) in a loop, no sniff, no socket

Then the send paths, 2000 UDP packets each (scapy sendp over XdpSocket, send_batch, bytes(pkt)
alone, and Socket.send of the built bytes).

The consumers are saturated (the generator's rate is printed too), so each figure is the
consumer's own packets/s; frames it could not take are dropped by the ring / socket buffer.

    sudo .venv/bin/python bench/scapy_sniff.py [--seconds 1.5] [--rounds 3] [--size 64] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import xdpkt
from scapy.config import conf
from scapy.data import MTU
from scapy.interfaces import InterfaceProvider, NetworkInterface
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.sendrecv import sniff
from scapy.supersocket import SuperSocket
from xdpkt.netns import VethPair
from xdpkt.scapy import XdpSocket

_GEN = """
import json, sys
from xdpkt._xdpkt import bench
r = bench("txonly", sys.argv[1], seconds=float(sys.argv[2]), size=int(sys.argv[3]), netns=sys.argv[4])
print(json.dumps({k: r[k] for k in ("packets", "seconds")}), flush=True)
"""


class Generator:
    """The txonly loop in a child process (its own GIL and CPU) for a bounded time."""

    def __init__(self, v: VethPair, seconds: float, size: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _GEN, v.b.ifname, str(seconds), str(size), v.b.ns.name],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.4)  # socket open, frames flowing

    def rate(self) -> float:
        out, _ = self.proc.communicate(timeout=60)
        r = json.loads(out)
        return float(r["packets"]) / float(r["seconds"])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def measure(v: VethPair, seconds: float, size: int, consume: Callable[[float], int]) -> tuple[float, float]:
    gen = Generator(v, seconds + 1.0, size)
    try:
        t0 = time.monotonic()
        n = consume(seconds)
        elapsed = time.monotonic() - t0
        return n / elapsed, gen.rate()
    finally:
        gen.kill()


def _xdp(v: VethPair, **kw: Any) -> XdpSocket:
    return XdpSocket(v.a.ifname, netns=v.a.ns.name, promisc=False, **kw)


def raw_recv(v: VethPair, with_bytes: bool) -> Callable[[float], int]:
    def run(seconds: float) -> int:
        n = 0
        with xdpkt.Socket(v.a.ifname, netns=v.a.ns.name) as s:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                with s.recv(256, timeout=0.05) as b:
                    n += len(b)
                    if with_bytes:
                        b.to_bytes()
        return n

    return run


def xdp_sniff(v: VethPair, **kw: Any) -> Callable[[float], int]:
    def run(seconds: float) -> int:
        count = [0]

        def prn(_p: object) -> None:
            count[0] += 1

        with _xdp(v, **kw) as s:
            sniff(opened_socket=s, store=False, prn=prn, timeout=seconds)
        return count[0]

    return run


def l2listen_sniff(v: VethPair) -> Callable[[float], int]:
    # scapy resolves names in this namespace only: hand it the interface as an object.
    dev = NetworkInterface(InterfaceProvider(), {"name": v.a.ifname, "network_name": v.a.ifname})

    def run(seconds: float) -> int:
        count = [0]

        def prn(_p: object) -> None:
            count[0] += 1

        # Created on a thread inside namespace a: the AF_PACKET socket lives there.
        s = v.a.ns.run(lambda: conf.L2listen(iface=dev, promisc=False))
        try:
            sniff(opened_socket=s, store=False, prn=prn, timeout=seconds)
        finally:
            s.close()
        return count[0]

    return run


def capture_one(v: VethPair, size: int) -> bytes:
    """One frame of the generator's stream, as it arrives."""
    with _xdp(v, basecls=Raw) as s:
        gen = Generator(v, 1.0, size)
        try:
            frame = s.recv()
        finally:
            gen.kill()
    assert frame is not None
    return bytes(frame)


class MemorySocket(SuperSocket):
    """scapy's sniff loop with no I/O: every recv() dissects the same captured frame."""

    desc = "one frame from memory, forever"
    nonblocking_socket = True

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.closed = False

    def recv(self, x: int = MTU, **kwargs: Any) -> Packet | None:
        p = Ether(self.frame)
        p.time = time.time()
        return p

    @staticmethod
    def select(sockets: list[SuperSocket], remain: float | None = None) -> list[SuperSocket]:
        return list(sockets)

    def close(self) -> None:
        self.closed = True


def memory_sniff(frame: bytes) -> Callable[[float], int]:
    def run(seconds: float) -> int:
        count = [0]

        def prn(_p: object) -> None:
            count[0] += 1

        sniff(opened_socket=MemorySocket(frame), store=False, prn=prn, timeout=seconds)
        return count[0]

    return run


def dissect_only(frame: bytes, seconds: float) -> float:
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        for _ in range(1000):
            Ether(frame)
        n += 1000
    return n / (time.monotonic() - t0)


def send_rates(v: VethPair, n: int = 2000) -> dict[str, float]:
    """packets/s of the send paths, n UDP packets each: scapy's sendp loop, send_batch, and
    the xdpkt socket with the frames already built (bytes(pkt) alone is timed too)."""
    from scapy.layers.inet import IP, UDP
    from scapy.sendrecv import sendp

    def pkts() -> list[Packet]:
        return [
            Ether(dst=v.b.mac_str, src=v.a.mac_str) / IP(src=v.a.ipv4, dst=v.b.ipv4, id=i) / UDP(dport=9)
            for i in range(n)
        ]

    out: dict[str, float] = {}
    with _xdp(v) as s:
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
    ap.add_argument("--seconds", type=float, default=1.5, help="per consumer and round (0.5..10)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all consumers, interleaved (1..9)")
    ap.add_argument("--size", type=int, default=64, help="frame size in bytes (64..1500)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not 0.5 <= a.seconds <= 10:
        ap.error("--seconds must be within 0.5..10")
    if not 1 <= a.rounds <= 9:
        ap.error("--rounds must be within 1..9")
    if not 64 <= a.size <= 1500:
        ap.error("--size must be within 64..1500")
    if os.geteuid() != 0:
        print("needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF)", file=sys.stderr)
        return 1
    conf.verb = 0
    runs: dict[str, list[float]] = {}
    gens: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {"xdp_vs_l2listen": [], "xdp_vs_memory": []}
    with VethPair(tag="scsniff") as v:
        cases: list[tuple[str, Callable[[float], int]]] = [
            ("raw Socket.recv", raw_recv(v, False)),
            ("raw Socket.recv+bytes", raw_recv(v, True)),
            ("XdpSocket sniff", xdp_sniff(v)),
            ("XdpSocket sniff (Raw)", xdp_sniff(v, basecls=Raw)),
            ("L2ListenSocket sniff", l2listen_sniff(v)),
        ]
        frame = capture_one(v, a.size)
        cases.append(("sniff, in-memory socket", memory_sniff(frame)))
        # Rounds interleave the consumers, so load from elsewhere on the machine hits all of
        # them alike; the ratios are taken within each round.
        for _ in range(a.rounds):
            this: dict[str, float] = {}
            for name, fn in cases:
                pps, gen = measure(v, a.seconds, a.size, fn)
                this[name] = pps
                runs.setdefault(name, []).append(pps)
                gens.setdefault(name, []).append(gen)
            ratios["xdp_vs_l2listen"].append(this["XdpSocket sniff"] / this["L2ListenSocket sniff"])
            ratios["xdp_vs_memory"].append(this["XdpSocket sniff"] / this["sniff, in-memory socket"])
        ceiling = dissect_only(frame, 1.0)
        sends = send_rates(v)
    med = {name: statistics.median(xs) for name, xs in runs.items()}
    result = {
        "size": a.size,
        "seconds": a.seconds,
        "rounds": a.rounds,
        "pps": runs,
        "generator_pps": gens,
        "ether_dissect_pps": ceiling,
        "send_pps": sends,
        "xdp_vs_l2listen": ratios["xdp_vs_l2listen"],
        "xdp_vs_memory_sniff": ratios["xdp_vs_memory"],
    }
    if a.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'consumer':<24}{'median pps':>12}{'min..max':>22}{'generator pps':>16}")
    for name, xs in runs.items():
        rng = f"{min(xs):,.0f}..{max(xs):,.0f}"
        print(f"{name:<24}{med[name]:>12,.0f}{rng:>22}{statistics.median(gens[name]):>16,.0f}")
    print(f"{'Ether() dissect only':<24}{ceiling:>12,.0f}")
    for name, p in sends.items():
        print(f"{'send: ' + name:<36}{p:>12,.0f}")

    def span(xs: list[float], fmt: str) -> str:
        return (
            f"median {statistics.median(xs):{fmt}} ({min(xs):{fmt}}..{max(xs):{fmt}}) over {len(xs)} rounds"
        )

    print(f"XdpSocket sniff / L2ListenSocket sniff: {span(ratios['xdp_vs_l2listen'], '.2f')}")
    print(f"XdpSocket sniff / in-memory sniff (no I/O at all): {span(ratios['xdp_vs_memory'], '.0%')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
