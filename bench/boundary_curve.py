"""The Python boundary: µs per packet of ``xdpkt.gro.coalesce`` and ``xdpkt.gso.segment`` against the
number of packets per call, next to the Rust core doing the same work (``offload_bench`` example).

    .venv/bin/python bench/boundary_curve.py [--png bench/boundary.png] [--json FILE]

GRO input: TCP/IPv4 segments of 1448 bytes from 64 interleaved flows (what one NAPI poll of a busy queue
sees); GSO input: 64 KB TCP/IPv4 super-frames cut at MSS 1448, per call one super-frame repeated
``len/45`` times in the list of calls (segment takes one frame per call).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time

import xdpkt


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp4(payload: bytes, seq: int, ident: int, sport: int) -> bytes:
    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    tcp = struct.pack("!HHIIBBHHH", sport, 5001, seq, 1, 5 << 4, 0x10, 512, 0, 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return bytes(6) + bytes(5) + b"\x01" + b"\x08\x00" + ip + tcp


def gro_frames(n: int) -> list[bytes]:
    payload = bytes(range(256)) * 6
    flows = 64
    # Built once per flow position and reused: the list holds n references, not n copies.
    per_flow = max(1, n // flows)
    base = [[tcp4(payload[:1448], 1 + j * 1448, j, 4000 + f) for j in range(min(per_flow, 45))] for f in range(flows)]
    out = []
    for j in range(per_flow):
        for f in range(flows):
            out.append(base[f][j % len(base[f])])
    return out[:n]


def timeit(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="64,512,4096,32768,262144,1048576")
    ap.add_argument("--png")
    ap.add_argument("--json")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    res: dict[str, dict[str, float]] = {"gro": {}, "gso": {}}
    sf = tcp4((bytes(range(256)) * 256)[:65000], 1, 1, 4000)
    for n in sizes:
        frames = gro_frames(n)
        reps = max(3, min(50, 200_000 // n))
        t = timeit(lambda: xdpkt.gro.coalesce(frames), reps)
        res["gro"][str(n)] = t / n * 1e6
        calls = max(1, n // 45)
        t = timeit(lambda: [xdpkt.gso.segment(sf, 1448) for _ in range(calls)], max(3, reps))
        res["gso"][str(n)] = t / (calls * 45) * 1e6
        print(f"{n:8d} packets/call: coalesce {res['gro'][str(n)]:.3f} us/packet, segment {res['gso'][str(n)]:.3f} us/segment", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 3.8))
        for k, label in (("gro", "gro.coalesce (per input packet)"), ("gso", "gso.segment (per segment)")):
            ax.plot(sizes, [res[k][str(n)] for n in sizes], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("packets per call")
        ax.set_ylabel("µs per packet")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.set_title("Python boundary: cost per packet vs call size")
        fig.tight_layout()
        fig.savefig(args.png, dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
