"""ethtool on xdpkt Ports: every verb on a live forwarding Port, from Python, from the CLI in this
process, and from another process through the Port's control socket.

Privileged tests build their own namespaces (``xdpkt.netns.ForwardTopology``: A - M - B), open two
Ports in M joined by ``forward_to`` and remove everything afterwards; traffic stays on those veth
pairs. JSON output is validated with tests/ethtool_schemas.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xdpkt
from ethtool_schemas import PORTS_SCHEMA, SCHEMAS
from tcpstream import TcpStream
from xdpkt import _control, netns
from xdpkt import ethtool as et
from xdpkt._ethtool_port import DEFAULT_RSS_KEY, FEATURE_NAMES
from xdpkt.cli import main as cli_main
from xdpkt.netns import ForwardTopology

privileged = pytest.mark.privileged
ENV = {**os.environ, "PYTHONPATH": str(Path(xdpkt.__file__).parent.parent)}
GSO_GROUP = (
    "tx-generic-segmentation",
    "tx-tcp-segmentation",
    "tx-tcp-ecn-segmentation",
    "tx-tcp6-segmentation",
    "tx-udp-segmentation",
)


def _name(tag: str) -> str:
    """A Port name no other test run (or a running demo) uses."""
    return f"t{os.getpid()}-{tag}"


class Pair:
    """Two Ports in M joined by forward_to (A's side owns the UMEM), named for port:NAME."""

    def __init__(self, t: ForwardTopology, **kw: Any) -> None:
        self.t = t
        self.na, self.nb = _name("a"), _name("b")
        self.a = xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name, name=self.na, **kw)
        try:
            self.b = xdpkt.Port(ifname=t.m_b.ifname, netns=t.m.name, share_umem=self.a, name=self.nb, **kw)
        except BaseException:
            self.a.close()
            raise
        self.a.forward_to(self.b)

    def close(self) -> None:
        self.b.close()
        self.a.close()


@contextlib.contextmanager
def _pair(queues: int = 1, **kw: Any) -> Iterator[Pair]:
    with ForwardTopology(queues=queues, tag="ethp") as t:
        # Full checksums from the hosts' stacks: what a NIC's wire carries, so GRO can merge.
        for e in (t.a, t.b):
            netns.set_ethtool_features(e.ns, e.ifname, {"tx-checksumming": False})
        p = Pair(t, **kw)
        try:
            yield p
        finally:
            p.close()


@pytest.fixture
def pair() -> Iterator[Pair]:
    with _pair() as p:
        yield p


def xdpkt_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli_main(["ethtool", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# Runs several `xdpkt ethtool` command lines in one other process (each as the CLI would run it):
# another process reaches the Ports only through their control sockets.
_REMOTE = r"""
import contextlib, io, json, sys
from xdpkt.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["ethtool", *argv])
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def remote(*commands: list[str], timeout: float = 120) -> list[tuple[int, str, str]]:
    r = subprocess.run(
        [sys.executable, "-c", _REMOTE, json.dumps(list(commands))],
        capture_output=True, text=True, timeout=timeout, env=ENV, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return [(int(c), str(o), str(e)) for c, o, e in json.loads(r.stdout)]


def _accounted(p: xdpkt.Port) -> dict[str, int]:
    places = p.places()
    assert sum(v for k, v in places.items() if k != "total") == places["total"], places
    assert places["user"] == 0, places
    return places


# --- every read verb, from Python -------------------------------------------------------------------


@privileged
def test_every_read_verb_from_python(pair: Pair) -> None:
    pa, pb = pair.a, pair.b
    for dev in (pa, f"port:{pair.na}"):
        d = et.driver_info(dev)
        assert (d.ifname, d.driver, d.version) == (f"port:{pair.na}", "xdpkt", xdpkt.__version__)
        assert d.bus_info == f"{pa.ifname} in {pair.t.m.name} ({pa.mode} mode)"
        assert d.supports_statistics and d.n_stats == len(pa.ethtool_stats())
        assert not (d.supports_test or d.supports_eeprom_access or d.supports_register_dump)
        assert d.xdp is not None and d.xdp.available and d.xdp.native  # the veth under the Port
        assert d.xdp.ifname == pa.ifname and d.vpd is None
        jsonschema.validate(d.to_dict(), SCHEMAS["-i"])

        f = et.features(dev)
        assert [x.name for x in f] == list(FEATURE_NAMES)
        jsonschema.validate(f.to_dict(), SCHEMAS["-k"])
        changeable = {x.name for x in f if not x.fixed}
        assert changeable == {"rx-gro", "rx-udp-gro-forwarding", *GSO_GROUP}
        assert f["rx-gro"] and not f["rx-udp-gro-forwarding"] and all(f[n] for n in GSO_GROUP)
        assert f.feature("rx-checksum").state == "on [fixed]"
        assert f.feature("tx-checksum-ip-generic").state == "on [fixed]"
        assert f.feature("rx-lro").state == "off [fixed]"
        assert f["rx-checksumming"] and f["tx-checksumming"] and not f["large-receive-offload"]

        r = et.rings(dev)
        jsonschema.validate(r.to_dict(), SCHEMAS["-g"])
        assert (r.rx, r.tx, r.rx_max, r.tx_max) == (2048, 2048, 65536, 65536)
        assert (r.umem_frames, r.umem_frame_size) == (16384, 4096)

        c = et.coalesce(dev)
        jsonschema.validate(c.to_dict(), SCHEMAS["-c"])
        assert (c.rx_frames, c.rx_usecs, c.adaptive_rx) == (64, 0, True)
        assert c.tx_usecs is None and c.adaptive_tx is None

        ch = et.channels(dev)
        jsonschema.validate(ch.to_dict(), SCHEMAS["-l"])
        assert (ch.combined, ch.combined_max, ch.rx, ch.rx_max) == (1, 1, None, None)

        x = et.rss(dev)
        jsonschema.validate(x.to_dict(), SCHEMAS["-x"])
        assert x.indirection == (0,) * 128 and x.key == DEFAULT_RSS_KEY and x.hfunc == "toeplitz"

        xs = et.xdp_support(dev)
        assert xs.native and not xs.zero_copy

    s = et.stats(pb)
    jsonschema.validate(s.to_dict(), SCHEMAS["-S"])
    direct = pb.ethtool_stats()
    assert [k for k, _v in s] == list(direct)
    assert "rx_queue_0_packets" in direct and "tx_queue_0_gso_segments" in direct
    # counters only grow
    again = dict(et.stats(f"port:{pair.nb}").items)
    assert all(again[k] >= v for k, v in s)


# --- the CLI, in this process and from another one -------------------------------------------------

READ_VERBS = ("-i", "-k", "-g", "-c", "-l", "-S", "-x")


@privileged
def test_cli_text_and_json_in_process_and_over_the_control_socket(
    pair: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = f"port:{pair.na}"
    local: dict[str, tuple[str, dict[str, Any]]] = {}
    for verb in READ_VERBS:
        code, text, err = xdpkt_cli(capsys, verb, dev)
        assert code == 0, err
        code, js, err = xdpkt_cli(capsys, verb, dev, "--json")
        assert code == 0, err
        doc = json.loads(js)
        jsonschema.validate(doc, SCHEMAS[verb])
        local[verb] = (text, doc)
    k = local["-k"][0].splitlines()
    assert k[0] == f"Features for {dev}:"
    assert "rx-checksumming: on [fixed]" in k and "generic-receive-offload: on" in k
    assert "\ttx-tcp-segmentation: on" in k and "large-receive-offload: off [fixed]" in k
    assert "rx-udp-gro-forwarding: off" in k and "tx-udp-segmentation: on" in k
    g = local["-g"][0].splitlines()
    assert g[:2] == [f"Ring parameters for {dev}:", "Pre-set maximums:"]
    assert g[-2:] == ["UMEM frames:\t\t16384", "UMEM frame size:\t4096"]
    i = local["-i"][0].splitlines()
    assert i[0] == "driver: xdpkt" and i[1] == f"version: {xdpkt.__version__}"
    assert i[10] == "xdp-native: yes"
    assert "rx-usecs: 0" in local["-c"][0].splitlines() and "rx-frames: 64" in local["-c"][0].splitlines()

    # The same verbs from another process: only the control socket reaches the Ports there.
    results = remote(*([v, dev] for v in READ_VERBS), *([v, dev, "--json"] for v in READ_VERBS))
    n = len(READ_VERBS)
    for verb, (code, out, err), (jcode, jout, jerr) in zip(READ_VERBS, results[:n], results[n:], strict=True):
        assert code == 0 and jcode == 0, (verb, err, jerr)
        doc = json.loads(jout)
        jsonschema.validate(doc, SCHEMAS[verb])
        if verb == "-S":  # counters move between the two reads; the names may not
            assert list(doc["stats"]) == list(local[verb][1]["stats"])
            assert out.splitlines()[0] == "NIC statistics:"
        else:
            assert out == local[verb][0], verb
            assert doc == local[verb][1], verb

    code, out, err = xdpkt_cli(capsys, "--list-ports", "--json")
    assert code == 0, err
    mine = [p for p in json.loads(out) if p["name"] in (pair.na, pair.nb)]
    assert [p["state"] for p in mine] == ["forwarding", "forwarding"]
    [(code, out, err), (jcode, jout, _)] = remote(["--list-ports"], ["--list-ports", "--json"])
    assert code == 0 and jcode == 0, err
    ports = json.loads(jout)
    jsonschema.validate(ports, PORTS_SCHEMA)
    mine = [p for p in ports if p["name"] in (pair.na, pair.nb)]
    assert mine == [
        {"name": pair.na, "pid": os.getpid(), "ifname": pair.a.ifname, "netns": pair.t.m.name,
         "channels": 1, "mode": pair.a.mode, "state": "forwarding"},
        {"name": pair.nb, "pid": os.getpid(), "ifname": pair.b.ifname, "netns": pair.t.m.name,
         "channels": 1, "mode": pair.b.mode, "state": "forwarding"},
    ]  # fmt: skip
    header = out.splitlines()[0].split()
    assert header == ["NAME", "PID", "INTERFACE", "NETNS", "CHANNELS", "MODE", "STATE"]
    assert any(line.split()[:2] == [pair.na, str(os.getpid())] for line in out.splitlines())


@privileged
def test_changes_and_errors_cross_the_control_socket(pair: Pair) -> None:
    pa, pb = pair.a, pair.b
    da, db = f"port:{pair.na}", f"port:{pair.nb}"
    results = remote(
        ["-K", da, "rx-gro", "off"],
        ["-C", db, "rx-usecs", "40", "rx-frames", "16", "adaptive-rx", "off", "--json"],
        ["-C", db, "tx-usecs", "5"],
        ["-C", db, "rx-frames", "0"],
        ["-L", da, "combined", "9"],
        ["-X", da, "equal", "1"],
        ["-G", da, "rx-mini", "64"],
        ["-k", "port:no-such-port-xyz"],
    )
    (k, c, c_tx, c_zero, l9, x, g_mini, missing) = results
    assert k == (0, "", ""), k
    assert not pa.features()["rx-gro"] and pb.features()["rx-gro"]
    assert c[0] == 0, c
    jsonschema.validate(json.loads(c[1]), SCHEMAS["-C"])
    assert pb.coalesce() == {"rx-frames": 16, "rx-usecs": 40, "adaptive-rx": False, "busy-usecs": 50}
    assert c_tx[0] == 1 and "coalescing parameter tx-usecs not supported by xdpkt" in c_tx[2], c_tx
    assert "it supports: rx-usecs, rx-frames, adaptive-rx" in c_tx[2]
    assert c_zero[0] == 2 and "rx_frames: an integer in 1..4096, got 0" in c_zero[2], c_zero
    assert l9[0] == 2 and "combined: 9 outside 1..1" in l9[2], l9
    assert x[0] == 1 and "the Port is forwarding" in x[2] and "stop forwarding first" in x[2], x
    assert g_mini[0] == 1 and "ring parameter rx-mini not supported by xdpkt" in g_mini[2], g_mini
    assert missing[0] == 1 and "no Port named 'no-such-port-xyz' is running" in missing[2], missing
    # From Python over the socket (served by this process's own control thread): the same types.
    r = _control.connect(pair.nb)
    assert r is not None and r.pid == os.getpid() and r.ifname == db
    with pytest.raises(et.NotSupportedError, match="tx-usecs not supported") as ei:
        r.set_coalesce({"tx_usecs": 5})
    assert ei.value.errno == 95
    with pytest.raises(ValueError, match="combined: 3 outside"):
        r.set_channels({"combined": 3})
    with pytest.raises(ValueError, match="unknown feature 'rx-nonsense'"):
        r.set_features({"rx-nonsense": True})
    assert r.features() == pb.ethtool_backend().features()
    assert r.rings() == et.rings(pb) and r.rss() == et.rss(pb) and r.channels() == et.channels(pb)


# --- -K: live, dependent changes as ethtool reports them ------------------------------------------


@privileged
def test_K_segmentation_is_one_switch_reported_as_dependent_changes(
    pair: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = f"port:{pair.na}"
    code, out, err = xdpkt_cli(capsys, "-K", dev, "tx-tcp-segmentation", "off")
    assert code == 0, err
    assert out == (
        "Actual changes:\n"
        "tx-generic-segmentation: off [not requested]\n"
        "tx-tcp-segmentation: off\n"
        "tx-tcp-ecn-segmentation: off [not requested]\n"
        "tx-tcp6-segmentation: off [not requested]\n"
        "tx-udp-segmentation: off [not requested]\n"
    )
    assert not pair.a.features()["generic-segmentation-offload"]
    code, out, err = xdpkt_cli(capsys, "-K", dev, "gso", "on", "--json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS["-K"])
    assert doc["changed"] == ["tx-generic-segmentation"] and doc["ok"]
    assert doc["side_effects"] == {n: True for n in GSO_GROUP if n != "tx-generic-segmentation"}
    # Asking one member off and another on: off wins (one switch), the other is reported.
    code, out, err = xdpkt_cli(capsys, "-K", dev, "tx-tcp-segmentation", "off", "tx-udp-segmentation", "on")
    assert code == 1
    assert "tx-udp-segmentation: off [requested on]" in out.splitlines()
    assert "not changed: tx-udp-segmentation (requested on, stays off)" in err
    # Fixed features: refused, named fixed, and nothing changed at all.
    code, out, err = xdpkt_cli(capsys, "-K", dev, "lro", "on")
    assert code == 1 and out == "Actual changes:\nrx-lro: off [requested on]\n"
    assert "Could not change any device features" in err and "(requested on, fixed off on xdpkt)" in err
    with pytest.raises(et.FeatureChangeError) as ei:
        et.set_features(pair.a, {"rx-checksum": False})
    assert ei.value.change.fixed == ("rx-checksum",)
    with pytest.raises(ValueError, match="unknown feature 'bogus'"):
        et.set_features(pair.a, {"bogus": True})
    with pytest.raises(ValueError, match=r"'ufo' stands for tx-udp-fragmentation, which an xdpkt Port"):
        et.set_features(pair.a, {"ufo": False})


@privileged
def test_K_udp_gro_forwarding_needs_rx_gro(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    dev = f"port:{pair.na}"
    assert xdpkt_cli(capsys, "-K", dev, "rx-udp-gro-forwarding", "on")[0] == 0
    assert pair.a.features()["rx-udp-gro-forwarding"]
    code, out, err = xdpkt_cli(capsys, "-K", dev, "gro", "off")
    assert code == 0, err
    assert out == "Actual changes:\nrx-gro: off\nrx-udp-gro-forwarding: off [not requested]\n"
    assert et.features(pair.a).feature("rx-udp-gro-forwarding").state == "off [requested on]"
    code, out, err = xdpkt_cli(capsys, "-k", dev)
    assert "rx-udp-gro-forwarding: off [requested on]" in out.splitlines()
    code, out, err = xdpkt_cli(capsys, "-K", dev, "rx-gro", "on")
    assert code == 0 and out == "Actual changes:\nrx-gro: on\nrx-udp-gro-forwarding: on [not requested]\n"
    assert pair.a.features()["rx-udp-gro-forwarding"]
    # Without GRO, UDP GRO forwarding cannot come on: asked for, kept as wanted, reported failed.
    assert xdpkt_cli(capsys, "-K", dev, "rx-gro", "off")[0] == 0
    assert xdpkt_cli(capsys, "-K", dev, "rx-udp-gro-forwarding", "off")[0] == 0
    code, out, err = xdpkt_cli(capsys, "-K", dev, "rx-udp-gro-forwarding", "on")
    assert code == 1 and "not changed: rx-udp-gro-forwarding (requested on, stays off)" in err


@privileged
def test_K_rx_gro_off_on_a_live_port_stops_and_restarts_coalescing(
    pair: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    """-K rx-gro off while a kernel TCP stream crosses the Ports: no new aggregates; on: again."""
    pa, dev = pair.a, f"port:{pair.na}"
    with TcpStream(pair.t, 6.0) as s:
        time.sleep(0.7)
        assert pa.stats()["rx_gro_aggregates"] > 0, pa.stats()
        assert remote(["-K", dev, "rx-gro", "off"]) == [(0, "", "")]
        time.sleep(0.3)  # the workers apply it between two polls
        off = pa.stats()["rx_gro_aggregates"]
        packets = pa.stats()["rx_packets"]
        time.sleep(0.6)
        now = pa.stats()
        assert now["rx_gro_aggregates"] == off, (off, now["rx_gro_aggregates"])
        assert now["rx_packets"] > packets  # traffic went on, unmerged
        code, _out, err = xdpkt_cli(capsys, "-K", dev, "rx-gro", "on")
        assert code == 0, err
        deadline = time.monotonic() + 2.0
        while pa.stats()["rx_gro_aggregates"] == off and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pa.stats()["rx_gro_aggregates"] > off
        assert s.threads[1].is_alive()  # all of that while the stream still ran
    assert s.intact(), (s.nsent, s.nrecv, s.error)
    pa.stop()
    _accounted(pa)


# --- -C, -G, -L ---------------------------------------------------------------------------------


@privileged
def test_C_is_live_and_refuses_what_a_port_lacks(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    dev = f"port:{pair.na}"
    code, out, err = xdpkt_cli(capsys, "-C", dev, "rx-usecs", "200", "rx-frames", "32", "--json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS["-C"])
    assert (doc["rx_usecs"], doc["rx_frames"], doc["adaptive_rx"]) == (200, 32, True)
    assert pair.a.coalesce()["rx-usecs"] == 200 and pair.a.forwarding
    c = et.set_coalesce(pair.a, adaptive_rx=False)
    assert c.adaptive_rx is False and pair.a.coalesce()["adaptive-rx"] is False
    code, out, err = xdpkt_cli(capsys, "-C", dev, "tx-frames", "4", "pkt-rate-low", "1")
    assert code == 1 and out == ""
    assert "coalescing parameter tx-frames, pkt-rate-low not supported by xdpkt" in err
    with pytest.raises(ValueError, match=r"rx_usecs: an integer in 0\.\.1000000, got 2000000"):
        et.set_coalesce(pair.a, rx_usecs=2_000_000)
    with pytest.raises(ValueError, match=r"adaptive_rx: True or False"):
        et.set_coalesce(pair.a, adaptive_rx=1)
    with pytest.raises(ValueError, match=r"bogus: not a settable parameter"):
        et.set_coalesce(pair.a, bogus=1)


@privileged
def test_G_reopens_the_pair_and_keeps_live_settings(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    pa, pb = pair.a, pair.b
    pa.set_features(gro=False)
    pb.set_coalesce(rx_usecs=30)
    code, out, err = xdpkt_cli(capsys, "-G", f"port:{pair.nb}", "rx", "512", "--json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMAS["-G"])
    assert (doc["rx"], doc["tx"]) == (512, 512)
    assert pb.config.ring_size == 512 and pa.config.ring_size == 2048
    assert pa.forwarding and pb.forwarding
    # What was changed live carried over into the reopened Ports.
    assert not pa.features()["rx-gro"] and pb.coalesce()["rx-usecs"] == 30 and not pa.config.gro
    # UMEM geometry is the pair's: both report it.
    [(code, _o, err)] = remote(["-G", f"port:{pair.na}", "umem-frames", "8192"])
    assert code == 0, err
    assert et.rings(pa).umem_frames == et.rings(pb).umem_frames == 8192 == pb.config.frames
    pa.stop()
    assert _accounted(pa)["total"] == 8192
    pa.forward_to(pb)
    for argv, message in (
        (("rx", "1000"), "rx: 1000: a power of two between 64 and 65536"),
        (("rx", "512", "tx", "1024"), "rx 512 and tx 1024: an xdpkt Port has one ring size"),
        (("umem-frame-size", "1000"), "umem_frame_size: 2048 or 4096, got 1000"),
        (("rx-huge", "1"), "unknown parameter 'rx-huge'"),
    ):
        code, _o, err = xdpkt_cli(capsys, "-G", f"port:{pair.na}", *argv)
        assert code == 2 and message in err, (argv, err)
    code, _o, err = xdpkt_cli(capsys, "-G", f"port:{pair.na}", "tx-push", "on")
    assert code == 1 and "ring parameter tx-push not supported by xdpkt" in err
    assert pa.forwarding and pa.config.ring_size == 2048  # nothing changed by the refusals
    # What the kernel refuses while opening: the old configuration comes back, forwarding too.
    # (veth has no zero-copy AF_XDP.)
    with pytest.raises(OSError, match="zero") as ei:
        pa.reconfigure(mode="zerocopy")
    assert "reconfigure: the previous configuration was reopened" in getattr(ei.value, "__notes__", [])
    assert pa.forwarding and pa.config.mode == "auto" and pa.config.frames == 8192
    assert et.rings(pa).umem_frames == 8192


def _device_rx_queues(t: ForwardTopology, ifname: str) -> int:
    ch = et.channels(ifname, netns=t.m.name)
    return (ch.rx or 0) + (ch.combined or 0)


@privileged
def test_L_combined_1_on_a_forwarding_pair_with_tcp_streams() -> None:
    """-L combined 1 on a 2-queue pair under two TCP streams: both Ports go to one queue, and so do
    their devices (a queue without a socket would pass its packets by the Port); back to 2."""
    with _pair(queues=2, channels=2) as pair:
        pa, pb, t = pair.a, pair.b, pair.t
        dev = f"port:{pair.na}"
        assert et.channels(pa).combined_max == 2
        with TcpStream(t, 6.0, port=5401) as s1, TcpStream(t, 6.0, port=5402) as s2:
            time.sleep(0.6)
            assert pa.stats()["rx_packets"] > 0
            mode = pa.mode
            [(code, out, err)] = remote(["-L", dev, "combined", "1", "--json"])
            assert code == 0, err
            if pa.mode != mode:  # e.g. veth: native XDP needs as many RX queues as the peer sends on
                assert f"note: {dev} was {pa.ifname} in {t.m.name} ({mode} mode), now" in err, err
            doc = json.loads(out)
            jsonschema.validate(doc, SCHEMAS["-L"])
            assert (doc["combined"], doc["combined_max"]) == (1, 2)
            assert pa.channels == pb.channels == 1 and pa.config.channels == pb.config.channels == 1
            assert pa.forwarding and pb.forwarding
            assert _device_rx_queues(t, t.m_a.ifname) == _device_rx_queues(t, t.m_b.ifname) == 1
            assert len(pa.queue_stats()) == 1 and "rx_queue_1_packets" not in pa.ethtool_stats()
            time.sleep(1.0)
            moved = pa.stats()["rx_packets"], pb.stats()["rx_packets"]
            assert all(moved), moved  # counters restarted; both directions flow through one queue
            assert s1.threads[1].is_alive() and s2.threads[1].is_alive()
            assert et.set_channels(pb, combined=2).combined == 2
            assert pa.channels == pb.channels == 2 and pa.forwarding
            assert _device_rx_queues(t, t.m_a.ifname) == 2
        for s in (s1, s2):
            assert s.intact(), (s.nsent, s.nrecv, s.error)
        pa.stop()
        for p in (pa, pb):
            _accounted(p)
            assert p.stats()["xsk_rx_invalid_descs"] == 0
        # -X on the idle Port: the software RSS that Port.send steers with; a reopen keeps it.
        key = bytes(range(40))
        hkey = ":".join(f"{b:02x}" for b in key)
        [(code, out, err)] = remote(["-X", dev, "weight", "1", "3", "hkey", hkey])
        assert code == 0, err
        table = [0] * 32 + [1] * 96
        assert pa.rss()["indirection"] == table and pa.rss()["key"] == key
        x = et.rss(dev)
        assert list(x.indirection) == table and x.key == key and x.hfunc == "toeplitz"
        et.set_rings(pa, rx=1024)
        assert pa.rss()["indirection"] == table and pa.rss()["key"] == key
        assert list(et.set_rss(pa, default=True).indirection) == [i % 2 for i in range(128)]
        with pytest.raises(ValueError, match=r"hfunc: toeplitz"):
            et.set_rss(pa, hfunc="xor")
        with pytest.raises(ValueError, match=r"ring numbers in 0\.\.1, got 2"):
            et.set_rss(pa, indirection=[2] * 128)
        pa.forward_to(pb)
        assert list(et.rss(pa).indirection) == [i % 2 for i in range(128)]  # as last read, idle


@privileged
def test_reconfigure_refuses_while_python_holds_frames() -> None:
    """Frames in a Batch that Python still holds: reconfigure refuses and changes nothing."""
    with ForwardTopology(queues=1, tag="ethr") as t:
        with xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name) as p:
            tx = netns.open_packet_socket(t.a.ns, t.a.ifname, protocol=0)
            frame = bytes.fromhex("ffffffffffff") + t.a.mac + b"\x08\x06" + bytes(28)
            with tx:
                deadline = time.monotonic() + 5
                batch = p.recv(timeout=0.2)
                while not len(batch) and time.monotonic() < deadline:
                    batch.close()
                    tx.send(frame)
                    batch = p.recv(timeout=0.2)
            assert len(batch)
            with pytest.raises(RuntimeError, match=r"held by Python \(close every Batch"):
                p.reconfigure(ring_size=1024)
            assert p.config.ring_size == 2048 and not p.closed
            batch.close()
            p.reconfigure(ring_size=1024)
            assert p.config.ring_size == 1024 and et.rings(p).rx == 1024
            with pytest.raises(ValueError, match=r"cannot change 'ifname'; changeable:"):
                p.reconfigure(ifname="eth9")
            with pytest.raises(ValueError, match=r"PortConfig\.ring_size=100"):
                p.reconfigure(ring_size=100)
            p.reconfigure(budget=16)  # live: no reopening
            assert p.coalesce()["rx-frames"] == 16 and p.config.budget == 16
        with pytest.raises(OSError, match="closed"):
            p.reconfigure(ring_size=512)
        with pytest.raises(et.NoSuchDeviceError, match="the Port is closed"):
            et.features(p)


# --- names and control sockets -------------------------------------------------------------------

_HOLDER = r"""
import sys, xdpkt
p = xdpkt.Port(ifname=sys.argv[1], netns=sys.argv[2], name=sys.argv[3])
print("ready", flush=True)
sys.stdin.read()
"""


@privileged
def test_names_are_unique_and_sockets_private_and_cleaned_up() -> None:
    name = _name("n")
    path = _control.socket_path(name)
    with ForwardTopology(queues=1, tag="ethn") as t:
        with xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name, name=name) as p:
            st = os.stat(path)
            assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
            assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) & 0o077 == 0
            assert p.name == name and f"name={name!r}" in repr(p)
            with pytest.raises(ValueError, match="already running in this process"):
                xdpkt.Port(ifname=t.m_b.ifname, netns=t.m.name, name=name)
            assert et.features(f"port:{name}").ifname == f"port:{name}"
        assert not os.path.exists(path)
        with pytest.raises(et.NoSuchDeviceError, match=f"no Port named '{name}'"):
            et.features(f"port:{name}")
        with pytest.raises(ValueError, match=r"name='a/b': 1 to 64 letters"):
            xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name, name="a/b")

        # Another process holds the name: refused, naming its pid; once it is killed, its socket
        # is stale and the name free again.
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, t.m_b.ifname, t.m.name, name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
            with pytest.raises(ValueError, match=rf"already running \(pid {holder.pid}, {t.m_b.ifname}"):
                xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name, name=name)
            r = _control.connect(name)
            assert r is not None and r.pid == holder.pid
            assert et.driver_info(f"port:{name}").bus_info.startswith(t.m_b.ifname)
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait(10)
            if holder.stdin is not None:
                holder.stdin.close()
            if holder.stdout is not None:
                holder.stdout.close()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)  # left behind by the killed process
        with pytest.raises(et.NoSuchDeviceError, match="no control socket answers"):
            et.features(f"port:{name}")
        assert name not in [d["name"] for d in et.list_ports()]
        with xdpkt.Port(ifname=t.m_a.ifname, netns=t.m.name, name=name):
            assert _control.connect(name) is not None
        assert not os.path.exists(path)


# --- no privileges needed ----------------------------------------------------------------------


def test_results_cross_the_socket_unchanged() -> None:
    values: list[Any] = [
        et.Features(
            "port:x", (et.Feature("rx-gro", True, True, False), et.Feature("rx-lro", False, False, True))
        ),
        et.FeatureChange(
            "port:x", {"rx-gro": False}, ("rx-gro",), (), {}, (), {"rx-udp-gro-forwarding": False},
            ("rx-gro: off",), False,
        ),
        et.Rss("port:x", 2, (0, 1) * 64, DEFAULT_RSS_KEY, (("toeplitz", True), ("xor", False))),
        et.Stats("port:x", (("rx_packets", 1), ("rx_packets", 2))),
        et.DriverInfo(
            "port:x", "xdpkt", "1", "", "", "b", 0, 3, 0, 0, 0,
            et.XdpSupport("v", True, True, False, ("basic",), None, (), ()), None, None,
        ),
        et.Vpd("card", (("PN", b"\x01\xff"),), (), True, 9),
        {"nested": [1, (2, b"\x00")]},
    ]  # fmt: skip
    for v in values:
        assert _control.decode(json.loads(json.dumps(_control.encode(v)))) == v
    with pytest.raises(TypeError, match="cannot send a object"):
        _control.encode(object())
    with pytest.raises(ValueError, match=r"unknown result type 'os\.system'"):
        _control.decode({"$type": "os.system", "fields": {}})


def test_errors_keep_their_type_and_message() -> None:
    class Unknown(et.NotSupportedError):
        pass

    for e in (
        et.NotSupportedError("x not supported by xdpkt"),
        et.NoSuchDeviceError("gone"),
        ValueError("rx: bad"),
        PermissionError(1, "needs CAP_NET_ADMIN"),
        TimeoutError(110, "slow"),
        Unknown("sub"),
        KeyError("no feature named 'x'"),
    ):
        back = _control._rebuild_error(json.loads(json.dumps(_control._error_doc(e))))
        want = et.NotSupportedError if isinstance(e, Unknown) else type(e)
        assert type(back) is want, (e, back)
        assert str(back).strip("'") == str(e).strip("'") or getattr(back, "strerror", None) == e.args[-1]
        if isinstance(e, OSError):
            assert isinstance(back, OSError) and back.errno == e.errno


def test_list_ports_skips_stale_sockets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDPKT_RUN_DIR", str(tmp_path))
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "port-dead.sock"))
    stale.close()  # the file stays, nobody listens: what a killed process leaves
    (tmp_path / "port-notasocket.sock").write_text("")
    code, out, err = xdpkt_cli(capsys, "--list-ports")
    assert code == 0 and out == "no xdpkt Port is running\n", (out, err)
    code, out, _err = xdpkt_cli(capsys, "--list-ports", "--json")
    assert code == 0 and json.loads(out) == []
    code, _out, err = xdpkt_cli(capsys, "-k", "port:dead")
    assert code == 1 and f"no control socket answers at {tmp_path}/port-dead.sock" in err
    code, _out, err = xdpkt_cli(capsys, "--list-ports", "lo")
    assert code == 2 and "--list-ports takes no device" in err
    code, _out, err = xdpkt_cli(capsys)
    assert code == 2 and "give a device" in err
