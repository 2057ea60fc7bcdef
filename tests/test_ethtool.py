"""xdpkt.ethtool and `xdpkt ethtool` against the kernel and against the real ethtool program.

Privileged tests run on a veth pair in two namespaces the test creates (xdpkt.netns.VethPair). Every
verb is read through xdpkt and through /usr/sbin/ethtool; text output is compared line for line with
ethtool's (Debian's ethtool 6.1); JSON output is validated against tests/ethtool_schemas.py. Writes are done
where this kernel's veth allows them (-K, -L) and read back both ways; where veth refuses (-G, -C,
-X), both tools must fail and xdpkt must say "not supported by veth".

Verbs a veth cannot answer (-g, -c, -x with data) are also run through the Port seam with a backend
defined here, so that their text layout and JSON schemas are checked too.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jsonschema
import pytest
from ethtool_schemas import SCHEMAS
from xdpkt import ethtool as et
from xdpkt.cli import main as cli_main
from xdpkt.commands import ethtool as cmd
from xdpkt.netns import Endpoint, VethPair

ETHTOOL = shutil.which("ethtool") or "/usr/sbin/ethtool"
needs_ethtool = pytest.mark.skipif(not os.path.exists(ETHTOOL), reason="the ethtool program is not installed")

def test_schemas_are_valid() -> None:
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)


# --- helpers --------------------------------------------------------------------------------------


def xdpkt(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli_main(["ethtool", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def ethtool(end: Endpoint, *argv: str) -> subprocess.CompletedProcess[str]:
    return end.ns.exec(ETHTOOL, *argv, check=False)


def ethtool_k(end: Endpoint) -> dict[str, str]:
    """`ethtool -k` as name -> state text, for every line (groups and members)."""
    out = ethtool(end, "-k", end.ifname).stdout
    return {
        name.strip(): state for name, _, state in (ln.partition(": ") for ln in out.splitlines()[1:]) if state
    }


@pytest.fixture(scope="module")
def pair() -> Iterator[VethPair]:
    with VethPair(tag="et", index=101) as p:
        yield p


@pytest.fixture()
def fresh() -> Iterator[VethPair]:
    """A pair for tests that change the device."""
    with VethPair(tag="etw", index=102) as p:
        yield p


# --- reads: text equal to ethtool's, JSON valid ---------------------------------------------------

READ_VERBS = ("-i", "-k", "-g", "-c", "-l", "-S", "-x")


@pytest.mark.privileged
@needs_ethtool
@pytest.mark.parametrize("verb", READ_VERBS)
def test_text_output_equals_ethtool(pair: VethPair, capsys: pytest.CaptureFixture[str], verb: str) -> None:
    end = pair.a
    ref = ethtool(end, verb, end.ifname)
    code, out, err = xdpkt(capsys, verb, end.ifname, "--netns", end.ns.name)
    if ref.returncode != 0:
        # veth refuses -g, -c and -x on this kernel: both fail, neither prints to stdout
        assert "Operation not supported" in ref.stderr
        assert code == 1 and out == "" == ref.stdout
        assert "not supported by veth" in err, err
        return
    assert code == 0, err
    _assert_same_text(verb, out, ref.stdout)


def _assert_same_text(verb: str, out: str, ref: str) -> None:
    if verb == "-i":
        ours = out.splitlines()
        theirs = ref.splitlines()
        assert ours[: len(theirs)] == theirs
        extra = dict(line.split(": ", 1) for line in ours[len(theirs) :])
        assert extra["xdp-native"] == "yes"  # veth runs XDP programs natively
        assert extra["af-xdp-zero-copy"] == "no"  # and has no zero-copy AF_XDP
        assert "basic" in extra["xdp-features"].split()
        assert not any(k.startswith("vpd") for k in extra)  # veth has no PCI VPD
    else:
        assert out.splitlines() == ref.splitlines()
        assert out == ref


@pytest.fixture(scope="module")
def tap(pair: VethPair) -> Iterator[str]:
    """A tap device (driver tun) in the pair's namespace a: it has coalescing (rx-frames) and channels.
    No traffic is sent on it; it only answers ethtool requests."""
    name = f"xt{pair.a.ifname[2:8]}"
    pair.a.ns.exec("ip", "tuntap", "add", "dev", name, "mode", "tap")
    try:
        yield name
    finally:
        pair.a.ns.exec("ip", "link", "del", name, check=False)


@pytest.mark.privileged
@needs_ethtool
@pytest.mark.parametrize("kind", ["lo", "tun"])
@pytest.mark.parametrize("verb", READ_VERBS)
def test_other_devices_text_and_refusals_like_ethtool(
    pair: VethPair, tap: str, capsys: pytest.CaptureFixture[str], verb: str, kind: str
) -> None:
    """lo (loopback on [fixed]; no driver info, channels or stats) and a tap (tun: coalescing and
    channels veth lacks, no stats): stdout equal to ethtool's, the same verbs refused."""
    end = pair.a
    dev = {"lo": "lo", "tun": tap}[kind]
    ref = end.ns.exec(ETHTOOL, verb, dev, check=False)
    code, out, err = xdpkt(capsys, verb, dev, "--netns", end.ns.name)
    assert (code == 0) == (ref.returncode == 0), (err, ref.stderr)
    if code:
        assert out == ref.stdout == ""
        driver = "the driver of lo" if kind == "lo" else "tun"
        assert f"not supported by {driver}" in err, err
    elif verb == "-i":
        theirs = ref.stdout.splitlines()
        ours = out.splitlines()
        assert ours[: len(theirs)] == theirs and ours[len(theirs)].startswith("xdp-native: ")
    else:
        assert out == ref.stdout


@pytest.mark.privileged
@needs_ethtool
def test_coalesce_read_write_on_tap(pair: VethPair, tap: str, capsys: pytest.CaptureFixture[str]) -> None:
    end = pair.a
    ns = end.ns.name
    c = et.coalesce(tap, netns=ns)
    assert c.rx_frames is not None and c.rx_usecs is None  # tun supports rx-frames only
    jsonschema.validate(c.to_dict(), SCHEMAS["-c"])
    new = et.set_coalesce(tap, netns=ns, rx_frames=16)
    assert new.rx_frames == 16
    assert "rx-frames: 16\n" in ethtool(end, "-c", tap).stdout
    code, out, err = xdpkt(capsys, "-C", tap, "rx-frames", "8", "--netns", ns)
    assert code == 0 and out == "", err
    assert "rx-frames: 8\n" in ethtool(end, "-c", tap).stdout
    assert et.coalesce(tap, netns=ns).rx_frames == 8
    # ethtool sets it, xdpkt reads it
    assert ethtool(end, "-C", tap, "rx-frames", "4").returncode == 0
    code, out, err = xdpkt(capsys, "-c", tap, "--netns", ns, "--json")
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS["-c"])
    assert doc["rx_frames"] == 4 and doc["rx_usecs"] is None
    code, out, err = xdpkt(capsys, "-C", tap, "rx-frames", "2", "--netns", ns, "--json")
    jsonschema.validate(json.loads(out), SCHEMAS["-C"])
    assert json.loads(out)["rx_frames"] == 2
    # a parameter the driver does not have: refused before anything is sent, and ethtool agrees
    with pytest.raises(
        et.NotSupportedError, match=r"parameter rx-usecs not supported by tun .*supports: rx-frames"
    ):
        et.set_coalesce(tap, netns=ns, rx_usecs=5)
    assert ethtool(end, "-C", tap, "rx-usecs", "5").returncode != 0
    code, out, err = xdpkt(capsys, "-C", tap, "rx-usecs", "5", "--netns", ns)
    assert code == 1 and "rx-usecs not supported by tun" in err
    assert et.coalesce(tap, netns=ns).rx_frames == 2  # nothing else changed


@pytest.mark.privileged
@pytest.mark.parametrize("verb", ("-i", "-k", "-l", "-S"))
def test_json_output_valid(pair: VethPair, capsys: pytest.CaptureFixture[str], verb: str) -> None:
    code, out, err = xdpkt(capsys, verb, pair.b.ifname, "--netns", pair.b.ns.name, "--json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS[verb])
    assert doc["ifname"] == pair.b.ifname


@pytest.mark.privileged
@needs_ethtool
def test_features_match_ethtool(pair: VethPair) -> None:
    end = pair.a
    f = et.features(end.ifname, netns=end.ns.name)
    ref = ethtool_k(end)
    # Every kernel feature ethtool shows by its own name has our state text.
    shown = [feat for feat in f if feat.name in ref]
    assert len(shown) > 40
    for feat in shown:
        assert ref[feat.name] == feat.state, feat.name
    # Legacy names resolve to the same states as ethtool's single-member groups.
    assert ref["generic-receive-offload"] == f.feature("rx-gro").state
    assert ref["large-receive-offload"] == f.feature("rx-lro").state == "off [fixed]"
    assert f["generic-segmentation-offload"] == f["tx-generic-segmentation"]
    assert f["tcp-segmentation-offload"] == any(m.active for m in f.members("tso"))
    assert {m.name for m in f.members("tso")} >= {"tx-tcp-segmentation", "tx-tcp6-segmentation"}


@pytest.mark.privileged
@needs_ethtool
def test_driver_info_and_stats_match_ethtool(pair: VethPair) -> None:
    end = pair.a
    d = et.driver_info(end.ifname, netns=end.ns.name)
    ref = dict(
        ln.split(": ", 1)
        for ln in ethtool(end, "-i", end.ifname).stdout.replace(": \n", ": \0\n").splitlines()
    )
    assert d.driver == ref["driver"] == "veth"
    assert d.version == ref["version"]
    assert d.bus_info == ref["bus-info"].strip("\0")
    assert d.supports_statistics and ref["supports-statistics"] == "yes"
    assert d.xdp is not None and d.xdp.native and not d.xdp.zero_copy
    jsonschema.validate(d.to_dict(), SCHEMAS["-i"])

    s = et.stats(end.ifname, netns=end.ns.name)
    lines = ethtool(end, "-S", end.ifname).stdout.splitlines()[1:]
    theirs = [(k.strip(), int(v)) for k, _, v in (ln.partition(": ") for ln in lines)]
    assert list(s) == theirs
    assert s["peer_ifindex"] == pair.b.ifindex
    assert len(s) == d.n_stats
    jsonschema.validate(s.to_dict(), SCHEMAS["-S"])


@pytest.mark.privileged
def test_stats_count_traffic(pair: VethPair) -> None:
    """veth counts XDP-path packets only; the peer index is the one real counter without XDP, so check
    that reading twice is consistent and the names are per queue as the driver reports them."""
    s1 = et.stats(pair.b.ifname, netns=pair.b.ns.name)
    s2 = et.stats(pair.b.ifname, netns=pair.b.ns.name)
    assert [k for k, _ in s1] == [k for k, _ in s2]
    assert any(k.startswith("rx_queue_0_") for k, _ in s1)


# --- features: writes -----------------------------------------------------------------------------


@pytest.mark.privileged
@needs_ethtool
def test_set_features_read_back_both_ways(fresh: VethPair) -> None:
    end = fresh.a
    ns = end.ns.name
    change = et.set_features(end.ifname, {"rx-gro": True, "tx-tcp-segmentation": False}, netns=ns)
    assert change.ok and set(change.changed) == {"rx-gro", "tx-tcp-segmentation"}
    f = et.features(end.ifname, netns=ns)
    assert f["rx-gro"] and not f["tx-tcp-segmentation"]
    ref = ethtool_k(end)
    assert ref["generic-receive-offload"] == "on"
    assert ref["tx-tcp-segmentation"] == "off"
    # legacy long and short names, and the same request twice changes nothing
    et.set_features(end.ifname, {"generic-receive-offload": False, "tso": True}, netns=ns)
    assert ethtool_k(end)["generic-receive-offload"] == "off"
    again = et.set_features(end.ifname, {"gro": False}, netns=ns)
    assert again.ok and again.changed == () and again.unchanged == ("rx-gro",)
    # rx-gro-list, a feature with no legacy group
    et.set_features(end.ifname, {"rx-gro-list": True}, netns=ns)
    assert ethtool_k(end)["rx-gro-list"] == "on"
    jsonschema.validate(again.to_dict(), SCHEMAS["-K"])


@pytest.mark.privileged
def test_fixed_feature_says_fixed(fresh: VethPair) -> None:
    end = fresh.a
    with pytest.raises(et.FeatureChangeError, match=r"rx-lro \(requested on, fixed off on veth\)") as info:
        et.set_features(end.ifname, {"large-receive-offload": True}, netns=end.ns.name)
    assert info.value.change.fixed == ("rx-lro",)
    assert info.value.change.nothing_changed


@pytest.mark.privileged
def test_partial_change_lists_what_changed_and_what_did_not(fresh: VethPair) -> None:
    end = fresh.a
    with pytest.raises(et.FeatureChangeError) as info:
        et.set_features(end.ifname, {"rx-gro": True, "rx-lro": True}, netns=end.ns.name)
    ch = info.value.change
    assert ch.changed == ("rx-gro",)
    assert dict(ch.failed) == {"rx-lro": False}
    msg = str(info.value)
    assert "changed: rx-gro on" in msg and "not changed: rx-lro" in msg
    assert et.features(end.ifname, netns=end.ns.name)["rx-gro"]  # the part that could change did


@pytest.mark.privileged
def test_dependent_features_are_reported_as_side_effects(fresh: VethPair) -> None:
    end = fresh.a
    ch = et.set_features(end.ifname, {"sg": False}, netns=end.ns.name)
    # without scatter-gather the kernel drops GSO and TSO (netdev_fix_features)
    assert ch.side_effects.get("tx-generic-segmentation") is False
    assert "tx-generic-segmentation: off [not requested]" in ch.actual_changes


def test_bad_feature_arguments_name_the_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"dev: an interface name"):
        et.features("bad/name")
    with pytest.raises(ValueError, match=r"netns: a namespace name"):
        et.features("lo", netns="../x")
    with pytest.raises(TypeError, match=r"dev: an interface name \(str\) or a Port"):
        et.features(42)  # type: ignore[arg-type]


@pytest.mark.privileged
def test_unknown_feature_and_bad_value(pair: VethPair) -> None:
    end = pair.a
    with pytest.raises(
        ValueError, match=r"unknown feature 'bogus'; allowed: .*rx-gro.*generic-receive-offload"
    ):
        et.set_features(end.ifname, {"bogus": True}, netns=end.ns.name)
    with pytest.raises(ValueError, match=r"True \(on\) or False \(off\)"):
        et.set_features(end.ifname, {"rx-gro": "yes"}, netns=end.ns.name)  # type: ignore[dict-item]


KCASES: tuple[tuple[str, ...], ...] = (
    ("sg", "off"),
    ("rx-gro", "on"),
    ("lro", "on"),
    ("tso", "off", "rx-gro-list", "on"),
    ("rx-gro", "on", "large-receive-offload", "on"),
    ("tx-udp-segmentation", "off", "generic-segmentation-offload", "off"),
)


@pytest.mark.privileged
@needs_ethtool
@pytest.mark.parametrize("args", KCASES, ids=["-".join(c) for c in KCASES])
def test_K_reports_actual_changes_as_ethtool(
    fresh: VethPair, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    """The same change on both ends of a fresh pair (identical starting state): ethtool on one, xdpkt
    on the other. stdout ("Actual changes:") must be equal, and so must the resulting -k."""
    ref = ethtool(fresh.a, "-K", fresh.a.ifname, *args)
    code, out, err = xdpkt(capsys, "-K", fresh.b.ifname, *args, "--netns", fresh.b.ns.name)
    assert out == ref.stdout
    assert ("Could not change any device features" in err) == (
        "Could not change any device features" in ref.stderr
    )
    assert (code == 0) == (ref.returncode == 0) or "not changed" in err
    if "lro" in args or "large-receive-offload" in args:
        assert code == 1 and "fixed off on veth" in err
    a, b = ethtool_k(fresh.a), ethtool_k(fresh.b)
    assert a == b


# --- channels (veth supports -L), rings and coalescing (it does not) ------------------------------


@pytest.mark.privileged
@needs_ethtool
def test_channels_read_write(fresh: VethPair, capsys: pytest.CaptureFixture[str]) -> None:
    end = fresh.a
    ns = end.ns.name
    ch = et.channels(end.ifname, netns=ns)
    assert ch.rx_max is not None and ch.rx_max >= 1 and ch.combined_max is None
    new = et.set_channels(end.ifname, netns=ns, rx=1, tx=1)
    assert (new.rx, new.tx) == (1, 1)
    ref = ethtool(end, "-l", end.ifname).stdout.split("Current hardware settings:")[1]
    assert "RX:\t\t1\nTX:\t\t1\n" in ref
    # the CLI, then read back through ethtool
    code, out, err = xdpkt(capsys, "-L", end.ifname, "rx", str(ch.rx_max), "--netns", ns)
    assert code == 0 and out == "", err
    assert f"RX:\t\t{ch.rx_max}\n" in ethtool(end, "-l", end.ifname).stdout.split("Current")[1]
    code, out, err = xdpkt(capsys, "-L", end.ifname, "tx", "1", "--netns", ns, "--json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS["-L"])
    assert doc["tx"] == 1
    # beyond the maximum: named, with the maximum and the driver
    with pytest.raises(ValueError, match=rf"rx: {ch.rx_max + 7} exceeds the maximum {ch.rx_max} of veth"):
        et.set_channels(end.ifname, netns=ns, rx=ch.rx_max + 7)
    with pytest.raises(ValueError, match=r"combined: veth has no combined channels"):
        et.set_channels(end.ifname, netns=ns, combined=1)
    with pytest.raises(
        ValueError, match=r"bogus: not a settable parameter; allowed: rx, tx, other, combined"
    ):
        et.set_channels(end.ifname, netns=ns, bogus=1)
    code, _out, err = xdpkt(capsys, "-L", end.ifname, "rx", "lots", "--netns", ns)
    assert code == 2 and "rx: a non-negative integer, got 'lots'" in err


@pytest.mark.privileged
@needs_ethtool
@pytest.mark.parametrize(
    ("verb", "args", "what"),
    [
        ("-G", ("rx", "256"), "ring parameters"),
        ("-C", ("rx-usecs", "8"), "coalescing"),
        ("-X", ("equal", "1"), "RSS"),
    ],
)
def test_unsupported_changes_say_not_supported_by_veth(
    pair: VethPair, capsys: pytest.CaptureFixture[str], verb: str, args: tuple[str, ...], what: str
) -> None:
    end = pair.a
    ref = ethtool(end, verb, end.ifname, *args)
    assert ref.returncode != 0  # this kernel's veth refuses them too
    code, out, err = xdpkt(capsys, verb, end.ifname, *args, "--netns", end.ns.name)
    assert code == 1 and out == ""
    assert f"{what}" in err and "not supported by veth" in err, err
    fn = {"-G": et.rings, "-C": et.coalesce, "-X": et.rss}[verb]
    with pytest.raises(et.NotSupportedError, match="not supported by veth") as info:
        fn(end.ifname, netns=end.ns.name)
    assert info.value.errno == errno.EOPNOTSUPP


@pytest.mark.privileged
def test_no_such_device_and_namespace(pair: VethPair, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(et.NoSuchDeviceError, match=r"no device named 'nosuch0' in namespace"):
        et.features("nosuch0", netns=pair.a.ns.name)
    with pytest.raises(et.NoSuchDeviceError):
        et.stats("nosuch0", netns=pair.a.ns.name)
    with pytest.raises(ValueError, match=r"netns: no network namespace named 'xdpkt-no-such-ns'"):
        et.driver_info("lo", netns="xdpkt-no-such-ns")
    code, _out, err = xdpkt(capsys, "-k", "nosuch0", "--netns", pair.a.ns.name)
    assert code == 1 and "no device named 'nosuch0'" in err


def test_port_dev_without_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = xdpkt(capsys, "-k", "port:wire0")
    assert code == 1 and out == ""
    assert "no Port named 'wire0' is running in this process" in err


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _o, err = xdpkt(capsys, "lo")
    assert code == 2 and "give one of -i -k -K" in err
    code, _o, err = xdpkt(capsys, "-K", "lo", "rx-gro")
    assert code == 2 and "NAME on|off pairs" in err
    code, _o, err = xdpkt(capsys, "-K", "lo", "rx-gro", "maybe")
    assert code == 2 and "rx-gro: 'on' or 'off', got 'maybe'" in err
    code, _o, err = xdpkt(capsys, "-G", "lo", "rx-huge", "1")
    assert code == 2 and "unknown parameter 'rx-huge'; allowed: rx, rx-mini" in err
    code, _o, err = xdpkt(capsys, "-k", "lo", "extra")
    assert code == 2 and "unexpected parameter 'extra'" in err


# --- missing privilege ----------------------------------------------------------------------------

_DROP_AND_SET = r"""
import ctypes, os, sys
from xdpkt import ethtool as et  # before dropping privileges: nobody may not read the interpreter's files
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
assert libc.setns(fd, 0x40000000) == 0  # single-threaded: the whole process joins the namespace
os.setgid(65534); os.setuid(65534)
assert et.features(sys.argv[2]).items  # reading needs no privilege
try:
    et.set_features(sys.argv[2], {"rx-gro": True})
except PermissionError as e:
    print("PermissionError", e.strerror)
try:
    et.features("lo", netns=sys.argv[3])
except PermissionError as e:
    print("setns:", e.strerror)
"""


@pytest.mark.privileged
def test_change_without_cap_net_admin_is_permission_error(pair: VethPair) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-c", _DROP_AND_SET, pair.a.ns.path, pair.a.ifname, pair.b.ns.name],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "PermissionError" in proc.stdout and "needs CAP_NET_ADMIN" in proc.stdout, proc.stdout
    assert "setns: entering a network namespace (setns) needs CAP_SYS_ADMIN" in proc.stdout, proc.stdout


# --- the Port seam, with a backend that answers every verb ----------------------------------------


class _Backend:
    """A software device answering every verb (as a Port will): checks the formats and schemas of the
    verbs a veth cannot answer, and that port:NAME reaches a registered backend."""

    ifname = "port0"

    def __init__(self) -> None:
        self.ring = et.Rings(
            "port0", 4096, None, None, 4096, 2048, None, None, 2048, None, "unknown", None, False, None,
            None, None, None, None,
        )  # fmt: skip
        vals: dict[str, Any] = {k: None for k in et.COALESCE_SETTABLE}
        vals.update(rx_usecs=50, rx_frames=64, adaptive_rx=True, adaptive_tx=False, tx_usecs=0)
        self.coal = et.Coalesce("port0", **vals)
        self.indir = tuple(i % 4 for i in range(16))

    def driver_info(self) -> et.DriverInfo:
        return et.DriverInfo("port0", "xdpkt", "0.1.0", "", "", "", 0, 2, 0, 0, 0, None, None, None)

    def features(self) -> et.Features:
        return et.Features("port0", (et.Feature("rx-gro", True, True, False),))

    def set_features(self, changes: Mapping[str, bool]) -> et.FeatureChange:
        raise NotImplementedError

    def rings(self) -> et.Rings:
        return self.ring

    def set_rings(self, values: Mapping[str, int | bool | str]) -> et.Rings:
        fields = self.ring.to_dict()
        fields.update(values)
        self.ring = et.Rings(**fields)
        return self.ring

    def coalesce(self) -> et.Coalesce:
        return self.coal

    def set_coalesce(self, values: Mapping[str, int | bool]) -> et.Coalesce:
        fields = self.coal.to_dict()
        fields.update(values)
        self.coal = et.Coalesce(**fields)
        return self.coal

    def channels(self) -> et.Channels:
        return et.Channels("port0", None, None, None, 4, None, None, None, 4)

    def set_channels(self, values: Mapping[str, int]) -> et.Channels:
        raise NotImplementedError

    def stats(self) -> et.Stats:
        return et.Stats("port0", (("rx_packets", 10), ("rx_packets", 3)))

    def rss(self) -> et.Rss:
        return et.Rss(
            "port0", 4, self.indir, bytes(range(40)), (("toeplitz", True), ("xor", False), ("crc32", False))
        )

    def set_rss(self, indirection: Sequence[int] | None, key: bytes | None, hfunc: str | None) -> et.Rss:
        if indirection is not None:
            self.indir = tuple(indirection)
        return self.rss()

    def xdp_support(self) -> et.XdpSupport:
        raise et.NotSupportedError("XDP features not supported by xdpkt ports")


class _Port:
    def __init__(self) -> None:
        self.b = _Backend()

    def ethtool_backend(self) -> et.EthtoolBackend:
        return self.b


@pytest.fixture()
def port() -> Iterator[_Port]:
    p = _Port()
    et.register_port("t0", p)
    try:
        yield p
    finally:
        et.register_port("t0", None)


def test_port_text_formats(port: _Port, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = xdpkt(capsys, "-g", "port:t0")
    assert code == 0, err
    # ethtool 6.1's layout: labels with tabs, n/a for what the device does not report
    assert out == (
        "Ring parameters for port0:\nPre-set maximums:\nRX:\t\t4096\nRX Mini:\tn/a\nRX Jumbo:\tn/a\n"
        "TX:\t\t4096\nCurrent hardware settings:\nRX:\t\t2048\nRX Mini:\tn/a\nRX Jumbo:\tn/a\nTX:\t\t2048\n"
        "RX Buf Len:\t\tn/a\nCQE Size:\t\tn/a\nTX Push:\toff\nTCP data split:\tn/a\n"
    )
    code, out, err = xdpkt(capsys, "-c", "port:t0")
    lines = out.split("\n")
    assert lines[:3] == [
        "Coalesce parameters for port0:",
        "Adaptive RX: on  TX: off",
        "stats-block-usecs: n/a",
    ]
    assert "rx-usecs: 50" in lines and "rx-frames: 64" in lines and "tx-usecs: 0" in lines
    assert "CQE mode RX: n/a  TX: n/a" in lines and out.endswith("\n\n")
    code, out, err = xdpkt(capsys, "-x", "port:t0")
    assert out.splitlines()[:3] == [
        "RX flow hash indirection table for port0 with 4 RX ring(s):",
        "    0:      0     1     2     3     0     1     2     3",
        "    8:      0     1     2     3     0     1     2     3",
    ]
    assert "RSS hash key:\n00:01:02:03" in out and "    toeplitz: on\n    xor: off\n" in out
    code, out, err = xdpkt(capsys, "-S", "port:t0", "--json")
    assert json.loads(out)["stats"] == {"rx_packets": 10, "rx_packets#2": 3}
    code, out, err = xdpkt(capsys, "-i", "port:t0")
    assert "driver: xdpkt\n" in out and "xdp-native: unknown" in out


@pytest.mark.parametrize("verb", ["-g", "-c", "-x", "-l", "-S", "-k", "-i"])
def test_port_json_valid(port: _Port, capsys: pytest.CaptureFixture[str], verb: str) -> None:
    code, out, err = xdpkt(capsys, verb, "port:t0", "--json")
    assert code == 0, err
    jsonschema.validate(json.loads(out), SCHEMAS[verb])


def test_port_set_verbs(port: _Port, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = xdpkt(capsys, "-G", "port:t0", "rx", "1024", "tx-push", "on", "--json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS["-G"])
    assert doc["rx"] == 1024 and doc["tx_push"] is True
    code, out, err = xdpkt(capsys, "-C", "port:t0", "rx-usecs", "20", "adaptive-rx", "off", "--json")
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS["-C"])
    assert doc["rx_usecs"] == 20 and doc["adaptive_rx"] is False
    code, out, err = xdpkt(capsys, "-X", "port:t0", "weight", "1", "3", "--json")
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS["-X"])
    assert doc["indirection"] == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    code, out, err = xdpkt(capsys, "-X", "port:t0", "equal", "2")
    assert code == 0 and port.b.indir == tuple(i % 2 for i in range(16))
    code, _o, err = xdpkt(capsys, "-X", "port:t0", "equal", "2", "weight", "1", "1")
    assert code == 2 and "only one of equal, weight, indirection" in err
    code, _o, err = xdpkt(capsys, "-X", "port:t0", "default")
    assert code == 0 and port.b.indir == ()  # an empty table asks for the driver's default
    with pytest.raises(ValueError, match="netns: only for a kernel device"):
        et.rings("port:t0", netns="x")


def test_weighted_table_like_ethtool() -> None:
    assert et._weighted_table([1, 1], 4) == [0, 0, 1, 1]
    assert et._weighted_table([1, 0, 1], 4) == [0, 0, 2, 2]
    assert et._weighted_table([3, 1], 8) == [0, 0, 0, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="weight: non-negative integers"):
        et._weighted_table([0, 0], 4)


def test_pattern_match_like_ethtool() -> None:
    assert et.pattern_match("tx-tcp6-segmentation", "tx-tcp*-segmentation")
    assert et.pattern_match("tx-tcp-segmentation", "tx-tcp*-segmentation")
    assert not et.pattern_match("tx-udp-segmentation", "tx-tcp*-segmentation")
    assert et.pattern_match("tx-checksum-ipv4", "tx-checksum-*")
    assert not et.pattern_match("rx-checksum", "tx-checksum-*")
    assert et.pattern_match("rx-gro", "rx-gro") and not et.pattern_match("rx-gro-list", "rx-gro")


def test_frozen_and_dicts() -> None:
    f = et.Feature("rx-gro", False, True, False)
    assert f.state == "off [requested on]"
    with pytest.raises(AttributeError):
        f.active = True  # type: ignore[misc]
    assert et.Feature("rx-lro", False, False, True).state == "off [fixed]"
    assert cmd.format_stats(et.Stats("d", (("a", 1),))) == "NIC statistics:\n     a: 1\n"
    assert ctypes.sizeof(ctypes.c_void_p) == 8  # the ioctl layouts here assume a 64-bit host


@pytest.mark.privileged
def test_set_arguments_checked_and_refusals_named(pair: VethPair) -> None:
    dev, ns = pair.a.ifname, pair.a.ns.name
    with pytest.raises(ValueError, match=r"rx: an integer in 0\.\.4294967295, got 'x'"):
        et.set_rings(dev, netns=ns, rx="x")
    with pytest.raises(
        ValueError, match=r"bogus: not a settable parameter; allowed: rx, rx_mini, rx_jumbo, tx"
    ):
        et.set_rings(dev, netns=ns, bogus=1)
    with pytest.raises(ValueError, match=r"tcp_data_split: 'on', 'off' or 'auto'"):
        et.set_rings(dev, netns=ns, tcp_data_split="sometimes")
    with pytest.raises(ValueError, match=r"adaptive_rx: True or False"):
        et.set_coalesce(dev, netns=ns, adaptive_rx=1)
    with pytest.raises(ValueError, match=r"coalesce: give at least one of rx_usecs"):
        et.set_coalesce(dev, netns=ns)
    with pytest.raises(et.NotSupportedError, match=r"changing ring parameters \(-G\) not supported by veth"):
        et.set_rings(dev, netns=ns, rx=256)
    with pytest.raises(et.NotSupportedError, match=r"changing coalescing \(-C\) not supported by veth"):
        et.set_coalesce(dev, netns=ns, rx_usecs=8)
    with pytest.raises(et.NotSupportedError, match=r"RSS \(-x\) not supported by veth"):
        et.set_rss(dev, netns=ns, equal=1)
    with pytest.raises(
        ValueError, match=r"'ufo' stands for tx-udp-fragmentation, which this kernel does not have"
    ):
        et.set_features(dev, {"ufo": False}, netns=ns)
    x = et.xdp_support(dev, netns=ns)
    assert x.available and x.native and not x.zero_copy and x.ifname == dev
    assert x.to_dict()["xdp_features"] == list(x.xdp_features)


@pytest.mark.privileged
def test_K_json(fresh: VethPair, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = xdpkt(
        capsys, "-K", fresh.a.ifname, "gro", "on", "lro", "on", "--json", "--netns", fresh.a.ns.name
    )
    assert code == 1 and "not changed: rx-lro" in err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS["-K"])
    assert doc["changed"] == ["rx-gro"] and doc["failed"] == {"rx-lro": False} and doc["fixed"] == ["rx-lro"]
    assert doc["ok"] is False and doc["actual_changes"] == ["rx-gro: on", "rx-lro: off [requested on]"]
