"""Checks for the AF_XDP benchmark tooling (issue 3, "Speed").

- the summary logic of bench/xsk_report.py (medians, ratios, failed runs), no privileges;
- a short privileged run of bench/run_xsk.sh with the C peers: every mode gives a
  positive rate for the libxdp reference and AF_PACKET, the generator ceiling and the
  default-behaviour run are there, and no namespace is left behind.

Run: pytest bench/test_bench_xsk.py  (the privileged test needs root, gcc, libxdp-dev;
it takes about a minute and a half).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import xsk_report  # noqa: E402  (a script beside this file, not a package)


def run(
    scen: str, mode: str, impl: str, mpps: float | None, gen: float | None = None, rep: int = 1
) -> dict[str, Any]:
    prim = None if mpps is None else {"impl": impl, "mode": mode, "packets": 1, "seconds": 1, "mpps": mpps}
    g = None if gen is None else {"impl": "xdp_gen", "mode": "gen", "mpps": gen}
    return {
        "scenario": scen,
        "mode": mode,
        "impl": impl,
        "rep": rep,
        "primary": prim,
        "secondary": None,
        "generator": g,
    }


def by_impl(summary: list[dict[str, Any]], scen: str, mode: str) -> dict[str, dict[str, Any]]:
    return {s["impl"]: s for s in summary if s["scenario"] == scen and s["mode"] == mode}


def test_medians_and_ratios() -> None:
    rows = [
        run("pinned", "rxdrop", "libxdp", 1.0, 2.0),
        run("pinned", "rxdrop", "libxdp", 3.0, 4.0),
        run("pinned", "rxdrop", "libxdp", 2.0, 3.0),
        run("pinned", "rxdrop", "afpacket", 0.5),
        run("pinned", "rxdrop", "xdpkt", 4.0),
        run("pinned", "rxdrop", "python", 3.0),
        run("pinned", "txonly", "libxdp", 1.0),
    ]
    s = by_impl(xsk_report.summarise(rows), "pinned", "rxdrop")
    assert s["libxdp"]["mpps"] == 2.0
    assert s["libxdp"]["generator_mpps"] == 3.0
    assert s["libxdp"]["vs_libxdp"] == 1.0
    assert s["libxdp"]["vs_afpacket"] == 4.0
    assert s["xdpkt"]["vs_libxdp"] == 2.0
    assert s["xdpkt"]["vs_afpacket"] == 8.0
    assert s["python"]["vs_xdpkt"] == 0.75
    # ratios never cross modes: txonly has no AF_PACKET row
    t = by_impl(xsk_report.summarise(rows), "pinned", "txonly")
    assert t["libxdp"]["vs_afpacket"] is None


def test_paired_ratios_use_runs_of_the_same_rep() -> None:
    # Drift: rep 2 is slow for both sides. Ratio of medians 1.5/2.0 = 0.75; paired 1.2, 1.5, 1.2.
    rows = [
        run("pinned", "l2fwd", "libxdp", 2.0, rep=1),
        run("pinned", "l2fwd", "xdpkt", 2.4, rep=1),
        run("pinned", "l2fwd", "libxdp", 0.5, rep=2),
        run("pinned", "l2fwd", "xdpkt", 0.75, rep=2),
        run("pinned", "l2fwd", "libxdp", 2.5, rep=3),
        run("pinned", "l2fwd", "xdpkt", 1.0 * 3.0, rep=3),
        run("pinned", "l2fwd", "afpacket", None, rep=3),  # a failed run pairs with nothing
    ]
    s = by_impl(xsk_report.summarise(rows), "pinned", "l2fwd")
    assert s["xdpkt"]["paired_vs_libxdp_all"] == [1.2, 1.5, 1.2]
    assert s["xdpkt"]["paired_vs_libxdp"] == 1.2
    assert s["libxdp"]["paired_vs_libxdp"] is None
    assert s["xdpkt"]["paired_vs_afpacket"] is None
    assert "1.20x" in xsk_report.table(xsk_report.summarise(rows))


def test_failed_runs_are_counted_not_invented() -> None:
    rows = [run("pinned", "l2fwd", "libxdp", None), run("pinned", "l2fwd", "libxdp", 0.3)]
    s = by_impl(xsk_report.summarise(rows), "pinned", "l2fwd")["libxdp"]
    assert (s["ok"], s["runs"], s["mpps"]) == (1, 2, 0.3)
    only_failed = by_impl(xsk_report.summarise([run("pinned", "l2fwd", "afpacket", None)]), "pinned", "l2fwd")
    assert only_failed["afpacket"]["mpps"] is None
    assert " - " in xsk_report.table(xsk_report.summarise([run("pinned", "l2fwd", "afpacket", None)]))


@pytest.mark.privileged
def test_short_run_with_the_c_peers(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, XDP programs, AF_XDP and AF_PACKET sockets")
    if shutil.which("gcc") is None or not Path("/usr/include/xdp/xsk.h").exists():
        pytest.skip("needs gcc and libxdp-dev/libbpf-dev to build the peers")
    out = tmp_path / "xsk.json"
    p = subprocess.run(
        [
            str(BENCH / "run_xsk.sh"),
            "--seconds",
            "3",
            "--reps",
            "1",
            "--impls",
            "libxdp afpacket",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    data = json.loads(out.read_text())
    summary = data["summary"]
    for mode in ("rxdrop", "txonly", "l2fwd"):
        rows = by_impl(summary, "pinned", mode)
        for impl in ("libxdp", "afpacket"):
            assert rows[impl]["mpps"] is not None and rows[impl]["mpps"] > 0, (mode, impl, p.stderr[-2000:])
    ceiling = by_impl(summary, "generator", "gen")["xdp_gen"]
    assert ceiling["mpps"] > 0
    assert by_impl(summary, "samecpu", "rxdrop")["libxdp"]["mpps"] > 0
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "xdpkt-bench-" not in netns
    assert (tmp_path / "xsk.png").exists() or "chart skipped" in p.stderr
