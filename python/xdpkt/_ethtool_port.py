"""The ethtool backend of an ``xdpkt.Port``: the Port's software device answers ethtool's verbs.

What each verb means on a Port (docs/ethtool.md, "Ports"):

- ``-i``: driver ``xdpkt``, the package version, bus-info = the interface, its namespace and the AF_XDP
  mode; the XDP lines are the interface's (what the device under the Port supports).
- ``-k`` / ``-K``: the Port's software offloads under the kernel's feature names. Three switches can
  change, live (the workers apply them between two polls): GRO (``rx-gro``), UDP GRO forwarding
  (``rx-udp-gro-forwarding``, which needs ``rx-gro``) and GSO (one switch for
  ``tx-generic-segmentation``, ``tx-tcp-segmentation``, ``tx-tcp-ecn-segmentation``,
  ``tx-tcp6-segmentation`` and ``tx-udp-segmentation``: changing one changes all, reported as
  ethtool reports dependent changes). The rest are what the engine always does (``on [fixed]``) or
  never does (``off [fixed]``).
- ``-g`` / ``-G``: one ring size for RX, TX, fill and completion rings; the UMEM geometry after it.
  A change reopens the Port (:meth:`xdpkt.Port.reconfigure`).
- ``-c`` / ``-C``: ``rx-frames`` = NAPI budget, ``rx-usecs`` = how long GRO may hold an aggregate once
  the ring ran dry, ``adaptive-rx``; live.
- ``-l`` / ``-L``: combined channels = the Port's queues, at most the interface's queues; a change
  reopens the Port (and its forwarding partner: ``forward_to`` needs equal channels).
- ``-S``: :meth:`xdpkt.Port.ethtool_stats` (totals, then ``rx_queue_N_*`` / ``tx_queue_N_*``).
- ``-x`` / ``-X``: the Port's software RSS (``Port.rss()``: 128 entries, Toeplitz, default key of
  Microsoft's RSS specification), which steers the flows ``Port.send`` transmits; changed only
  while the Port is idle (the Rust Port answers it only then; while forwarding ``-x`` shows the
  table last read idle).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from xdpkt import ethtool as et
from xdpkt._xdpkt import __version__

if TYPE_CHECKING:
    from xdpkt.port import Port

__all__ = ["DEFAULT_RSS_KEY", "FEATURE_NAMES", "RSS_TABLE_SIZE", "PortBackend"]

_log = logging.getLogger("xdpkt")

DRIVER: Final = "xdpkt"

# The kernel's feature names (ETH_SS_FEATURES), in the kernel's bit order, that a Port reports.
FEATURE_NAMES: Final = (
    "tx-scatter-gather", "tx-checksum-ipv4", "tx-checksum-ip-generic", "tx-checksum-ipv6", "highdma",
    "tx-scatter-gather-fraglist", "tx-vlan-hw-insert", "rx-vlan-hw-parse", "rx-vlan-filter",
    "vlan-challenged", "tx-generic-segmentation", "rx-gro", "rx-lro", "tx-tcp-segmentation",
    "tx-gso-robust", "tx-tcp-ecn-segmentation", "tx-tcp-mangleid-segmentation", "tx-tcp6-segmentation",
    "tx-fcoe-segmentation", "tx-gre-segmentation", "tx-gre-csum-segmentation", "tx-ipxip4-segmentation",
    "tx-ipxip6-segmentation", "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation",
    "tx-gso-partial", "tx-tunnel-remcsum-segmentation", "tx-sctp-segmentation", "tx-esp-segmentation",
    "tx-udp-segmentation", "tx-gso-list", "tx-checksum-fcoe-crc", "tx-checksum-sctp", "rx-ntuple-filter",
    "rx-hashing", "rx-checksum", "tx-nocache-copy", "loopback", "rx-fcs", "rx-all",
    "tx-vlan-stag-hw-insert", "rx-vlan-stag-hw-parse", "rx-vlan-stag-filter", "l2-fwd-offload",
    "hw-tc-offload", "esp-hw-offload", "esp-tx-csum-hw-offload", "rx-udp_tunnel-port-offload",
    "tls-hw-tx-offload", "tls-hw-rx-offload", "rx-gro-hw", "tls-hw-record", "rx-gro-list",
    "macsec-hw-offload", "rx-udp-gro-forwarding", "hsr-tag-ins-offload", "hsr-tag-rm-offload",
    "hsr-fwd-offload", "hsr-dup-offload",
)  # fmt: skip

# Feature -> the Port switch it is (Port.set_features keyword).
_SWITCH: Final = {
    "rx-gro": "gro",
    "rx-udp-gro-forwarding": "gro_udp",
    "tx-generic-segmentation": "gso",
    "tx-tcp-segmentation": "gso",
    # GSO sets CWR on the first segment only, as the kernel's tcp_gso_segment does for SKB_GSO_TCP_ECN.
    "tx-tcp-ecn-segmentation": "gso",
    "tx-tcp6-segmentation": "gso",
    "tx-udp-segmentation": "gso",
}
# What the engine always does, whatever the switches say.
_ALWAYS_ON: Final = frozenset(
    {
        "tx-scatter-gather",  # a packet is a head frame plus a fragment list (GRO aggregates span frames)
        "tx-checksum-ip-generic",  # GSO and GRO write full TCP/UDP checksums, IPv4 and IPv6
        "highdma",  # no DMA: any memory will do, as for veth
        "rx-checksum",  # GRO checks every checksum; a bad one passes through unmerged, counted
    }
)

RSS_TABLE_SIZE: Final = 128
# The verification key of Microsoft's RSS specification (xdpkt::rss::DEFAULT_KEY).
DEFAULT_RSS_KEY: Final = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
)
_RSS_HFUNCS: Final = (("toeplitz", True), ("xor", False), ("crc32", False))

_RING_MAX: Final = 65536
_POOL_RELEASE_WAIT: Final = 2.0  # seconds
_RING_SUPPORTED: Final = ("rx", "tx", "umem_frames", "umem_frame_size")
_COALESCE_SUPPORTED: Final = ("rx_usecs", "rx_frames", "adaptive_rx")
_COALESCE_RANGES: Final = {"rx_usecs": (0, 1_000_000), "rx_frames": (1, 4096)}


def _dash(names: Sequence[str]) -> str:
    return ", ".join(n.replace("_", "-") for n in names)


def _netns_name(netns: str | None) -> str | None:
    """A Port's netns (a name or a path) as a name under /var/run/netns, or None if it is not one."""
    if netns is None or "/" not in netns:
        return netns
    head, _, tail = netns.rpartition("/")
    return tail if head in ("/var/run/netns", "/run/netns") and tail else None


class PortBackend:
    """:class:`xdpkt.ethtool.EthtoolBackend` for one Port. Made by ``Port.ethtool_backend()``."""

    def __init__(self, port: Port) -> None:
        self._port = port
        # rx-udp-gro-forwarding as requested: kept while rx-gro is off (the engine drops UDP GRO with
        # GRO), so that it shows "off [requested on]" and comes back with rx-gro, as the kernel keeps
        # a device's wanted features while a dependency is off.
        self._want_udp = port.config.gro_udp
        self._lock = threading.Lock()
        self._rss: tuple[int, et.Rss] | None = None  # (channels, table) last read while idle

    @property
    def ifname(self) -> str:
        """``port:NAME`` for a named Port (the name ethtool was given), else the interface's name."""
        name = self._port.name
        return f"port:{name}" if name is not None else self._port.ifname

    def __repr__(self) -> str:
        return f"PortBackend({self._port!r})"

    def _where(self) -> str:
        return f"{self.ifname} on {self._port.ifname}" if self._port.name is not None else self.ifname

    def _check_open(self) -> None:
        if self._port.closed:
            raise et.NoSuchDeviceError(f"{self.ifname}: the Port is closed")

    def _kernel_device(self) -> et.KernelDevice | None:
        netns = self._port.config.netns
        ns = _netns_name(netns)
        if netns is not None and ns is None:
            return None
        return et.KernelDevice(self._port.ifname, netns=ns)

    # -- -i

    def driver_info(self) -> et.DriverInfo:
        self._check_open()
        p = self._port
        where = f" in {p.config.netns}" if p.config.netns else ""
        try:
            xdp: et.XdpSupport | None = self.xdp_support()
        except OSError:
            xdp = None
        return et.DriverInfo(
            ifname=self.ifname,
            driver=DRIVER,
            version=__version__,
            firmware_version="",
            expansion_rom_version="",
            bus_info=f"{p.ifname}{where} ({p.mode} mode)",
            n_priv_flags=0,
            n_stats=len(self.stats()),
            testinfo_len=0,
            eedump_len=0,
            regdump_len=0,
            xdp=xdp,
            vpd=None,
            vpd_error=None,
        )

    def xdp_support(self) -> et.XdpSupport:
        """The interface's XDP support: what the device under the Port offers."""
        self._check_open()
        dev = self._kernel_device()
        if dev is None:
            raise et.NotSupportedError(
                f"XDP features of {self._port.ifname} not supported here: its namespace "
                f"{self._port.config.netns} is not under /var/run/netns"
            )
        return dev.xdp_support()

    # -- -k / -K

    def _switches(self) -> tuple[bool, bool, bool]:
        f = self._port.features()
        gro, udp, gso = f["rx-gro"], f["rx-udp-gro-forwarding"], f["tx-tcp-segmentation"]
        if gro:
            # With GRO on the engine says what UDP GRO is (also after Port.set_features directly).
            self._want_udp = udp
        return gro, udp, gso

    def features(self) -> et.Features:
        self._check_open()
        gro, udp, gso = self._switches()
        active = {"gro": gro, "gro_udp": udp, "gso": gso}
        items = []
        for name in FEATURE_NAMES:
            switch = _SWITCH.get(name)
            if switch is None:
                on = name in _ALWAYS_ON
                items.append(et.Feature(name, on, on, True))
                continue
            now = active[switch]
            wanted = now or (switch == "gro_udp" and self._want_udp and not gro)
            items.append(et.Feature(name, now, wanted, False))
        return et.Features(self.ifname, tuple(items))

    def set_features(self, changes: Mapping[str, bool]) -> et.FeatureChange:
        if not changes:
            raise ValueError("features: give at least one feature name -> True/False")
        wanted, _bits = et.expand_features(changes, FEATURE_NAMES, device=f"an xdpkt Port ({self.ifname})")
        with self._lock:
            before = self.features()
            bef = {f.name: f for f in before}
            gso_asked = [v for n, v in wanted.items() if _SWITCH.get(n) == "gso"]
            # One switch for every segmentation feature: a request to turn any of them off wins, as
            # the kernel's fix-ups turn off what a disabled dependency needs.
            gso = all(gso_asked) if gso_asked else None
            gro = wanted.get("rx-gro", bef["rx-gro"].active)
            if "rx-udp-gro-forwarding" in wanted:
                self._want_udp = wanted["rx-udp-gro-forwarding"]
            self._port.set_features(gro=gro, gro_udp=self._want_udp and gro, gso=gso)
            after = self.features()
        aft = {f.name: f for f in after}
        changed: list[str] = []
        unchanged: list[str] = []
        fixed: list[str] = []
        failed: dict[str, bool] = {}
        for name, value in wanted.items():
            now = aft[name].active
            if now != value:
                failed[name] = now
                if aft[name].fixed:
                    fixed.append(name)
            elif bef[name].active == value:
                unchanged.append(name)
            else:
                changed.append(name)
        side = {n: aft[n].active for n in FEATURE_NAMES if n not in wanted and bef[n].active != aft[n].active}
        # ethtool's "Actual changes:" from the masks a FEATURES_SET reply would carry: WANTED masks
        # the requested features whose wanted state is not the request, ACTIVE those that changed.
        wmask = {n for n, v in wanted.items() if aft[n].requested != v}
        amask = {n for n in FEATURE_NAMES if bef[n].active != aft[n].active}
        nothing_changed = wmask == set(wanted)
        lines: list[str] = []
        if wmask or amask - set(wanted):
            for n in FEATURE_NAMES:
                if n in wmask:
                    v = wanted[n]
                    lines.append(f"{n}: {_onoff(not v)} [requested {_onoff(v)}]")
                elif n in amask:
                    suffix = "" if n in wanted else " [not requested]"
                    lines.append(f"{n}: {_onoff(aft[n].active)}{suffix}")
        return et.FeatureChange(
            self.ifname, wanted, tuple(changed), tuple(unchanged), failed, tuple(fixed), side,
            tuple(lines), nothing_changed,
        )  # fmt: skip

    # -- -g / -G

    def _umem_config(self) -> tuple[int, int]:
        owner = self._port._umem_owner or self._port
        return owner.config.frames, owner.config.frame_size

    def rings(self) -> et.Rings:
        self._check_open()
        size = self._port.config.ring_size
        frames, frame_size = self._umem_config()
        return et.Rings(
            self.ifname, _RING_MAX, None, None, _RING_MAX, size, None, None, size, None, None, None, None,
            None, None, None, None, None, umem_frames=frames, umem_frame_size=frame_size,
        )  # fmt: skip

    def set_rings(self, values: Mapping[str, int | bool | str]) -> et.Rings:
        self._check_open()
        allowed = (*et.RING_SETTABLE, "umem_frames", "umem_frame_size")
        unknown = [n for n in values if n not in allowed]
        if unknown:
            raise ValueError(f"{unknown[0]}: not a settable parameter; allowed: {', '.join(allowed)}")
        if not values:
            raise ValueError(f"rings: give at least one of {', '.join(_RING_SUPPORTED)}")
        refused = [n for n in values if n not in _RING_SUPPORTED]
        if refused:
            raise et.NotSupportedError(
                f"ring parameter {_dash(refused)} not supported by {DRIVER} ({self._where()}); "
                f"it supports: {_dash(_RING_SUPPORTED)}"
            )
        for n, v in values.items():
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{n}: an integer, got {v!r}")
        changes: dict[str, Any] = {}
        rx, tx = values.get("rx"), values.get("tx")
        if rx is not None and tx is not None and rx != tx:
            raise ValueError(
                f"rx {rx} and tx {tx}: an xdpkt Port has one ring size for its RX, TX, fill and "
                "completion rings; give one value (rx and tx then both change)"
            )
        size = rx if rx is not None else tx
        if size is not None:
            if not 64 <= int(size) <= _RING_MAX or int(size) & (int(size) - 1):
                which = "rx" if rx is not None else "tx"
                raise ValueError(f"{which}: {size}: a power of two between 64 and {_RING_MAX}")
            changes["ring_size"] = size
        if "umem_frames" in values:
            changes["frames"] = values["umem_frames"]
        if "umem_frame_size" in values:
            if values["umem_frame_size"] not in (2048, 4096):
                raise ValueError(f"umem_frame_size: 2048 or 4096, got {values['umem_frame_size']!r}")
            changes["frame_size"] = values["umem_frame_size"]
        modes = self._modes()
        try:
            self._port.reconfigure(**changes)
        except ValueError as e:
            msg = str(e)
            for ours, theirs in (("ring_size", "rx/tx"), ("frames", "umem_frames")):
                msg = msg.replace(f"PortConfig.{ours}=", f"{theirs}=")
            raise ValueError(msg) from None
        self._warn_mode_change(modes)
        return self.rings()

    # -- -c / -C

    def coalesce(self) -> et.Coalesce:
        self._check_open()
        c = self._port.coalesce()
        vals: dict[str, Any] = dict.fromkeys(et.COALESCE_SETTABLE)
        vals.update(rx_usecs=c["rx-usecs"], rx_frames=c["rx-frames"], adaptive_rx=c["adaptive-rx"])
        return et.Coalesce(self.ifname, **vals)

    def set_coalesce(self, values: Mapping[str, int | bool]) -> et.Coalesce:
        self._check_open()
        unknown = [n for n in values if n not in et.COALESCE_SETTABLE]
        if unknown:
            raise ValueError(
                f"{unknown[0]}: not a settable parameter; allowed: {', '.join(et.COALESCE_SETTABLE)}"
            )
        if not values:
            raise ValueError(f"coalesce: give at least one of {', '.join(_COALESCE_SUPPORTED)}")
        refused = [n for n in values if n not in _COALESCE_SUPPORTED]
        if refused:
            raise et.NotSupportedError(
                f"coalescing parameter {_dash(refused)} not supported by {DRIVER} ({self._where()}); "
                f"it supports: {_dash(_COALESCE_SUPPORTED)}"
            )
        for n, v in values.items():
            if n == "adaptive_rx":
                if not isinstance(v, bool):
                    raise ValueError(f"adaptive_rx: True or False, got {v!r}")
                continue
            lo, hi = _COALESCE_RANGES[n]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{n}: an integer in {lo}..{hi}, got {v!r}")
        adaptive = values.get("adaptive_rx")
        self._port.set_coalesce(
            budget=_opt_int(values.get("rx_frames")),
            rx_usecs=_opt_int(values.get("rx_usecs")),
            adaptive_rx=None if adaptive is None else bool(adaptive),
        )
        return self.coalesce()

    # -- -l / -L

    def _max_channels(self) -> int:
        """The most RX queues the interface can have (what a Port can grow to), or the Port's
        channels when the device does not say."""
        current = self._port.channels
        dev = self._kernel_device()
        if dev is None:
            return current
        try:
            ch = dev.channels()
        except OSError:
            return current
        return max((ch.rx_max or 0) + (ch.combined_max or 0), current)

    def _device_queue_plan(self, n: int) -> list[tuple[et.KernelDevice, str, int]]:
        """For every Port on this UMEM (-L changes them all): its interface, which of ethtool's
        channel counts the device receives on (combined or rx), and that count now, where it is
        not ``n``. A queue the device receives on but no Port socket serves would send its packets
        past the Port (the XDP program passes them to the kernel stack)."""
        plan = []
        for p in self._port._umem_group():
            ns = _netns_name(p.config.netns)
            if p.config.netns is not None and ns is None:
                continue
            dev = et.KernelDevice(p.ifname, netns=ns)
            try:
                ch = dev.channels()
            except OSError:
                continue  # no channel counts: a single-queue device
            if ch.combined_max and ch.combined:
                key, cur = "combined", ch.combined
            elif ch.rx_max and ch.rx:
                key, cur = "rx", ch.rx
            else:
                continue
            if cur != n:
                plan.append((dev, key, cur))
        return plan

    def channels(self) -> et.Channels:
        self._check_open()
        return et.Channels(
            self.ifname, None, None, None, self._max_channels(), None, None, None, self._port.channels
        )

    def set_channels(self, values: Mapping[str, int]) -> et.Channels:
        self._check_open()
        unknown = [n for n in values if n not in et.CHANNEL_SETTABLE]
        if unknown:
            raise ValueError(
                f"{unknown[0]}: not a settable parameter; allowed: {', '.join(et.CHANNEL_SETTABLE)}"
            )
        if "combined" not in values:
            raise ValueError("channels: give combined N (an xdpkt Port has combined channels only)")
        for n, v in values.items():
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{n}: an integer, got {v!r}")
            if n != "combined" and v:
                raise ValueError(
                    f"{n}: {DRIVER} has no {n} channels (maximum n/a) on {self._where()}; "
                    "an xdpkt Port has combined channels only"
                )
        combined = values["combined"]
        limit = self._max_channels()
        if not 1 <= combined <= limit:
            raise ValueError(
                f"combined: {combined} outside 1..{limit} (the queues of {self._port.ifname}) "
                f"on {self._where()}"
            )
        plan = self._device_queue_plan(combined)

        def devices_follow() -> Callable[[], None]:
            # While the Port's sockets are closed (the kernel refuses fewer queues than bound
            # AF_XDP sockets use), the devices get the same queue count, so that every queue they
            # receive on has a socket: what ethtool -L does to a NIC's queues.
            done: list[tuple[et.KernelDevice, str, int]] = []
            try:
                for dev, key, cur in plan:
                    _set_channels_once_released(dev, key, combined)
                    done.append((dev, key, cur))
            except BaseException:
                _restore(done)
                raise
            return lambda: _restore(done)

        modes = self._modes()
        try:
            self._port.reconfigure(channels=combined, _while_closed=devices_follow if plan else None)
        except OSError as e:
            if plan and e.errno == errno.ENOSPC:
                e.add_note(
                    "on veth, XDP needs at least as many RX queues as the peer transmits on: lower the "
                    "peer's TX queues first (ethtool -L PEER tx N in the peer's namespace)"
                )
            raise
        self._warn_mode_change(modes)
        return self.channels()

    def _modes(self) -> dict[str, str]:
        return {p.ifname: p.mode for p in self._port._umem_group()}

    def _warn_mode_change(self, before: Mapping[str, str]) -> None:
        # mode="auto" takes what the kernel gives: e.g. on veth, native XDP needs at least as many RX
        # queues as the peer transmits on, so fewer queues can mean the slower skb mode.
        for p in self._port._umem_group():
            was = before.get(p.ifname)
            if was is not None and was != p.mode:
                _log.warning(
                    "xdpkt: %s on %s is in %s mode now (was %s): the kernel did not give the mode "
                    "it had with the new settings",
                    f"port:{p.name}" if p.name else "the Port", p.ifname, p.mode, was,
                )

    # -- -S

    def stats(self) -> et.Stats:
        """``Port.ethtool_stats()``, with the per-queue names made once per queue layout."""
        p = self._port
        if p.closed:
            self._check_open()
        items = p._port.ethtool_items()
        return et.Stats(self.ifname, tuple(items))

    # -- -x / -X

    def rss(self) -> et.Rss:
        """The Port's software RSS (what ``Port.send`` steers flows with). The Port answers it only
        while idle; while it forwards, the table last read (or set) here, else the default one."""
        self._check_open()
        n = self._port.channels
        try:
            r = self._port.rss()
        except RuntimeError:  # forwarding: the workers own the queues
            cached = self._rss
            if cached is not None and cached[0] == n:
                return cached[1]
            r = {"key": DEFAULT_RSS_KEY, "indirection": [i % n for i in range(RSS_TABLE_SIZE)]}
        table = tuple(int(q) for q in r["indirection"])
        result = et.Rss(self.ifname, n, table, bytes(r["key"]), _RSS_HFUNCS)
        self._rss = (n, result)
        return result

    def set_rss(self, indirection: Sequence[int] | None, key: bytes | None, hfunc: str | None) -> et.Rss:
        self._check_open()
        if hfunc is not None and hfunc != "toeplitz":
            raise ValueError(f"hfunc: toeplitz (the only hash function of {DRIVER}), got {hfunc!r}")
        n = self._port.channels
        if indirection is not None and len(indirection) == 0:
            equal: int | None = n  # ethtool -X default: the default table, round robin
            table = None
        else:
            equal, table = None, None if indirection is None else [int(q) for q in indirection]
        if table is not None:
            if len(table) != RSS_TABLE_SIZE:
                raise ValueError(f"indirection: {RSS_TABLE_SIZE} entries, got {len(table)}")
            bad = [q for q in table if not 0 <= q < n]
            if bad:
                raise ValueError(f"indirection: ring numbers in 0..{n - 1}, got {bad[0]}")
        if key is not None and len(key) != len(DEFAULT_RSS_KEY):
            raise ValueError(f"key: {len(DEFAULT_RSS_KEY)} bytes (the Port's key size), got {len(key)}")
        if self._port.forwarding:
            raise OSError(
                errno.EBUSY,
                f"changing RSS (-X) on {self._where()}: the Port is forwarding (its workers move queue i "
                "to queue i; the table steers Port.send): stop forwarding first",
            )
        if equal is None and table is None and key is None:
            return self.rss()
        self._port.set_rss(equal=equal, indirection=table, key=None if key is None else bytes(key))
        return self.rss()


def _set_channels_once_released(dev: et.KernelDevice, key: str, n: int) -> None:
    """``dev.set_channels({key: n})``, retried while the kernel still counts the closed AF_XDP
    sockets' buffer pools (it releases them from a work queue, shortly after the last close)."""
    deadline = time.monotonic() + _POOL_RELEASE_WAIT
    while True:
        try:
            dev.set_channels({key: n})
            return
        except ValueError as e:
            if "AF_XDP" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _restore(done: list[tuple[et.KernelDevice, str, int]]) -> None:
    for dev, key, cur in reversed(done):
        try:
            dev.set_channels({key: cur})
        except OSError as e:
            _log.warning("xdpkt: could not give %s its %s channel count %d back: %s", dev.ifname, key, cur, e)


def _onoff(v: bool) -> str:
    return "on" if v else "off"


def _opt_int(v: int | bool | None) -> int | None:
    return None if v is None else int(v)
