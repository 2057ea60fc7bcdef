"""RX -> TX forwarding latency through two xdpkt Ports, with timestamps in the payload (root).

A sender (an ``xdpkt.Socket`` on A's veth) puts ``CLOCK_MONOTONIC`` nanoseconds into every UDP frame;
a receiver (an ``xdpkt.Socket`` on B's veth, same process, same clock) subtracts them on arrival. The
frames cross M through two Ports joined by ``forward_to`` (GRO and GSO on; UDP passes GRO untouched).
The same sender and receiver on a veth pair with nothing in between give the baseline; the Port's share
is the difference. Load: the maximum rate the sender reaches through the Ports is measured first, then
the latency at 10 % and 50 % of it (paced with sleeps, in batches of 8). Prints p50/p99/p99.9 in microseconds.

    .venv/bin/python bench/latency.py [--seconds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import threading
import time
from typing import Any

import xdpkt
from xdpkt import netns

BATCH = 8


def frame(ts: int, seq: int) -> bytes:
    payload = struct.pack("!QQ", ts, seq) + bytes(16)
    udp = struct.pack("!HHHH", 4000, 9, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0x4000,
        64,
        17,
        0,
        bytes([198, 18, 0, 1]),
        bytes([198, 18, 0, 2]),
    )
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + udp


def sender(ifname: str, ns: str, seconds: float, pps: float) -> int:
    """The sender process: paced batches of timestamped frames (``pps`` 0: flat out); prints the count."""
    sent = 0
    with xdpkt.Socket(ifname, netns=ns, frames=4096, ring_size=2048) as tx:
        t0 = time.monotonic()
        gap = BATCH / pps if pps else 0.0
        nxt = t0
        while time.monotonic() - t0 < seconds:
            now = time.monotonic_ns()
            sent += tx.send([frame(now, sent + i) for i in range(BATCH)])
            if gap:
                # Sleep, do not spin: a spinning sender takes a CPU from the path being measured.
                nxt += gap
                pause = nxt - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        print(json.dumps({"sent": sent, "pps": sent / (time.monotonic() - t0)}))
    return 0


def run(
    tx_if: str, tx_ns: str, rx: xdpkt.Socket, seconds: float, pps: float
) -> tuple[list[float], int, float]:
    """A sender process for ``seconds`` at ``pps`` (0: flat out); returns latencies (µs), sent, rate."""
    lat: list[float] = []
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            with rx.recv(256, timeout=0.01) as b:
                now = time.monotonic_ns()
                for p in b:
                    data = bytes(p)
                    if len(data) >= 58 and data[23] == 17:
                        ts = struct.unpack_from("!Q", data, 42)[0]
                        lat.append((now - ts) / 1000)

    t = threading.Thread(target=receive)
    t.start()
    try:
        r = subprocess.run(
            [sys.executable, __file__, "--sender", tx_if, tx_ns, str(seconds), str(pps)],
            capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-1000:])
        res = json.loads(r.stdout)
    finally:
        time.sleep(0.2)
        stop.set()
        t.join(5)
    return lat, int(res["sent"]), float(res["pps"])


def pct(v: list[float], q: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--sender":
        return sender(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    out: dict[str, Any] = {}
    sk: dict[str, Any] = {"frames": 4096, "ring_size": 2048}
    with netns.ForwardTopology(queues=1, tag="lat") as t:
        kw: dict[str, Any] = {"netns": t.m.name, "channels": 1}
        with (
            xdpkt.Port(ifname=t.m_a.ifname, **kw) as pa,
            xdpkt.Port(ifname=t.m_b.ifname, share_umem=pa, **kw) as pb,
            xdpkt.Socket(t.b.ifname, netns=t.b.ns.name, **sk) as rx,
        ):
            pa.forward_to(pb)
            _, _, top = run(t.a.ifname, t.a.ns.name, rx, 2.0, 0)
            out["max_pps"] = top
            for share in (0.1, 0.5):
                lat, sent, rate = run(t.a.ifname, t.a.ns.name, rx, args.seconds, top * share)
                out[f"port_{int(share * 100)}"] = {
                    "pps": rate, "sent": sent, "received": len(lat),
                    "p50_us": pct(lat, 0.5), "p99_us": pct(lat, 0.99), "p999_us": pct(lat, 0.999),
                }  # fmt: skip
            pa.stop()
    with netns.VethPair(tag="latb") as v:
        with xdpkt.Socket(v.b.ifname, netns=v.b.ns.name, **sk) as rx:
            for share in (0.1, 0.5):
                lat, sent, rate = run(v.a.ifname, v.a.ns.name, rx, args.seconds, out["max_pps"] * share)
                out[f"direct_{int(share * 100)}"] = {
                    "pps": rate, "sent": sent, "received": len(lat),
                    "p50_us": pct(lat, 0.5), "p99_us": pct(lat, 0.99), "p999_us": pct(lat, 0.999),
                }  # fmt: skip
    print(f"max rate through the Ports: {out['max_pps'] / 1e3:.1f} kpps (64-byte UDP, Python sender)")
    print(f"{'':22s} {'kpps':>7s} {'p50 us':>8s} {'p99 us':>8s} {'p99.9 us':>9s} {'lost':>6s}")
    for k in ("port_10", "direct_10", "port_50", "direct_50"):
        r = out[k]
        print(
            f"{k:22s} {r['pps'] / 1e3:7.1f} {r['p50_us']:8.1f} {r['p99_us']:8.1f} {r['p999_us']:9.1f} "
            f"{r['sent'] - r['received']:6d}"
        )
    for share in ("10", "50"):
        p, d = out[f"port_{share}"], out[f"direct_{share}"]
        out[f"port_share_{share}"] = {q: p[q] - d[q] for q in ("p50_us", "p99_us", "p999_us")}
        print(
            f"Port's share at {share} %: "
            + ", ".join(f"{q} {v:+.1f}" for q, v in out[f"port_share_{share}"].items())
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
