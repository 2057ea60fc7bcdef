"""``xdpkt demo``: the whole datapath carrying real TCP, on private namespaces (needs root).

::

    ns A: TCP client --veth--> ns M: Port a-side -GRO-> forward -GSO-> Port b-side --veth--> ns B: server
                            <-- ACKs, the same way back (pure ACKs are not merged) <--

Three namespaces and two veth pairs are created for the run and removed afterwards (also on error and
Ctrl-C). Each TCP stream's bytes are hashed (SHA-256) by the sender and the receiver: one corrupted,
lost or reordered byte fails the demo. ``--compare`` runs the same traffic through a Linux bridge.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xdpkt import netns
from xdpkt._cpu import machine_busy, threads_cpu
from xdpkt.port import Port

_DROP_KEYS = (
    "tx_mtu_drops",
    "tx_pool_drops",
    "tx_errors",
    "rx_no_route",
    "xsk_rx_dropped",
    "xsk_rx_invalid_descs",
    "xsk_rx_ring_full",
    "xsk_tx_invalid_descs",
    "xsk_rx_bad_descs",
    "xsk_completion_bad_descs",
)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="carry real TCP through two xdpkt Ports (GRO+GSO) between private namespaces (root)",
        description=(
            "Create namespaces A, M and B joined by veth pairs (MTU 1500), attach xdpkt Ports to both "
            "ends in M and forward between them (GRO on receive, GSO on transmit), then stream TCP from "
            "a kernel client in A to a kernel server in B and check a SHA-256 of every stream. "
            "Everything is removed afterwards."
        ),
    )
    p.add_argument("--seconds", type=float, default=10.0, help="how long the streams run (default 10)")
    p.add_argument("--streams", type=int, default=4, help="parallel TCP connections (default 4)")
    p.add_argument("--udp-pps", type=int, default=1000, help="rate of the UDP flow, datagrams/s (0: none)")
    p.add_argument("--channels", type=int, default=None, help="queues per veth and Port (default: cores)")
    p.add_argument("--no-gro", action="store_true", help="Ports without GRO (every frame forwarded alone)")
    p.add_argument("--budget", type=int, default=64, help="NAPI budget per poll (default 64)")
    p.add_argument("--rx-usecs", type=int, default=0, help="GRO hold once the ring ran dry (default 0)")
    p.add_argument("--compare", action="store_true", help="also run the traffic through a Linux bridge")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--plot", metavar="FILE.png", help="draw throughput over time (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no live line")
    # Test hook: corrupt one payload byte of an aggregate on the way; the demo must then fail.
    p.add_argument("--inject-fault", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


@dataclass
class Sample:
    t: float
    ab_gbps: float
    ba_gbps: float
    pps: float


@dataclass
class RunResult:
    name: str
    seconds: float
    ok: bool
    problems: list[str] = field(default_factory=list)
    streams: dict[str, Any] = field(default_factory=dict)
    udp: dict[str, int] = field(default_factory=dict)
    goodput_gbps: float = 0.0
    wire_pps: float = 0.0
    gro_pkts_per_aggregate: float | None = None
    gso_segs_per_superframe: float | None = None
    drops: int = 0
    forwarder_cpu_s: float | None = None
    forwarder_cpu_s_per_gbit: float | None = None
    machine_cpu_s_per_gbit: float = 0.0
    ports: dict[str, dict[str, int]] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["samples"] = [s.__dict__ for s in self.samples]
        return d


def _peer(
    ns: netns.Namespace, role: str, addr: str, args: argparse.Namespace, port: int
) -> subprocess.Popen[str]:
    argv = [
        "ip", "netns", "exec", ns.name, sys.executable, "-m", "xdpkt._demo_peer", role,
        "--addr", addr, "--port", str(port), "--streams", str(args.streams),
        "--seconds", str(args.seconds), "--udp-pps", str(args.udp_pps),
        "--timeout", str(args.seconds + 60),
    ]  # fmt: skip
    env = dict(os.environ)
    # The peer imports xdpkt from wherever this process found it.
    pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = pkg_root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _traffic(
    topo: netns.ForwardTopology,
    args: argparse.Namespace,
    name: str,
    sample: Callable[[], tuple[int, int, int]],
    live: bool,
    during: Callable[[float], None] | None = None,
) -> RunResult:
    """Runs the streams A -> B while sampling (bytes A->B, bytes B->A, packets) once a second."""
    res = RunResult(name=name, seconds=args.seconds, ok=True)
    port = 5201
    server = _peer(topo.b.ns, "server", topo.b.ipv4, args, port)
    client: subprocess.Popen[str] | None = None
    try:
        # The server says "ready" on stderr once it listens.
        assert server.stderr is not None
        line = server.stderr.readline()
        if "ready" not in line:
            raise RuntimeError(f"demo server did not start: {line.strip()} {server.stderr.read()[-500:]}")
        cpu0 = machine_busy()
        t0 = time.monotonic()
        client = _peer(topo.a.ns, "client", topo.b.ipv4, args, port)
        prev = sample()
        prev_t = t0
        first = prev
        # Three faults (at 30, 50 and 70 % of the run): one might hit a retransmission TCP discards.
        faults = [t0 + args.seconds * f for f in (0.3, 0.5, 0.7)] if during is not None else []
        end = t0 + args.seconds + 60
        while client.poll() is None and time.monotonic() < end:
            time.sleep(min(1.0, max(0.05, args.seconds / 20)))
            now = time.monotonic()
            cur = sample()
            dt = max(now - prev_t, 1e-6)
            s = Sample(
                t=now - t0,
                ab_gbps=(cur[0] - prev[0]) * 8 / dt / 1e9,
                ba_gbps=(cur[1] - prev[1]) * 8 / dt / 1e9,
                pps=(cur[2] - prev[2]) / dt,
            )
            res.samples.append(s)
            while during is not None and faults and now >= faults[0]:
                faults.pop(0)
                during(now - t0)
            if live:
                extra = _live_extra()
                # On a terminal one line rewritten in place; in a log one line per sample.
                tty = sys.stderr.isatty()
                print(
                    f"{chr(13) if tty else ''}  {name}: {s.t:5.1f}s  A->B {s.ab_gbps:6.2f} Gbit/s  "
                    f"B->A {s.ba_gbps:6.3f} Gbit/s  {s.pps / 1e3:8.1f} kpps{extra}   ",
                    end="" if tty else "\n",
                    file=sys.stderr,
                    flush=True,
                )
            prev, prev_t = cur, now
        if live and sys.stderr.isatty():
            print(file=sys.stderr)
        if client.poll() is None:
            client.kill()
            res.problems.append("the client did not finish in time")
        cout, cerr = client.communicate(timeout=30)
        elapsed = time.monotonic() - t0
        sout, serr = server.communicate(timeout=args.seconds + 90)
        cpu = machine_busy() - cpu0
        last = sample()
        try:
            c = json.loads(cout)
            srv = json.loads(sout)
        except json.JSONDecodeError:
            res.problems.append(f"a peer failed: client: {cerr.strip()[-300:]} server: {serr.strip()[-300:]}")
            res.ok = False
            return res
        res.problems.extend(c.get("errors", []))
        total = 0
        for sid, sent in c["streams"].items():
            got = srv["streams"].get(sid)
            entry = {
                "sent_bytes": sent["bytes"],
                "received_bytes": got["bytes"] if got else 0,
                "sha256_sent": sent["sha256"],
                "sha256_received": got["sha256"] if got else None,
            }
            entry["ok"] = bool(got) and got["bytes"] == sent["bytes"] and got["sha256"] == sent["sha256"]
            if not entry["ok"]:
                res.problems.append(
                    f"stream {sid}: sent {sent['bytes']} bytes sha256 {sent['sha256'][:16]}..., received "
                    f"{entry['received_bytes']} bytes sha256 {str(entry['sha256_received'])[:16]}..."
                )
            res.streams[sid] = entry
            total += sent["bytes"]
        if len(c["streams"]) != args.streams:
            res.problems.append(f"only {len(c['streams'])} of {args.streams} streams completed")
        res.udp = {"sent": c["udp"]["sent"], **srv["udp"]}
        res.goodput_gbps = total * 8 / elapsed / 1e9
        res.wire_pps = (last[2] - first[2]) / elapsed
        gbit = total * 8 / 1e9
        res.machine_cpu_s_per_gbit = cpu / gbit if gbit else 0.0
        res.ok = not res.problems and total > 0
        return res
    finally:
        for p in (client, server):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(5)


_live_state: dict[str, Callable[[], str]] = {}


def _live_extra() -> str:
    f = _live_state.get("extra")
    return f() if f else ""


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _run_ports(topo: netns.ForwardTopology, args: argparse.Namespace, channels: int) -> RunResult:
    common: dict[str, Any] = {
        "netns": topo.m.name,
        "channels": channels,
        "gro": not args.no_gro,
        "gso": True,
        "budget": args.budget,
        "rx_usecs": args.rx_usecs,
        # Room for a few ms of traffic while the forwarder shares the CPUs with both TCP stacks.
        "ring_size": 4096,
        "frames": 32768,
    }
    with (
        Port(ifname=topo.m_a.ifname, name="a-side", **common) as pa,
        Port(ifname=topo.m_b.ifname, share_umem=pa, name="b-side", **common) as pb,
    ):
        pa.forward_to(pb)
        notes = [f"Ports in {pa.mode} mode, {pa.channels} channel(s) each, workers on CPUs {pa.cpus}"]

        def sample() -> tuple[int, int, int]:
            sa, sb = pa.stats(), pb.stats()
            return sb["tx_bytes"], sa["tx_bytes"], sa["rx_packets"] + sb["rx_packets"]

        def extra() -> str:
            sa, sb = pa.stats(), pb.stats()
            gro = _ratio(sa["rx_gro_merged"] + sa["rx_gro_aggregates"], sa["rx_gro_aggregates"])
            gso = _ratio(sb["tx_gso_segments"], sb["tx_gso_superframes"])
            drops = sum(sa[k] + sb[k] for k in _DROP_KEYS)
            g = f"{gro:5.1f}" if gro else "    -"
            s = f"{gso:5.1f}" if gso else "    -"
            return f"  GRO {g} pkts/agg  GSO {s} segs/sf  drops {drops}"

        _live_state["extra"] = extra
        fault = None
        if args.inject_fault:

            def fault(_t: float) -> None:
                pa.inject_fault()

        cpu0 = threads_cpu("xdpkt-fwd")
        try:
            res = _traffic(topo, args, "xdpkt", sample, not args.quiet and not args.json, fault)
        finally:
            _live_state.clear()
        cpu = threads_cpu("xdpkt-fwd") - cpu0
        failed = pa.worker_failed()
        pa.stop()
        sa, sb = pa.ethtool_stats(), pb.ethtool_stats()
        res.ports = {"a-side": sa, "b-side": sb}
        res.notes = notes
        res.drops = sum(sa[k] + sb[k] for k in _DROP_KEYS)
        if failed:
            res.problems.append("a forwarding worker stopped with an error")
        if res.drops:
            sides = (("a-side", sa), ("b-side", sb))
            which = ", ".join(f"{side} {k}={st[k]}" for side, st in sides for k in _DROP_KEYS if st[k])
            res.problems.append(f"{res.drops} frames dropped by the Ports: {which}")
        res.gro_pkts_per_aggregate = _ratio(
            sa["rx_gro_merged"] + sa["rx_gro_aggregates"], sa["rx_gro_aggregates"]
        )
        res.gso_segs_per_superframe = _ratio(sb["tx_gso_segments"], sb["tx_gso_superframes"])
        res.forwarder_cpu_s = cpu
        gbit = res.goodput_gbps * args.seconds
        res.forwarder_cpu_s_per_gbit = cpu / gbit if gbit else None
        places = pa.places()
        if sum(v for k, v in places.items() if k != "total") != places["total"]:
            res.problems.append(f"UMEM accounting broken after the run: {places}")
        res.ok = not res.problems and res.ok
        return res


def _run_bridge(topo: netns.ForwardTopology, args: argparse.Namespace) -> RunResult:
    m = topo.m
    br = "xdpktbr0"
    m.exec("ip", "link", "add", br, "type", "bridge")
    try:
        for e in (topo.m_a, topo.m_b):
            m.exec("ip", "link", "set", e.ifname, "master", br)
        m.exec("ip", "link", "set", br, "up")
        # Learning and forwarding start once the ports leave the listening state (no STP: at once).
        time.sleep(0.2)

        def sample() -> tuple[int, int, int]:
            def rd(e: netns.Endpoint, attr: str) -> int:
                return int(netns.read_sysfs(m, e.ifname, f"statistics/{attr}"))

            return (
                rd(topo.m_b, "tx_bytes"),
                rd(topo.m_a, "tx_bytes"),
                rd(topo.m_a, "rx_packets") + rd(topo.m_b, "rx_packets"),
            )

        res = _traffic(topo, args, "bridge", sample, not args.quiet and not args.json)
        res.notes = ["Linux bridge in M, GRO on its ports (the kernel's default)"]
        return res
    finally:
        m.exec("ip", "link", "del", br, check=False)


def _print_table(rows: list[RunResult]) -> None:
    def fmt(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    head = ["", *[r.name for r in rows]]
    lines = [
        ("result", [("PASS" if r.ok else "FAIL") for r in rows]),
        ("goodput (Gbit/s)", [fmt(r.goodput_gbps, ".2f") for r in rows]),
        ("packets/s on the wires (k)", [fmt(r.wire_pps / 1e3, ".1f") for r in rows]),
        ("GRO packets per aggregate", [fmt(r.gro_pkts_per_aggregate, ".1f") for r in rows]),
        ("GSO segments per super-frame", [fmt(r.gso_segs_per_superframe, ".1f") for r in rows]),
        ("drops", [str(r.drops) for r in rows]),
        ("forwarder CPU s per Gbit", [fmt(r.forwarder_cpu_s_per_gbit, ".3f") for r in rows]),
        ("machine CPU s per Gbit", [fmt(r.machine_cpu_s_per_gbit, ".3f") for r in rows]),
        (
            "streams with matching SHA-256",
            [f"{sum(s['ok'] for s in r.streams.values())}/{len(r.streams)}" for r in rows],
        ),
        ("UDP sent / received", [f"{r.udp.get('sent', 0)}/{r.udp.get('received', 0)}" for r in rows]),
    ]
    w0 = max(len(k) for k, _ in lines)
    ws = [max(len(h), *(len(v[i]) for _, v in lines)) for i, h in enumerate(head[1:])]
    print(f"{'':<{w0}}  " + "  ".join(f"{h:>{w}}" for h, w in zip(head[1:], ws, strict=True)))
    for k, vals in lines:
        print(f"{k:<{w0}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(vals, ws, strict=True)))
    for r in rows:
        for n in r.notes:
            print(f"note ({r.name}): {n}")
        for p in r.problems:
            print(f"problem ({r.name}): {p}")
    for r in rows:
        if not r.ports:
            continue
        print(f"\n{r.name} Port counters (ethtool -S style, totals; per queue in --json):")
        for side, st in r.ports.items():
            keys = [k for k in st if not k.startswith(("rx_queue_", "tx_queue_", "queue_", "rx_gro_pass_"))]
            print(f"  {side}: " + ", ".join(f"{k}={st[k]}" for k in keys if st[k]))
            passes = {
                k[len("rx_gro_pass_") :]: v for k, v in st.items() if k.startswith("rx_gro_pass_") and v
            }
            if passes:
                print(
                    f"  {side} GRO pass-through by reason: "
                    + ", ".join(f"{k}={v}" for k, v in passes.items())
                )


def _plot(rows: list[RunResult], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'xdpkt[plot]'") from None
    fig, ax = plt.subplots(figsize=(8, 4))
    for r in rows:
        ax.plot([s.t for s in r.samples], [s.ab_gbps for s in r.samples], label=f"{r.name} A->B")
    ax.set_xlabel("seconds")
    ax.set_ylabel("Gbit/s")
    ax.set_title("xdpkt demo: TCP goodput through the middle namespace")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.seconds > 3600:
        print("xdpkt demo: --seconds must be within (0, 3600]", file=sys.stderr)
        return 2
    if not 1 <= args.streams <= 64:
        print("xdpkt demo: --streams must be within 1..64", file=sys.stderr)
        return 2
    if args.udp_pps < 0 or args.udp_pps > 100000:
        print("xdpkt demo: --udp-pps must be within 0..100000", file=sys.stderr)
        return 2
    if args.channels is not None and not 1 <= args.channels <= 16:
        print("xdpkt demo: --channels must be within 1..16", file=sys.stderr)
        return 2
    try:
        netns.require_privileges()
    except PermissionError as e:
        print(f"xdpkt demo: {e}", file=sys.stderr)
        return 1
    channels = args.channels or max(1, len({_core_of(c) for c in os.sched_getaffinity(0)}))

    def log(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr)

    rows: list[RunResult] = []
    with netns.ForwardTopology(queues=channels, tag="demo") as topo:
        names = f"{topo.a.ns.name} (client) - {topo.m.name} (Ports) - {topo.b.ns.name} (server)"
        log(f"xdpkt demo: namespaces {names}")
        # A local TCP stack's frames reach XDP on a veth with the checksum left for "hardware" to finish;
        # a real NIC never delivers such frames, so the endpoints compute their checksums themselves.
        for host in (topo.a, topo.b):
            netns.set_ethtool_features(host.ns, host.ifname, {"tx-checksumming": False})
        log("xdpkt demo: checksum offload off on the endpoint veths (ethtool -K <dev> tx off), as a real NIC")
        load = f"{args.streams} TCP streams + UDP at {args.udp_pps}/s for {args.seconds:g} s"
        log(f"xdpkt demo: {load}, MTU 1500")
        rows.append(_run_ports(topo, args, channels))
        if args.compare:
            rows.append(_run_bridge(topo, args))
    if args.plot:
        _plot(rows, args.plot)
    if args.json:
        json.dump({"ok": all(r.ok for r in rows), "runs": [r.to_json() for r in rows]}, sys.stdout, indent=1)
        print()
    else:
        _print_table(rows)
        print("\nxdpkt demo: " + ("PASS: every byte arrived intact" if rows[0].ok else "FAIL"))
    return 0 if all(r.ok for r in rows) else 1


def _core_of(cpu: int) -> tuple[str, str]:
    base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
    try:
        with open(f"{base}/physical_package_id") as f, open(f"{base}/core_id") as g:
            return f.read().strip(), g.read().strip()
    except OSError:
        return str(cpu), ""
