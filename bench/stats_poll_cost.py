"""What polling every counter of a forwarding 4-queue Port at 1 kHz costs the traffic it carries.

One topology (``ForwardTopology(queues=4)``), one forwarding pair (``channels=4``, ``pin=True``; on a
2-core machine four pinned workers share two CPUs), one iperf3 TCP run from A to B per trial. Trials
alternate without and with a poller thread in the Ports' process that reads ``xdpkt.ethtool.stats``
of A's Port (``--ports 2``: of both; every counter: totals and per queue, as ``xdpkt ethtool -S``
does) once per millisecond; ``--rounds`` pairs. Reported per trial: goodput (iperf3's receiver),
and for the poller the reads done, the rate reached and its own CPU time; then the medians and the cost
``1 - median(with) / median(without)`` (the issue's target: < 3 %).

Also the read itself: the median time of one ``ethtool.stats(port)`` while traffic runs.

Run (root): .venv/bin/python bench/stats_poll_cost.py [--seconds 5] [--rounds 3] [--ports 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from typing import Any

import xdpkt
from _net import iperf
from xdpkt import ethtool as et
from xdpkt import netns


class Poller:
    """Reads every counter of ``ports`` once per ``period`` seconds until stopped."""

    def __init__(self, ports: list[xdpkt.Port], period: float = 1e-3) -> None:
        self.ports = ports
        self.period = period
        self.reads = 0
        self.read_times: list[float] = []
        self.cpu = 0.0
        self.elapsed = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stats-poller", daemon=True)

    def _run(self) -> None:
        c0, t0 = time.thread_time(), time.monotonic()
        deadline = t0
        while not self._stop.is_set():
            for p in self.ports:
                s0 = time.perf_counter()
                et.stats(p)
                self.read_times.append(time.perf_counter() - s0)
            self.reads += 1
            deadline += self.period
            pause = deadline - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                deadline = time.monotonic()  # behind: do not burst to catch up
        self.cpu = time.thread_time() - c0
        self.elapsed = time.monotonic() - t0

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="iperf3 time per trial")
    ap.add_argument("--rounds", type=int, default=3, help="pairs of trials (without, with the poller)")
    ap.add_argument("--streams", type=int, default=2, help="iperf3 parallel TCP streams")
    ap.add_argument(
        "--ports", type=int, choices=(1, 2), default=1, help="Ports the poller reads (1: A's side; 2: both)"
    )
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    if not 1 <= args.rounds <= 10 or not 1 <= args.seconds <= 30:
        ap.error("--rounds 1..10, --seconds 1..30")

    trials: list[dict[str, Any]] = []
    with netns.ForwardTopology(queues=4, tag="poll") as topo:
        for e in (topo.a, topo.b):
            netns.set_ethtool_features(e.ns, e.ifname, {"tx-checksumming": False})
        # Each queue of each Port lends its fill ring min(ring_size, frames / (2 * channels)) frames:
        # a pair on one UMEM lends every frame when ring_size >= frames / 8, and then GSO has none.
        kw: dict[str, Any] = {
            "netns": topo.m.name,
            "channels": 4,
            "pin": True,
            "ring_size": 2048,
            "frames": 32768,
        }
        with (
            xdpkt.Port(ifname=topo.m_a.ifname, **kw) as pa,
            xdpkt.Port(ifname=topo.m_b.ifname, share_umem=pa, **kw) as pb,
        ):
            pa.forward_to(pb)
            print(
                f"Ports: {pa.channels} channels each, {pa.mode} mode, workers on CPUs {pa.cpus}",
                flush=True,
            )
            time.sleep(0.3)
            for rnd in range(args.rounds):
                for polled in (False, True) if rnd % 2 == 0 else (True, False):
                    trial: dict[str, Any] = {"round": rnd, "poller": polled}
                    if polled:
                        with Poller([pa, pb][: args.ports]) as poller:
                            trial["gbps"] = iperf(topo, args.seconds, args.streams)
                        trial["reads"] = poller.reads
                        trial["poll_hz"] = poller.reads / poller.elapsed
                        trial["poller_cpu_share"] = poller.cpu / poller.elapsed
                        trial["read_us_median"] = statistics.median(poller.read_times) * 1e6
                    else:
                        trial["gbps"] = iperf(topo, args.seconds, args.streams)
                    trials.append(trial)
                    extra = (
                        f"  poller {trial['poll_hz']:.0f} Hz, {trial['poller_cpu_share']:.1%} of a CPU, "
                        f"ethtool.stats(port) median {trial['read_us_median']:.1f} us"
                        if polled
                        else ""
                    )
                    print(
                        f"round {rnd} poller={'on ' if polled else 'off'} {trial['gbps']:.3f} Gbit/s{extra}"
                    )
            pa.stop()
            places = pa.places()
            sa, sb = pa.stats(), pb.stats()
    without = statistics.median(t["gbps"] for t in trials if not t["poller"])
    with_ = statistics.median(t["gbps"] for t in trials if t["poller"])
    cost = 1 - with_ / without
    drops = sum(
        s[k] for s in (sa, sb) for k in ("tx_mtu_drops", "tx_pool_drops", "tx_errors", "xsk_rx_dropped")
    )
    summary = {
        "ports_polled": args.ports,
        "median_gbps_without": without,
        "median_gbps_with": with_,
        "cost": cost,
        "read_us_median": statistics.median(t["read_us_median"] for t in trials if t["poller"]),
        "poll_hz_median": statistics.median(t["poll_hz"] for t in trials if t["poller"]),
        "drops": drops,
        "frames_accounted": sum(v for k, v in places.items() if k != "total") == places["total"],
        "trials": trials,
    }
    print(
        f"median without poller {without:.3f} Gbit/s, with {with_:.3f} Gbit/s: cost {cost:+.1%} "
        f"(target < 3%); one read of every counter {summary['read_us_median']:.1f} us under traffic; "
        f"drops {drops}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
