"""How long reading a 4-queue Port's counters takes from Python (pytest-benchmark).

A forwarding pair on ``ForwardTopology(queues=4)`` with ``channels=4`` (idle: the counters are what a
poller reads; bench/stats_poll_cost.py measures the poller's cost under traffic). Timed:

- ``Port.stats()``: the totals (the ``ethtool -S`` names, summed over the queues);
- ``Port.queue_stats()``: one dict per queue;
- ``xdpkt.ethtool.stats(port)``: every counter, totals then ``rx_queue_N_*``/``tx_queue_N_*`` (what
  ``xdpkt ethtool -S`` prints): both of the above plus the per-queue names;
- ``Port.ethtool_stats()``, the same dict built by the Port itself.

The issue's target is < 50 us for reading every counter. Run:
    pytest bench/test_bench_ethtool_port.py --benchmark-only   (needs root: creates namespaces)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import xdpkt
from pytest_benchmark.fixture import BenchmarkFixture
from xdpkt import ethtool as et
from xdpkt.netns import ForwardTopology

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (creates network namespaces)")

TARGET_S = 50e-6


@pytest.fixture(scope="module")
def port() -> Iterator[xdpkt.Port]:
    with ForwardTopology(queues=4, tag="etpb") as t:
        with (
            xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name, channels=4) as pa,
            xdpkt.Port(ifname=t.m_b.ifname, netns=t.m.name, channels=4, share_umem=pa) as pb,
        ):
            pa.forward_to(pb)
            yield pa
            pa.stop()


def _run(benchmark: BenchmarkFixture, fn: Callable[[], Any]) -> Any:
    out = benchmark.pedantic(fn, rounds=2000, iterations=1, warmup_rounds=100)  # type: ignore[no-untyped-call]
    assert benchmark.stats is not None
    median = benchmark.stats.stats.median
    benchmark.extra_info["median_us"] = median * 1e6
    benchmark.extra_info["target_us"] = TARGET_S * 1e6
    print(f"\n{benchmark.name}: median {median * 1e6:.1f} us (target < {TARGET_S * 1e6:.0f} us)")
    return out


def test_port_stats(benchmark: BenchmarkFixture, port: xdpkt.Port) -> None:
    s = _run(benchmark, port.stats)
    assert "rx_packets" in s


def test_port_queue_stats(benchmark: BenchmarkFixture, port: xdpkt.Port) -> None:
    q = _run(benchmark, port.queue_stats)
    assert len(q) == 4


def test_ethtool_stats_of_port(benchmark: BenchmarkFixture, port: xdpkt.Port) -> None:
    s = _run(benchmark, lambda: et.stats(port))
    names = [k for k, _v in s]
    assert "rx_queue_3_packets" in names and names == list(port.ethtool_stats())


def test_port_ethtool_stats(benchmark: BenchmarkFixture, port: xdpkt.Port) -> None:
    d = _run(benchmark, port.ethtool_stats)
    assert "tx_queue_3_packets" in d
