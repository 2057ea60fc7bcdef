"""``xdpkt conformance``: listing works anywhere; a real run needs root and a kernel."""

from __future__ import annotations

import os
import shutil

import pytest
from xdpkt import cli


def test_list_needs_no_privileges(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["conformance", "--list", "-k", "data_same_*"]) == 0
    out = capsys.readouterr().out.split("\n")
    assert "gro data_same_v4" in out and "gro data_same_v6" in out
    assert cli.main(["conformance", "--list", "--only", "gso", "-k", "udp_129*"]) == 0
    assert capsys.readouterr().out.split() == ["gso", "udp_129_segs_v4", "gso", "udp_129_segs_v6"]


def test_bad_tries_is_a_usage_error() -> None:
    assert cli.main(["conformance", "--tries", "0"]) == 2


@pytest.mark.privileged
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("ethtool") is None,
    reason="needs root (CAP_NET_ADMIN, CAP_NET_RAW) and iproute2 + ethtool",
)
def test_run_selected_cases_against_the_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["conformance", "-v", "-k", "*2mss_plus_1_v4"]) == 0
    out = capsys.readouterr().out
    assert "PASS gso udp_2mss_plus_1_v4" in out and "PASS gso tcp_2mss_plus_1_v4" in out
    assert "3 passed, 0 failed" in out  # udp, udp_vlan, tcp
