"""Network helpers shared by the bench scripts (on xdpkt.netns topologies)."""

from __future__ import annotations

import json
import subprocess
import time

from xdpkt import netns


def iperf(topo: netns.ForwardTopology, seconds: float, streams: int) -> float:
    """Goodput A -> B in Gbit/s (iperf3's receiver sum), over ``topo``'s A and B."""
    srv = subprocess.Popen(
        ["ip", "netns", "exec", topo.b.ns.name, "iperf3", "-s", "-1", "-B", topo.b.ipv4],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.4)
        r = topo.a.ns.exec(
            "iperf3", "-c", topo.b.ipv4, "-t", str(seconds), "-P", str(streams), "-J", check=False
        )  # fmt: skip
        j = json.loads(r.stdout)
        if "error" in j:
            raise RuntimeError(f"iperf3: {j['error']}")
        return float(j["end"]["sum_received"]["bits_per_second"]) / 1e9
    finally:
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait(5)
