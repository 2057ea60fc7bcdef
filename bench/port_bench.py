"""Port benchmarks on private veth pairs (root): each prints its figures and a ratio; ``--json FILE``.

- ``batch``: ``xdpkt bench txonly --batch 1|8|32|64|256`` (64-byte frames): cost per packet falls with
  batch size (one TX reservation and at most one kick per batch). ``--png`` draws the curve.
- ``gso``: goodput of ``Port.send`` handed 64 KB TCP super-frames (GSO cuts them to the wire MSS in Rust)
  vs Python segmenting the same super-frames (``xdpkt.gso.segment``, the fastest Python-side way) and
  handing the segments to ``Socket.send``; and, as the floor of the kernel's TX cost, ``Socket.send`` of
  the same segments built once and reused (no per-packet work in Python at all).
- ``gro``: a Python consumer of a TCP segment stream through ``Port.recv``, GRO on vs off: objects handed
  to Python and payload goodput, for two consumers: ``len`` (touches each packet: ``len(p)``) and
  ``dpkt`` (dissects each packet with dpkt, as a test author's per-packet code does). The stream is sent
  by a ``Port.send`` loop on the other end (wire-size segments, one flow per 64-segment run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import subprocess
import sys
import threading
import time
from typing import Any

import xdpkt
from xdpkt import netns

SRC_MAC = bytes.fromhex("020000000001")
DST_MAC = bytes.fromhex("020000000002")


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp4(payload: bytes, seq: int, ident: int, sport: int = 4000, flags: int = 0x10) -> bytes:
    src, dst = bytes([198, 18, 9, 1]), bytes([198, 18, 9, 2])
    tcp = struct.pack("!HHIIBBHHH", sport, 5001, seq, 1, 5 << 4, flags, 512, 0, 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return DST_MAC + SRC_MAC + b"\x08\x00" + ip + tcp


def bench_batch(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for b in (1, 8, 32, 64, 256):
        runs = []
        for _ in range(args.runs):
            with netns.VethPair(tag="bat") as v:
                r = subprocess.run(
                    [sys.executable, "-m", "xdpkt.cli", "bench", "txonly", v.a.ifname, "--netns", v.a.ns.name,
                     "--seconds", str(args.seconds), "--batch", str(b), "--json"],
                    capture_output=True, text=True, timeout=args.seconds + 60,
                )  # fmt: skip
                if r.returncode != 0:
                    raise RuntimeError(r.stderr)
                runs.append(json.loads(r.stdout)["mpps"] * 1e6)
        pps = statistics.median(runs)
        out[str(b)] = {"pps": pps, "ns_per_packet": 1e9 / pps, "runs": runs}
        print(f"txonly --batch {b:3d}: {pps / 1e6:6.3f} Mpps, {1e9 / pps:7.1f} ns/packet", file=sys.stderr)
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        xs = [int(k) for k in out]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(xs, [out[str(x)]["ns_per_packet"] for x in xs], marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("packets per batch (one TX reservation, at most one kick)")
        ax.set_ylabel("ns per packet")
        ax.set_title("xdpkt bench txonly on veth (copy mode), 64-byte frames")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.png, dpi=100)
        print(f"wrote {args.png}", file=sys.stderr)
    return out


def bench_gso(args: argparse.Namespace) -> dict[str, Any]:
    payload = bytes(range(256)) * 256  # 65536 bytes
    sf_payload = payload[:65000]
    mss = 1460
    superframes = [tcp4(sf_payload, seq=1 + i * len(sf_payload), ident=i * 45) for i in range(16)]
    segs: list[bytes] = []
    for i in range(16):
        base = 1 + i * len(sf_payload)
        for k in range(0, len(sf_payload), mss):
            segs.append(tcp4(sf_payload[k : k + mss], seq=base + k, ident=i * 45 + k // mss))
    total_payload = 16 * len(sf_payload)
    res: dict[str, list[float]] = {"port_gso": [], "python_gso_socket": [], "socket_prebuilt": []}
    for _ in range(args.runs):
        with netns.VethPair(tag="gso") as v:
            with xdpkt.Port(ifname=v.a.ifname, netns=v.a.ns.name, channels=1) as p:
                p.send(superframes)
                t0 = time.perf_counter()
                n = 0
                while time.perf_counter() - t0 < args.seconds:
                    p.send(superframes)
                    n += 1
                res["port_gso"].append(n * total_payload * 8 / (time.perf_counter() - t0) / 1e9)
            with xdpkt.Socket(v.a.ifname, 0, netns=v.a.ns.name) as s:
                s.send(segs)
                t0 = time.perf_counter()
                n = 0
                while time.perf_counter() - t0 < args.seconds:
                    for sf in superframes:
                        s.send(xdpkt.gso.segment(sf, mss))
                    n += 1
                res["python_gso_socket"].append(n * total_payload * 8 / (time.perf_counter() - t0) / 1e9)
                t0 = time.perf_counter()
                n = 0
                while time.perf_counter() - t0 < args.seconds:
                    s.send(segs)
                    n += 1
                res["socket_prebuilt"].append(n * total_payload * 8 / (time.perf_counter() - t0) / 1e9)
    g = statistics.median(res["port_gso"])
    py = statistics.median(res["python_gso_socket"])
    pre = statistics.median(res["socket_prebuilt"])
    print(
        f"GSO on transmit: Port.send(64 KB super-frames) {g:.2f} Gbit/s; gso.segment + Socket.send {py:.2f} "
        f"Gbit/s ({g / py:.2f}x); Socket.send of prebuilt segments {pre:.2f} Gbit/s ({g / pre:.2f}x)",
        file=sys.stderr,
    )
    return {"runs": res, "port_gso_gbps": g, "python_gso_gbps": py, "prebuilt_gbps": pre,
            "ratio_vs_python_gso": g / py, "ratio_vs_prebuilt": g / pre}  # fmt: skip


def bench_gro(args: argparse.Namespace) -> dict[str, Any]:
    mss = 1448
    payload = bytes(range(256)) * 6
    # 64-segment runs of one flow each, 16 flows: what a NIC queue sees of a few bulk TCP streams.
    frames = [
        tcp4(payload[:mss], seq=1 + j * mss, ident=j, sport=4000 + f) for f in range(16) for j in range(64)
    ]
    import dpkt

    out: dict[str, Any] = {}
    for consumer in ("len", "dpkt"):
        for gro in (True, False):
            gb, objs = [], []
            for _ in range(args.runs):
                with netns.VethPair(tag="gro") as v:
                    with (
                        xdpkt.Port(
                            ifname=v.b.ifname, netns=v.b.ns.name, channels=1, gro=gro, budget=256
                        ) as rx,
                        xdpkt.Port(ifname=v.a.ifname, netns=v.a.ns.name, channels=1, gro=False) as tx,
                    ):
                        stop = threading.Event()

                        def send(stop: threading.Event = stop, tx: xdpkt.Port = tx) -> None:
                            while not stop.is_set():
                                tx.send(frames)

                        t = threading.Thread(target=send)
                        t.start()
                        try:
                            time.sleep(0.2)
                            nbytes = nobj = 0
                            t0 = time.perf_counter()
                            while time.perf_counter() - t0 < args.seconds:
                                with rx.recv(max_packets=1024, timeout=0.1) as b:
                                    for p in b:
                                        nobj += 1
                                        if consumer == "len":
                                            nbytes += len(p) - 54
                                        else:
                                            eth = dpkt.ethernet.Ethernet(bytes(p))
                                            nbytes += len(eth.data.data.data)
                            dt = time.perf_counter() - t0
                        finally:
                            stop.set()
                            t.join(10)
                    gb.append(nbytes * 8 / dt / 1e9)
                    objs.append(nobj / dt)
            key = f"{consumer}_gro_{'on' if gro else 'off'}"
            out[key] = {"gbps": statistics.median(gb), "objects_per_s": statistics.median(objs), "runs": gb}
            print(
                f"GRO to Python ({key}): {out[key]['gbps']:.2f} Gbit/s payload, "
                f"{out[key]['objects_per_s'] / 1e3:.1f} k objects/s",
                file=sys.stderr,
            )
        on, off = out[f"{consumer}_gro_on"], out[f"{consumer}_gro_off"]
        # Objects per payload byte, off over on.
        ratio = (off["objects_per_s"] / max(off["gbps"], 1e-9)) / max(
            on["objects_per_s"] / max(on["gbps"], 1e-9), 1e-9
        )
        out[f"{consumer}_objects_ratio"] = ratio
        out[f"{consumer}_goodput_ratio"] = on["gbps"] / off["gbps"]
        print(
            f"GRO to Python ({consumer}): {ratio:.1f}x fewer objects per byte, "
            f"{on['gbps'] / off['gbps']:.2f}x goodput",
            file=sys.stderr,
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", default=["batch", "gso", "gro"], choices=["batch", "gso", "gro"])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--png", help="batch: write the curve here")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    for w in args.which:
        results[w] = {"batch": bench_batch, "gso": bench_gso, "gro": bench_gro}[w](args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
