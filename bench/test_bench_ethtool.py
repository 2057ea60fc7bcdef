"""How long ``xdpkt.ethtool.stats(dev)`` takes on a veth, from Python (pytest-benchmark).

Each call is what a user's polling loop pays: open an ioctl socket in the device's namespace (a short
thread that joins it with setns), ETHTOOL_GSSET_INFO, ETHTOOL_GSTRINGS, ETHTOOL_GSTATS, close. The same
read in the caller's own namespace (no thread) is timed too, and `ethtool -S` as a program for scale
(printed as a ratio; it pays for fork+exec, which a Python caller of ethtool would pay too).

Run: pytest bench/test_bench_ethtool.py --benchmark-only   (needs root: it creates a veth pair)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from xdpkt import ethtool as et
from xdpkt.netns import VethPair

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (creates a veth pair in namespaces)")


@pytest.fixture(scope="module")
def pair() -> Iterator[VethPair]:
    with VethPair(tag="etb", index=103) as p:
        yield p


def test_stats_in_netns(benchmark: BenchmarkFixture, pair: VethPair) -> None:
    s = benchmark(et.stats, pair.a.ifname, netns=pair.a.ns.name)
    assert len(s) > 0 and s["peer_ifindex"] == pair.b.ifindex
    # `ethtool -S` for scale, a few runs only
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run(
            ["ip", "netns", "exec", pair.a.ns.name, "ethtool", "-S", pair.a.ifname],
            check=True, capture_output=True, timeout=20,
        )  # fmt: skip
        runs.append(time.perf_counter() - t0)
    assert benchmark.stats is not None
    ours = benchmark.stats.stats.median
    theirs = statistics.median(runs)
    benchmark.extra_info["ethtool_program_median_s"] = theirs
    benchmark.extra_info["ratio_ethtool_over_xdpkt"] = theirs / ours
    print(f"\nstats(): median {ours * 1e6:.1f} us; `ip netns exec ... ethtool -S`: {theirs * 1e3:.1f} ms "
          f"({theirs / ours:.0f}x)")  # fmt: skip


def test_stats_same_netns(benchmark: BenchmarkFixture, pair: VethPair) -> None:
    """From a thread already inside the device's namespace: no per-call setns thread."""
    dev = et.KernelDevice(pair.a.ifname)
    # pytest-benchmark's timer runs on the namespace's worker thread, which joined it once.
    s = pair.a.ns.run(benchmark, dev.stats, timeout=120)
    assert len(s) > 0


def test_stats_threads_do_not_leak(pair: VethPair) -> None:
    before = threading.active_count()
    for _ in range(50):
        et.stats(pair.a.ifname, netns=pair.a.ns.name)
    assert threading.active_count() <= before
