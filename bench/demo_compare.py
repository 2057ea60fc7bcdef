"""TCP through the middle namespace: xdpkt Ports (GRO+GSO) vs DPDK testpmd vs the Linux bridge.

The demo's topology (``xdpkt.netns.ForwardTopology``: A - M - B, veth MTU 1500, the endpoints' checksum
offload off), iperf3 with ``--streams`` parallel TCP connections from A to B for ``--seconds``, the
forwarder in M being, in turn:

- ``xdpkt``: two Ports sharing one UMEM joined by ``forward_to`` (GRO on receive, GSO on transmit), one
  channel (``xdpkt-2ch``: two channels, two workers);
- ``testpmd``: DPDK 22.11 ``dpdk-testpmd`` over two ``net_af_xdp`` vdevs on the same veths, ``csum``
  forwarding with ``set port N gro on``, ``set port N gso on``, ``set gso segsz 1514`` and
  ``--eth-peer`` for both ports, one forwarding lcore (it spins);
- ``bridge``: a Linux bridge in M (kernel GRO on its ports), the in-kernel reference.

Per run: goodput (iperf3 receiver), forwarder CPU seconds (xdpkt: its worker threads; testpmd: the
process), whole-machine busy CPU seconds; per side the median of ``--runs`` runs, sides interleaved
round by round. Prints a table with ratios against testpmd and writes JSON (``--json FILE``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import xdpkt
from _net import iperf
from xdpkt import netns
from xdpkt._cpu import machine_busy, process_cpu, threads_cpu


def run_xdpkt(topo: netns.ForwardTopology, args: argparse.Namespace, channels: int) -> dict[str, Any]:
    kw: dict[str, Any] = {"netns": topo.m.name, "channels": channels, "ring_size": 4096, "frames": 32768}
    with (
        xdpkt.Port(ifname=topo.m_a.ifname, **kw) as pa,
        xdpkt.Port(ifname=topo.m_b.ifname, share_umem=pa, **kw) as pb,
    ):
        pa.forward_to(pb)
        time.sleep(0.2)
        c0, m0 = threads_cpu("xdpkt-fwd"), machine_busy()
        gbps = iperf(topo, args.seconds, args.streams)
        cpu, mach = threads_cpu("xdpkt-fwd") - c0, machine_busy() - m0
        pa.stop()
        sa, sb = pa.stats(), pb.stats()
    keys = ("tx_mtu_drops", "tx_pool_drops", "tx_errors", "xsk_rx_dropped", "xsk_rx_ring_full")
    drops = sum(s[k] for s in (sa, sb) for k in keys)
    return {
        "gbps": gbps,
        "fwd_cpu_s": cpu,
        "machine_cpu_s": mach,
        "gro_pkts_per_agg": (sa["rx_gro_merged"] + sa["rx_gro_aggregates"]) / max(1, sa["rx_gro_aggregates"]),
        "gso_segs_per_sf": sb["tx_gso_segments"] / max(1, sb["tx_gso_superframes"]),
        "drops": drops,
    }


def run_testpmd(topo: netns.ForwardTopology, args: argparse.Namespace) -> dict[str, Any]:
    # One forwarding lcore on CPU 1, the main lcore (the command line) on CPU 0. One queue: DPDK 22.11's
    # af_xdp PMD takes only "combined" channels (ETHTOOL_GCHANNELS), and veth has separate RX/TX ones,
    # so queue_count=2 fails to probe ("larger than combined queue count 1").
    queues = 1
    lcores = ["-l", "0,1"]
    vdev = f",queue_count={queues},busy_budget={args.tp_busy_budget}"
    argv = [
        "ip", "netns", "exec", topo.m.name, "dpdk-testpmd", *lcores, "--no-huge", "-m", "1024",
        "--no-pci", "--file-prefix", f"xdpkt{os.getpid()}",
        "--vdev", f"net_af_xdp0,iface={topo.m_a.ifname}{vdev}",
        "--vdev", f"net_af_xdp1,iface={topo.m_b.ifname}{vdev}",
        "--", "-i", f"--eth-peer=0,{topo.a.mac_str}", f"--eth-peer=1,{topo.b.mac_str}",
        "--forward-mode=csum", f"--rxq={queues}", f"--txq={queues}", f"--nb-cores={queues}",
    ]  # fmt: skip
    setup = [
        "set port 0 gro on",
        "set port 1 gro on",
        "set port 0 gso on",
        "set port 1 gso on",
        "set gso segsz 1514",
        "start",
    ]
    p = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert p.stdin is not None
    try:
        p.stdin.write("\n".join(setup) + "\n")
        p.stdin.flush()
        time.sleep(2.5)
        if p.poll() is not None:
            raise RuntimeError(f"testpmd exited: {p.communicate()[0][-1500:]}")
        c0, m0 = process_cpu(p.pid), machine_busy()
        gbps = iperf(topo, args.seconds, args.streams)
        cpu, mach = process_cpu(p.pid) - c0, machine_busy() - m0
        p.stdin.write("stop\nquit\n")
        p.stdin.flush()
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    dropped = sum(int(x) for x in _grab(out, "RX-dropped:"))
    return {"gbps": gbps, "fwd_cpu_s": cpu, "machine_cpu_s": mach, "drops": dropped}


def _grab(text: str, key: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if "Accumulated" in line:
            break
        if key in line:
            out.append(line.split(key, 1)[1].split()[0])
    return out


def run_bridge(topo: netns.ForwardTopology, args: argparse.Namespace) -> dict[str, Any]:
    m = topo.m
    m.exec("ip", "link", "add", "xdpktbr0", "type", "bridge")
    try:
        for e in (topo.m_a, topo.m_b):
            m.exec("ip", "link", "set", e.ifname, "master", "xdpktbr0")
        m.exec("ip", "link", "set", "xdpktbr0", "up")
        time.sleep(0.3)
        m0 = machine_busy()
        gbps = iperf(topo, args.seconds, args.streams)
        mach = machine_busy() - m0
    finally:
        m.exec("ip", "link", "del", "xdpktbr0", check=False)
    return {"gbps": gbps, "fwd_cpu_s": None, "machine_cpu_s": mach, "drops": 0}


SIDES = ("xdpkt", "xdpkt-2ch", "testpmd", "bridge")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument(
        "--tp-busy-budget",
        type=int,
        default=64,
        help="net_af_xdp busy_budget (its default 64 = preferred busy polling; 0 turns it off)",
    )
    args = ap.parse_args()
    sides = [s for s in args.sides.split(",") if s]
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    for rnd in range(args.runs):
        order = sides[rnd % len(sides) :] + sides[: rnd % len(sides)]
        for side in order:
            # A fresh topology per run: no state (neighbour caches, XDP peers' settings) carries over.
            with netns.ForwardTopology(queues=2 if side.endswith("-2ch") else 1, tag="bench") as topo:
                for e in (topo.a, topo.b):
                    netns.set_ethtool_features(e.ns, e.ifname, {"tx-checksumming": False})
                if side == "xdpkt":
                    r = run_xdpkt(topo, args, 1)
                elif side == "xdpkt-2ch":
                    r = run_xdpkt(topo, args, 2)
                elif side == "testpmd":
                    r = run_testpmd(topo, args)
                else:
                    r = run_bridge(topo, args)
            gbit = r["gbps"] * args.seconds
            r["fwd_cpu_s_per_gbit"] = r["fwd_cpu_s"] / gbit if r["fwd_cpu_s"] is not None and gbit else None
            r["machine_cpu_s_per_gbit"] = r["machine_cpu_s"] / gbit if gbit else None
            results[side].append(r)
            shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
            print(f"round {rnd + 1} {side:10s} {json.dumps(shown)}", file=sys.stderr)

    def med(side: str, key: str) -> float | None:
        vals = [r[key] for r in results[side] if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    print(f"\nTCP A->B through M, {args.streams} streams, {args.seconds:g} s, median of {args.runs} runs")
    cols = (
        "side",
        "Gbit/s",
        "fwd CPU s/Gbit",
        "machine CPU s/Gbit",
        "vs testpmd goodput",
        "vs testpmd CPU/Gbit",
    )
    print("  ".join(cols))
    tp_g, tp_c = (
        (med("testpmd", "gbps"), med("testpmd", "fwd_cpu_s_per_gbit")) if "testpmd" in sides else (None, None)
    )
    summary: dict[str, Any] = {}
    for s in sides:
        g, c, m = med(s, "gbps"), med(s, "fwd_cpu_s_per_gbit"), med(s, "machine_cpu_s_per_gbit")
        rg = g / tp_g if g and tp_g else None
        rc = c / tp_c if c and tp_c else None
        summary[s] = {
            "gbps": g,
            "fwd_cpu_s_per_gbit": c,
            "machine_cpu_s_per_gbit": m,
            "goodput_vs_testpmd": rg,
            "cpu_per_gbit_vs_testpmd": rc,
        }

        def f(v: float | None, spec: str) -> str:
            return "-" if v is None else format(v, spec)

        print(f"{s:10s} {f(g, '8.2f')} {f(c, '15.3f')} {f(m, '19.3f')} {f(rg, '18.2f')}x {f(rc, '19.2f')}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "runs": results, "median": summary}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
