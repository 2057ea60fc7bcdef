"""The Python receive loop of the AF_XDP benchmark: `s.recv(N)` in a loop, discarding.

Counts packets with len(batch), so no per-packet Python object is made; the batch is
dropped right away (its frames go back to the fill ring). Prints one JSON line like
the C peers: {"impl": "xdpkt-python", "mode": "rxdrop", "packets", "seconds", "mpps"}.
"""

from __future__ import annotations

import argparse
import json
import time

import xdpkt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("ifname")
    ap.add_argument("--queue", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--max-packets", type=int, default=256)
    a = ap.parse_args()
    if not 0 < a.seconds <= 3600:
        raise SystemExit("--seconds must be in (0, 3600]")
    packets = 0
    with xdpkt.Socket(a.ifname, queue=a.queue) as s:
        recv = s.recv
        t0 = time.monotonic()
        deadline = t0 + a.seconds
        while time.monotonic() < deadline:
            packets += len(recv(a.max_packets, timeout=0.1))
        el = time.monotonic() - t0
    print(
        json.dumps(
            {
                "impl": "xdpkt-python",
                "mode": "rxdrop",
                "packets": packets,
                "seconds": round(el, 3),
                "mpps": round(packets / el / 1e6, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
