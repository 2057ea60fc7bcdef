"""``xdpkt gso`` and ``xdpkt gro``: the offloads over whole capture files."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from xdpkt._types import JobSummary
from xdpkt._xdpkt import gro_file, gso_file
from xdpkt.commands._progress import ProgressBar


def _int_range(lo: int, hi: int) -> Any:
    def parse(text: str) -> int:
        try:
            v = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}, got {v}")
        return v

    return parse


def format_summary(tool: str, s: JobSummary, seconds: float) -> str:
    """One summary line, then the pass-through counts by reason (if any)."""
    if tool == "gso":
        work = f"{s['aggregates']} super-frames cut into {s['segments']} segments"
    else:
        work = f"{s['aggregates']} aggregates from {s['segments']} segments"
    unchanged = sum(s["passthrough"].values())
    line = (
        f"xdpkt {tool}: frames in {s['frames_in']}, out {s['frames_out']}, flows {s['flows']}, "
        f"{work}, passed through {unchanged}, errors {s['errors']} ({seconds:.2f} s)"
    )
    if s["passthrough"]:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(s["passthrough"].items(), key=lambda kv: -kv[1]))
        line += f"\n  passed through unchanged: {reasons}"
    return line


def _bad_record(cmd: str, args: argparse.Namespace, s: JobSummary) -> int:
    """A bad record ended the input early: say where, and fail unless --skip-bad."""
    bad = s["bad_record"]
    if bad is None:
        return 0
    kind = "warning" if args.skip_bad else "error"
    print(
        f"xdpkt {cmd}: {kind}: {args.input}: {bad['message']} (record at byte {bad['offset']}); "
        f"every complete record before it was processed and written to {args.output}",
        file=sys.stderr,
    )
    return 0 if args.skip_bad else 1


def _run_gso(args: argparse.Namespace) -> int:
    bar = ProgressBar("gso")
    t0 = time.monotonic()
    try:
        s = gso_file(args.input, args.output, args.mss, args.fixed_id, bar)
    finally:
        bar.close()
    print(format_summary("gso", s, time.monotonic() - t0))
    return _bad_record("gso", args, s)


def _run_gro(args: argparse.Namespace) -> int:
    bar = ProgressBar("gro")
    t0 = time.monotonic()
    try:
        s = gro_file(args.input, args.output, args.max_size, args.udp, args.flush_usecs, args.max_flows, bar)
    finally:
        bar.close()
    print(format_summary("gro", s, time.monotonic() - t0))
    return _bad_record("gro", args, s)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "gso",
        help="segment a capture's super-frames (TSO/USO) into wire-size frames",
        description=(
            "Cut every TCP/UDP super-frame of IN (pcap or pcapng, Ethernet) into segments of at most "
            "MSS payload bytes, with kernel GSO semantics and full checksums; write OUT (pcap). "
            "Frames that fit one segment, and frames GSO refuses, are written unchanged and counted."
        ),
    )
    p.add_argument("--mss", type=_int_range(1, 65535), required=True, help="L4 payload bytes per segment")
    p.add_argument("--fixed-id", action="store_true", help="keep the first IPv4 ID on every segment")
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="exit 0 when the input ends in a bad record (it is reported either way)",
    )
    p.add_argument("input", metavar="IN", help="input capture (pcap or pcapng)")
    p.add_argument("output", metavar="OUT", help="output capture (pcap)")
    p.set_defaults(func=_run_gso)

    p = sub.add_parser(
        "gro",
        help="coalesce a capture with GRO (kernel rules)",
        description=(
            "Coalesce IN (pcap or pcapng, Ethernet) in polls of 64 frames, as the kernel's GRO would, "
            "and write OUT (pcap). An aggregate takes its first segment's timestamp. Frames that do not "
            "merge pass through unchanged and are counted by reason."
        ),
    )
    p.add_argument("--max-size", type=_int_range(1, 65535), default=65535, help="largest aggregate IP length")
    p.add_argument("--udp", action="store_true", help="also coalesce UDP (rx-udp-gro-forwarding)")
    p.add_argument(
        "--flush-usecs",
        type=_int_range(1, 3_600_000_000),
        default=None,
        help="hold aggregates across polls until this old in capture time (default: flush every poll)",
    )
    p.add_argument("--max-flows", type=_int_range(1, 4096), default=64, help="flows held at once (1..4096)")
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="exit 0 when the input ends in a bad record (it is reported either way)",
    )
    p.add_argument("input", metavar="IN", help="input capture (pcap or pcapng)")
    p.add_argument("output", metavar="OUT", help="output capture (pcap)")
    p.set_defaults(func=_run_gro)
