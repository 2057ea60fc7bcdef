"""``xdpkt conformance``: our GRO/GSO against the running kernel, on a private veth pair (needs root)."""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from collections.abc import Sequence
from typing import Any

from xdpkt import _conformance_cases as cases
from xdpkt import _oracle, gro, gso
from xdpkt._xdpkt import PacketError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "conformance",
        help="compare xdpkt's GRO/GSO with the running Linux kernel (root; private veth pair)",
        description=(
            "Send every conformance case through the kernel on a veth pair between two network namespaces "
            "created for the run (removed afterwards) and compare the kernel's GRO/GSO output with "
            "xdpkt.gro.coalesce / xdpkt.gso.segment. Exit status 0 when every case matches."
        ),
    )
    p.add_argument("--only", choices=("gro", "gso"), help="run only the GRO or only the GSO cases")
    p.add_argument("-k", "--select", metavar="GLOB", help="run only cases whose name matches GLOB")
    p.add_argument("--tries", type=int, default=3, help="kernel runs per GRO case before a mismatch counts")
    p.add_argument("--seed", type=int, help="seed of the random GRO and GSO cases (default: the fixed ones)")
    p.add_argument("--random", type=int, metavar="N", help="number of random GRO and of random GSO cases")
    p.add_argument("-v", "--verbose", action="store_true", help="print every case, not only failures")
    p.add_argument("--list", action="store_true", help="list the cases and exit (no privileges needed)")
    p.set_defaults(func=run)


def _coalesce(frames: list[bytes], max_size: int, udp: bool, max_flows: int) -> Sequence[Any]:
    return gro.coalesce(frames, max_size=max_size, udp=udp, max_flows=max_flows)


def _segment(frame: bytes, mss: int) -> Sequence[bytes]:
    return gso.segment(frame, mss)


def run(args: argparse.Namespace) -> int:
    if args.tries < 1:
        print("xdpkt conformance: --tries must be at least 1", file=sys.stderr)
        return 2
    vlan_gro = cases.has_vlan_gro()
    if args.random is not None and not 0 <= args.random <= 10000:
        print("xdpkt conformance: --random must be within 0..10000", file=sys.stderr)
        return 2
    gro_kw: dict[str, int] = {}
    gso_kw: dict[str, int] = {}
    if args.seed is not None:
        gro_kw["seed"] = gso_kw["seed"] = args.seed
    if args.random is not None:
        gro_kw["random_count"] = gso_kw["random_count"] = args.random
    gro_list = [] if args.only == "gso" else cases.gro_cases(random_vlan=vlan_gro, **gro_kw)
    gso_list = [] if args.only == "gro" else cases.gso_cases(**gso_kw)
    if args.select:
        gro_list = [c for c in gro_list if fnmatch.fnmatch(c.name, args.select)]
        gso_list = [c for c in gso_list if fnmatch.fnmatch(c.name, args.select)]
    if args.list:
        for c in gro_list:
            print(f"gro {c.name}")
        for g in gso_list:
            print(f"gso {g.name}")
        return 0
    passed = failed = skipped = retried = 0
    start = time.monotonic()
    with _oracle.open_oracle() as oracle:
        for c in gro_list:
            if c.needs_vlan_gro and not vlan_gro:
                skipped += 1
                if args.verbose:
                    print(f"SKIP gro {c.name}: kernel has no vlan_gro_receive (CONFIG_VLAN_8021Q off)")
                continue
            verdict = _oracle.compare_gro(oracle, c, _coalesce, tries=args.tries)
            retried += verdict.ok and verdict.kernel_runs > 1
            passed, failed = _report("gro", verdict, passed, failed, args.verbose)
        for g in gso_list:
            verdict = _oracle.compare_gso(oracle, g, _segment, PacketError, tries=args.tries)
            passed, failed = _report("gso", verdict, passed, failed, args.verbose)
    took = time.monotonic() - start
    print(f"conformance: {passed} passed, {failed} failed, {skipped} skipped in {took:.1f} s")
    if retried:
        print(f"({retried} GRO cases matched only on a later kernel run: the burst was split across polls)")
    return 0 if failed == 0 else 1


def _report(kind: str, verdict: _oracle.Verdict, passed: int, failed: int, verbose: bool) -> tuple[int, int]:
    if verdict.ok:
        if verbose:
            print(f"PASS {kind} {verdict.name}")
        return passed + 1, failed
    print(f"FAIL {kind} {verdict.name}")
    for line in verdict.detail.splitlines():
        print(f"    {line}")
    return passed, failed + 1
