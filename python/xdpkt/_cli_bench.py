"""``xdpkt bench rxdrop|txonly|l2fwd|port IFACE [--peer IFACE2]``: the xdpsock modes, run by the Rust core.

``port`` forwards IFACE -> IFACE2 through two ``xdpkt.Port``s on one UMEM (GRO on receive, GSO on
transmit unless ``--no-gro`` / ``--no-gso``): the Port's datapath with its offloads, for comparison with
the plain ``l2fwd --peer``. Workers inherit this process's CPU affinity (no pinning of their own).

``l2fwd`` forwards what IFACE receives back out of IFACE with MACs swapped (xdpsock
style); with ``--peer`` it forwards between two ports (IFACE -> IFACE2 and back)
through one shared UMEM, frames moving between the sockets without a copy.

Prints packets/s (or one JSON object with ``--json``). Traffic is only what the
interface already carries (rxdrop, l2fwd) or what this command sends on it (txonly):
use it on a veth pair between test namespaces or on a NIC you own.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from xdpkt._xdpkt import bench

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "bench",
        help="AF_XDP rxdrop/txonly/l2fwd loops (packets/s)",
        description="AF_XDP benchmark loops like the kernel's xdpsock, in Rust. Wakeup/poll driven.",
    )
    p.add_argument("mode", choices=["rxdrop", "txonly", "l2fwd", "port"])
    p.add_argument("iface", help="interface name")
    p.add_argument("--queue", type=int, default=0, help="queue index (default 0)")
    p.add_argument("--seconds", type=float, default=5.0, help="run time (default 5)")
    p.add_argument("--size", type=int, default=64, help="txonly frame size in bytes (default 64)")
    p.add_argument("--batch", type=int, default=64, help="packets per ring operation (default 64)")
    p.add_argument(
        "--xdp-mode", default="auto", choices=["auto", "zerocopy", "copy", "skb"], help="AF_XDP mode"
    )
    p.add_argument(
        "--peer",
        default=None,
        metavar="IFACE2",
        help="l2fwd between two ports: what IFACE receives leaves on IFACE2 and back,"
        " through one shared UMEM (no copy); default: forward back out of IFACE",
    )
    p.add_argument("--peer-queue", type=int, default=0, help="queue on IFACE2 (default 0)")
    p.add_argument("--netns", default=None, help="run inside this network namespace")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-gro", action="store_true", help="port: GRO off")
    p.add_argument("--no-gso", action="store_true", help="port: GSO off")
    p.set_defaults(func=run)


def _run_port(args: argparse.Namespace) -> dict[str, Any]:
    import time

    from xdpkt.port import Port

    if args.peer is None:
        raise SystemExit("xdpkt bench port: --peer IFACE2 is required (it forwards IFACE -> IFACE2)")
    kw: dict[str, Any] = {
        "netns": args.netns,
        "channels": 1,
        "gro": not args.no_gro,
        "gso": not args.no_gso,
        "budget": args.batch,
        "mode": args.xdp_mode,
        "pin": False,
    }
    with Port(ifname=args.iface, **kw) as a, Port(ifname=args.peer, share_umem=a, **kw) as b:
        a.forward_to(b, both_ways=False)
        t0 = time.monotonic()
        s0 = b.stats()["tx_packets"]
        time.sleep(args.seconds)
        n = b.stats()["tx_packets"] - s0
        dt = time.monotonic() - t0
        a.stop()
        sa, sb = a.stats(), b.stats()
    return {
        "mode": "port",
        "packets": n,
        "seconds": dt,
        "mpps": n / dt / 1e6,
        "gro_aggregates": sa["rx_gro_aggregates"],
        "gro_passthrough": sa["rx_gro_passthrough"],
        "rx_packets": sa["rx_packets"],
        "tx_packets": sb["tx_packets"],
    }


def run(args: argparse.Namespace) -> int:
    if not 0 < args.seconds <= 3600:
        raise SystemExit("xdpkt bench: --seconds must be in (0, 3600]")
    if args.peer is not None and args.mode not in ("l2fwd", "port"):
        raise SystemExit("xdpkt bench: --peer is only used by l2fwd and port")
    try:
        if args.mode == "port":
            r = _run_port(args)
            if args.json:
                print(json.dumps(r))
            else:
                print(f"port {args.iface} -> {args.peer}: {r['packets']} packets = {r['mpps']:.3f} Mpps")
            return 0
        r = bench(
            args.mode,
            args.iface,
            queue=args.queue,
            seconds=args.seconds,
            size=args.size,
            batch=args.batch,
            xdp_mode=args.xdp_mode,
            netns=args.netns,
            peer=args.peer,
            peer_queue=args.peer_queue,
        )
    except ValueError as e:  # unknown interface/queue, bad size: a one-line message, no traceback
        print(f"xdpkt bench: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r))
    else:
        where = f"{args.iface} q{args.queue}"
        if args.peer is not None:
            where += f" <-> {args.peer} q{args.peer_queue}"
        print(
            f"{r['mode']} {where}: {r['packets']} packets in {r['seconds']:.2f} s"
            f" = {r['mpps']:.3f} Mpps ({r['packets'] / max(r['seconds'], 1e-9):,.0f} pps)"
        )
    return 0
