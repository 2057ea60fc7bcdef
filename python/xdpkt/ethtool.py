"""ethtool-like controls for a network device: the verbs, names and states ``ethtool`` users know.

Every reader returns a frozen dataclass with ``to_dict()`` (stable keys, documented in docs/ethtool.md);
every writer takes keyword arguments named as ethtool's parameters (``rx_usecs`` for ``rx-usecs``).
``dev`` is an interface name, with ``netns=`` naming a namespace under /var/run/netns when the device
lives in one, ``port:NAME`` for a running ``xdpkt.Port`` given ``name=NAME`` (in this process, or in
another one through its control socket, python/xdpkt/_control.py), or an object with an
``ethtool_backend()`` method (an ``xdpkt.Port``), which then answers the same questions about its own
software device (python/xdpkt/_ethtool_port.py).

Kernel devices are reached through the kernel's ethtool generic netlink family (features, rings,
coalescing, channels) and the SIOCETHTOOL ioctl where netlink has no equivalent in the kernels we
support (driver info, NIC statistics, RSS), plus the ``netdev`` netlink family for XDP features. See
docs/ethtool.md for why this is hand-written rather than pyroute2.

Errors: :class:`NotSupportedError` (EOPNOTSUPP, "... not supported by <driver>"),
:class:`NoSuchDeviceError` (ENODEV), :class:`FeatureChangeError` (a feature change the device did not
fully take; it carries the :class:`FeatureChange`), ``ValueError`` naming a bad argument and the
allowed values, ``PermissionError`` naming CAP_NET_ADMIN for a change made without it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Final, Protocol, TypeVar, cast, runtime_checkable

from xdpkt import _ethtool_nl as nl
from xdpkt._vpd import Vpd, VpdError, parse_vpd
from xdpkt._xdpkt import XdpktError

__all__ = [
    "LEGACY_FEATURES",
    "Channels",
    "Coalesce",
    "DriverInfo",
    "EthtoolBackend",
    "EthtoolError",
    "Feature",
    "FeatureChange",
    "FeatureChangeError",
    "Features",
    "KernelDevice",
    "NoSuchDeviceError",
    "NotSupportedError",
    "Rings",
    "Rss",
    "Stats",
    "Vpd",
    "VpdError",
    "XdpSupport",
    "backend",
    "channels",
    "coalesce",
    "driver_info",
    "expand_features",
    "features",
    "legacy_group",
    "list_ports",
    "parse_vpd",
    "pattern_match",
    "read_vpd_file",
    "register_port",
    "rings",
    "rss",
    "set_channels",
    "set_coalesce",
    "set_features",
    "set_rings",
    "set_rss",
    "stats",
    "unregister_port",
    "xdp_support",
]

T = TypeVar("T")

# --- kernel constants (include/uapi/linux/ethtool.h, ethtool_netlink.h, netdev.h) ---------------

ETHTOOL_GENL: Final = "ethtool"
ETHTOOL_GENL_VERSION: Final = 1
NETDEV_GENL: Final = "netdev"

MSG_STRSET_GET: Final = 1
MSG_FEATURES_GET: Final = 11
MSG_FEATURES_SET: Final = 12
MSG_RINGS_GET: Final = 15
MSG_RINGS_SET: Final = 16
MSG_CHANNELS_GET: Final = 17
MSG_CHANNELS_SET: Final = 18
MSG_COALESCE_GET: Final = 19
MSG_COALESCE_SET: Final = 20

A_HEADER_DEV_INDEX: Final = 1
A_HEADER_DEV_NAME: Final = 2
A_HEADER_FLAGS: Final = 3
FLAG_COMPACT_BITSETS: Final = 1

A_BITSET_NOMASK: Final = 1
A_BITSET_SIZE: Final = 2
A_BITSET_BITS: Final = 3
A_BITSET_VALUE: Final = 4
A_BITSET_MASK: Final = 5
A_BITSET_BITS_BIT: Final = 1
A_BITSET_BIT_INDEX: Final = 1
A_BITSET_BIT_NAME: Final = 2
A_BITSET_BIT_VALUE: Final = 3

A_STRSET_HEADER: Final = 1
A_STRSET_STRINGSETS: Final = 2
A_STRINGSETS_STRINGSET: Final = 1
A_STRINGSET_ID: Final = 1
A_STRINGSET_COUNT: Final = 2
A_STRINGSET_STRINGS: Final = 3
A_STRINGS_STRING: Final = 1
A_STRING_INDEX: Final = 1
A_STRING_VALUE: Final = 2

A_FEATURES_HEADER: Final = 1
A_FEATURES_HW: Final = 2
A_FEATURES_WANTED: Final = 3
A_FEATURES_ACTIVE: Final = 4
A_FEATURES_NOCHANGE: Final = 5

ETH_SS_STATS: Final = 1
ETH_SS_FEATURES: Final = 4
ETH_SS_RSS_HASH_FUNCS: Final = 5
ETH_GSTRING_LEN: Final = 32

ETHTOOL_GDRVINFO: Final = 0x03
ETHTOOL_GSTRINGS: Final = 0x1B
ETHTOOL_GSTATS: Final = 0x1D
ETHTOOL_GRXRINGS: Final = 0x2D
ETHTOOL_GSSET_INFO: Final = 0x37
ETHTOOL_GRSSH: Final = 0x46
ETHTOOL_SRSSH: Final = 0x47
ETH_RXFH_INDIR_NO_CHANGE: Final = 0xFFFFFFFF
SIOCGIFINDEX: Final = 0x8933

NETDEV_CMD_DEV_GET: Final = 1
NETDEV_A_DEV_IFINDEX: Final = 1
NETDEV_A_DEV_XDP_FEATURES: Final = 3
NETDEV_A_DEV_XDP_ZC_MAX_SEGS: Final = 4
NETDEV_A_DEV_XDP_RX_METADATA_FEATURES: Final = 5
NETDEV_A_DEV_XSK_FEATURES: Final = 6

# enum netdev_xdp_act, in bit order
XDP_ACT_NAMES: Final = ("basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload", "rx-sg", "ndo-xmit-sg")
NETDEV_XDP_ACT_BASIC: Final = 1 << 0
NETDEV_XDP_ACT_XSK_ZEROCOPY: Final = 1 << 3
XDP_RX_METADATA_NAMES: Final = ("timestamp", "hash", "vlan-tag")
XSK_FEATURE_NAMES: Final = ("tx-timestamp", "tx-checksum", "tx-launch-time-fifo")

_IFNAME_RE: Final = re.compile(r"^[^/\s:]{1,15}$")
_PCI_ADDR_RE: Final = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")

# ethtool's legacy flags: (short name, long name, kernel feature pattern). A pattern has at most one
# "*". The long names head the groups of `ethtool -k`; -K accepts the short and long names too.
LEGACY_FEATURES: Final = (
    ("rx", "rx-checksumming", "rx-checksum"),
    ("tx", "tx-checksumming", "tx-checksum-*"),
    ("sg", "scatter-gather", "tx-scatter-gather*"),
    ("tso", "tcp-segmentation-offload", "tx-tcp*-segmentation"),
    ("ufo", "udp-fragmentation-offload", "tx-udp-fragmentation"),
    ("gso", "generic-segmentation-offload", "tx-generic-segmentation"),
    ("gro", "generic-receive-offload", "rx-gro"),
    ("lro", "large-receive-offload", "rx-lro"),
    ("rxvlan", "rx-vlan-offload", "rx-vlan-hw-parse"),
    ("txvlan", "tx-vlan-offload", "tx-vlan-hw-insert"),
    ("ntuple", "ntuple-filters", "rx-ntuple-filter"),
    ("rxhash", "receive-hashing", "rx-hashing"),
)


# --- errors ---------------------------------------------------------------------------------------


class EthtoolError(XdpktError):
    """Base of this module's own errors."""


class NotSupportedError(EthtoolError, OSError):
    """The device's driver does not implement the operation (EOPNOTSUPP)."""

    def __init__(self, message: str) -> None:
        OSError.__init__(self, errno.EOPNOTSUPP, message)

    def __str__(self) -> str:
        return str(self.strerror)


class NoSuchDeviceError(EthtoolError, OSError):
    """No device of that name in the namespace asked for (ENODEV)."""

    def __init__(self, message: str) -> None:
        OSError.__init__(self, errno.ENODEV, message)

    def __str__(self) -> str:
        return str(self.strerror)


def pattern_match(name: str, pattern: str) -> bool:
    """ethtool's flag_pattern_match: ``*`` stands for any run of characters (at most one ``*``)."""
    head, star, tail = pattern.partition("*")
    if not star:
        return name == pattern
    return len(name) >= len(head) + len(tail) and name.startswith(head) and name.endswith(tail)


# --- results --------------------------------------------------------------------------------------


def _plain(x: Any) -> Any:
    """JSON-ready: tuples become lists, recursively (what json.dumps would do, done up front)."""
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


class _Dictable:
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = _plain(asdict(self))  # type: ignore[call-overload]
        return d


@dataclass(frozen=True)
class XdpSupport(_Dictable):
    """What the driver declares through ``NETDEV_A_DEV_XDP_FEATURES`` and friends.

    ``native``: the driver runs XDP programs itself (``NETDEV_XDP_ACT_BASIC``), not only generic/skb
    mode. ``zero_copy``: AF_XDP can bind in zero-copy mode (``NETDEV_XDP_ACT_XSK_ZEROCOPY``).
    ``available`` is False (and the rest empty) when the kernel has no netdev family.
    """

    ifname: str
    available: bool
    native: bool
    zero_copy: bool
    xdp_features: tuple[str, ...]
    xdp_zc_max_segs: int | None
    xdp_rx_metadata: tuple[str, ...]
    xsk_features: tuple[str, ...]


@dataclass(frozen=True)
class DriverInfo(_Dictable):
    """``ethtool -i``: ETHTOOL_GDRVINFO, plus XDP support and PCI VPD when the device has them."""

    ifname: str
    driver: str
    version: str
    firmware_version: str
    expansion_rom_version: str
    bus_info: str
    n_priv_flags: int
    n_stats: int
    testinfo_len: int
    eedump_len: int
    regdump_len: int
    xdp: XdpSupport | None
    vpd: Vpd | None
    vpd_error: str | None  # set when the device has a VPD file that could not be read or parsed

    @property
    def supports_statistics(self) -> bool:
        return self.n_stats > 0

    @property
    def supports_test(self) -> bool:
        return self.testinfo_len > 0

    @property
    def supports_eeprom_access(self) -> bool:
        return self.eedump_len > 0

    @property
    def supports_register_dump(self) -> bool:
        return self.regdump_len > 0

    @property
    def supports_priv_flags(self) -> bool:
        return self.n_priv_flags > 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("xdp", "vpd")
        }
        for name in ("statistics", "test", "eeprom_access", "register_dump", "priv_flags"):
            d[f"supports_{name}"] = getattr(self, f"supports_{name}")
        d["xdp"] = None if self.xdp is None else self.xdp.to_dict()
        d["vpd"] = None if self.vpd is None else self.vpd.to_dict()
        return d


@dataclass(frozen=True)
class Feature:
    """One netdev feature bit, by its kernel name (``rx-gro``, ``tx-tcp-segmentation``, ...)."""

    name: str
    active: bool
    requested: bool  # the "wanted" bit: what the user asked for
    fixed: bool  # the driver cannot change it (not in hw_features, or in nochange)

    @property
    def state(self) -> str:
        """As ``ethtool -k`` prints it: ``on``/``off``, then ``[fixed]`` or ``[requested on|off]``."""
        value = "on" if self.active else "off"
        if self.fixed:
            return f"{value} [fixed]"
        if self.active != self.requested:
            return f"{value} [requested {'on' if self.requested else 'off'}]"
        return value

    def to_dict(self) -> dict[str, Any]:
        return {"active": self.active, "requested": self.requested, "fixed": self.fixed, "state": self.state}


@dataclass(frozen=True)
class Features:
    """``ethtool -k``: every feature the kernel names, in bit order."""

    ifname: str
    items: tuple[Feature, ...]

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._by_name() or name in _LEGACY_BY_NAME)

    def _by_name(self) -> dict[str, Feature]:
        return {f.name: f for f in self.items}

    def members(self, name: str) -> tuple[Feature, ...]:
        """The kernel features a name stands for: itself, or a legacy group's members."""
        by_name = self._by_name()
        if name in by_name:
            return (by_name[name],)
        legacy = _LEGACY_BY_NAME.get(name)
        if legacy is not None:
            return tuple(f for f in self.items if legacy_group(f.name) == legacy)
        raise KeyError(name)

    def __getitem__(self, name: str) -> bool:
        """Whether a feature (kernel name) or a legacy group (any member) is active."""
        try:
            return any(f.active for f in self.members(name))
        except KeyError:
            raise KeyError(f"no feature named {name!r} on {self.ifname}") from None

    def feature(self, name: str) -> Feature:
        by_name = self._by_name()
        if name not in by_name:
            raise KeyError(f"no feature named {name!r} on {self.ifname}")
        return by_name[name]

    def to_dict(self) -> dict[str, Any]:
        legacy = {}
        for i, (_short, long_name, _pattern) in enumerate(LEGACY_FEATURES):
            members = [f for f in self.items if legacy_group(f.name) == i]
            if members:
                legacy[long_name] = any(f.active for f in members)
        return {
            "ifname": self.ifname,
            "features": {f.name: f.to_dict() for f in self.items},
            "legacy": legacy,
        }


@dataclass(frozen=True)
class FeatureChange:
    """What ``set_features`` asked for and what the device did.

    ``requested`` maps each kernel feature asked for to its value; ``changed`` lists those that now
    have it and changed; ``unchanged`` those that already had it; ``failed`` maps each feature that
    did not end up as asked to its actual value; ``fixed`` are the failed ones the driver cannot change;
    ``side_effects`` maps features that changed without being asked (dependencies) to their new value.
    ``actual_changes`` are ethtool's "Actual changes:" lines (empty when the result is as asked).
    """

    ifname: str
    requested: Mapping[str, bool]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    failed: Mapping[str, bool]
    fixed: tuple[str, ...]
    side_effects: Mapping[str, bool]
    actual_changes: tuple[str, ...]
    nothing_changed: bool

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ifname": self.ifname,
            "requested": dict(self.requested),
            "changed": list(self.changed),
            "unchanged": list(self.unchanged),
            "failed": dict(self.failed),
            "fixed": list(self.fixed),
            "side_effects": dict(self.side_effects),
            "actual_changes": list(self.actual_changes),
            "ok": self.ok,
        }

    def describe(self, driver: str) -> str:
        parts = []
        if self.changed:
            parts.append("changed: " + ", ".join(f"{n} {_onoff(self.requested[n])}" for n in self.changed))
        if self.side_effects:
            parts.append(
                "also changed (not requested): "
                + ", ".join(f"{n} {_onoff(v)}" for n, v in self.side_effects.items())
            )
        for n, actual in self.failed.items():
            why = f"fixed {_onoff(actual)} on {driver}" if n in self.fixed else f"stays {_onoff(actual)}"
            parts.append(f"not changed: {n} (requested {_onoff(self.requested[n])}, {why})")
        return "; ".join(parts) if parts else "nothing to change"


class FeatureChangeError(EthtoolError):
    """Some requested features did not take the value asked; ``change`` says exactly which."""

    def __init__(self, change: FeatureChange, driver: str) -> None:
        self.change = change
        super().__init__(f"{change.ifname}: {change.describe(driver)}")


@dataclass(frozen=True)
class Rings(_Dictable):
    """``ethtool -g``. ``None`` means the driver did not report the value (ethtool prints ``n/a``).

    ``umem_frames`` and ``umem_frame_size`` are an xdpkt Port's UMEM geometry (``None`` for a kernel
    device); ``-g`` prints them after ethtool's lines.
    """

    ifname: str
    rx_max: int | None
    rx_mini_max: int | None
    rx_jumbo_max: int | None
    tx_max: int | None
    rx: int | None
    rx_mini: int | None
    rx_jumbo: int | None
    tx: int | None
    rx_buf_len: int | None
    tcp_data_split: str | None  # "unknown", "off", "on"
    cqe_size: int | None
    tx_push: bool | None
    rx_push: bool | None
    tx_push_buf_len: int | None
    tx_push_buf_len_max: int | None
    hds_thresh: int | None
    hds_thresh_max: int | None
    umem_frames: int | None = None
    umem_frame_size: int | None = None


@dataclass(frozen=True)
class Channels(_Dictable):
    """``ethtool -l``. ``None``: not reported (``n/a``)."""

    ifname: str
    rx_max: int | None
    tx_max: int | None
    other_max: int | None
    combined_max: int | None
    rx: int | None
    tx: int | None
    other: int | None
    combined: int | None


@dataclass(frozen=True)
class Coalesce(_Dictable):
    """``ethtool -c``. ``None``: not reported (``n/a``). Field names follow ethtool's -C parameters."""

    ifname: str
    rx_usecs: int | None
    rx_frames: int | None
    rx_usecs_irq: int | None
    rx_frames_irq: int | None
    tx_usecs: int | None
    tx_frames: int | None
    tx_usecs_irq: int | None
    tx_frames_irq: int | None
    stats_block_usecs: int | None
    adaptive_rx: bool | None
    adaptive_tx: bool | None
    pkt_rate_low: int | None
    rx_usecs_low: int | None
    rx_frames_low: int | None
    tx_usecs_low: int | None
    tx_frames_low: int | None
    pkt_rate_high: int | None
    rx_usecs_high: int | None
    rx_frames_high: int | None
    tx_usecs_high: int | None
    tx_frames_high: int | None
    sample_interval: int | None
    cqe_mode_tx: bool | None
    cqe_mode_rx: bool | None
    tx_aggr_max_bytes: int | None
    tx_aggr_max_frames: int | None
    tx_aggr_time_usecs: int | None


@dataclass(frozen=True)
class Stats:
    """``ethtool -S``: the driver's statistics, in the driver's order (names may repeat in some drivers)."""

    ifname: str
    items: tuple[tuple[str, int], ...]

    def __getitem__(self, name: str) -> int:
        for k, v in self.items:
            if k == name:
                return v
        raise KeyError(f"no statistic named {name!r} on {self.ifname}")

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def as_dict(self) -> dict[str, int]:
        """Name -> value; a name the driver repeats gets ``#2``, ``#3``... on its later occurrences."""
        out: dict[str, int] = {}
        for k, v in self.items:
            key, n = k, 1
            while key in out:
                n += 1
                key = f"{k}#{n}"
            out[key] = v
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ifname": self.ifname, "stats": self.as_dict()}


@dataclass(frozen=True)
class Rss:
    """``ethtool -x``: RX flow hash indirection table, key and hash function."""

    ifname: str
    rx_rings: int
    indirection: tuple[int, ...]
    key: bytes
    hfuncs: tuple[tuple[str, bool], ...]  # every hash function the kernel names, and whether it is on

    @property
    def hfunc(self) -> str | None:
        on = [name for name, active in self.hfuncs if active]
        return on[0] if on else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ifname": self.ifname,
            "rx_rings": self.rx_rings,
            "indirection": list(self.indirection),
            "key": ":".join(f"{b:02x}" for b in self.key),
            "hfunc": self.hfunc,
            "hfuncs": {name: active for name, active in self.hfuncs},
        }


# --- the backend seam -----------------------------------------------------------------------------


@runtime_checkable
class EthtoolBackend(Protocol):
    """What answers the verbs for one device. Kernel devices get :class:`KernelDevice`; a Port
    provides its own (``port.ethtool_backend()``) so that the same functions and CLI work on it."""

    @property
    def ifname(self) -> str: ...
    def driver_info(self) -> DriverInfo: ...
    def features(self) -> Features: ...
    def set_features(self, changes: Mapping[str, bool]) -> FeatureChange: ...
    def rings(self) -> Rings: ...
    def set_rings(self, values: Mapping[str, int | bool | str]) -> Rings: ...
    def coalesce(self) -> Coalesce: ...
    def set_coalesce(self, values: Mapping[str, int | bool]) -> Coalesce: ...
    def channels(self) -> Channels: ...
    def set_channels(self, values: Mapping[str, int]) -> Channels: ...
    def stats(self) -> Stats: ...
    def rss(self) -> Rss: ...
    def set_rss(self, indirection: Sequence[int] | None, key: bytes | None, hfunc: str | None) -> Rss: ...
    def xdp_support(self) -> XdpSupport: ...


class SupportsEthtool(Protocol):
    def ethtool_backend(self) -> EthtoolBackend: ...


Device = str | SupportsEthtool


# Ports running in this process, by name, so that ``xdpkt ethtool port:NAME`` can reach them.
_PORTS: dict[str, SupportsEthtool] = {}
# Backend types already checked against the protocol: isinstance() on a runtime-checkable Protocol
# walks every member, which would cost more than reading a Port's counters.
_CHECKED_BACKENDS: set[type] = set()


def register_port(name: str, port: SupportsEthtool | None) -> None:
    """Make a running Port reachable as ``port:NAME`` (None removes it). Called by Port itself.
    A name held by another object is refused with ValueError (a name must say which Port)."""
    if port is None:
        _PORTS.pop(name, None)
        return
    held = _PORTS.get(name)
    if held is not None and held is not port:
        raise ValueError(f"name={name!r}: a Port of that name is already running in this process ({held!r})")
    _PORTS[name] = port


def unregister_port(name: str, port: SupportsEthtool) -> None:
    """Forget ``port:NAME`` if it is still ``port`` (a later Port of the same name stays)."""
    if _PORTS.get(name) is port:
        del _PORTS[name]


def port_backend(name: str) -> EthtoolBackend:
    """``port:NAME``: a Port of this process, else one in another process through its control socket."""
    port = _PORTS.get(name)
    if port is not None:
        return backend(port)
    from xdpkt import _control

    remote = _control.connect(name)
    if remote is None:
        running = ", ".join(sorted(_PORTS)) or "none"
        raise NoSuchDeviceError(
            f"no Port named {name!r} is running in this process (running Ports: {running}) "
            f"or in another one (no control socket answers at {_control.socket_path(name)})"
        )
    return remote


def list_ports() -> list[dict[str, Any]]:
    """The named Ports that answer: this process's, then those of other processes (their control
    sockets under /run/xdpkt). Each: ``name pid ifname netns channels mode state``."""
    from xdpkt import _control

    return _control.list_ports(_PORTS)


def backend(dev: Device, netns: str | None = None) -> EthtoolBackend:
    """The backend for ``dev``: a kernel device by name (in ``netns``), ``port:NAME``, or a Port's own."""
    if isinstance(dev, str):
        if dev.startswith("port:"):
            if netns is not None:
                raise ValueError("netns: only for a kernel device, not for a Port (port:NAME)")
            return port_backend(dev[5:])
        return KernelDevice(dev, netns=netns)
    get = getattr(dev, "ethtool_backend", None)
    if get is None:
        raise TypeError(f"dev: an interface name (str) or a Port, got {type(dev).__name__}")
    if netns is not None:
        raise ValueError("netns: only for a kernel device given by name, not for a Port")
    b = get()
    kind = type(b)
    if kind not in _CHECKED_BACKENDS:
        if not isinstance(b, EthtoolBackend):
            raise TypeError(f"{type(dev).__name__}.ethtool_backend() did not return an EthtoolBackend")
        _CHECKED_BACKENDS.add(kind)
    return cast(EthtoolBackend, b)


# --- the kernel device ----------------------------------------------------------------------------


def _onoff(v: bool) -> str:
    return "on" if v else "off"


_LEGACY_BY_NAME: Final = {
    n: i for i, (s, long_name, _p) in enumerate(LEGACY_FEATURES) for n in (s, long_name)
}


def legacy_group(kernel_name: str) -> int | None:
    """Index in LEGACY_FEATURES of the group a kernel feature belongs to, or None."""
    for i, (_s, _l, pattern) in enumerate(LEGACY_FEATURES):
        if pattern_match(kernel_name, pattern):
            return i
    return None


def _bits(words: bytes | memoryview, count: int) -> list[bool]:
    raw = bytes(words)
    return [bool(raw[i // 8] & (1 << (i % 8))) if i // 8 < len(raw) else False for i in range(count)]


@dataclass(frozen=True)
class _Bitset:
    size: int
    value: list[bool]
    mask: list[bool] | None


def _parse_bitset(payload: memoryview) -> _Bitset:
    tb = nl.attr_table(payload)
    if A_BITSET_SIZE not in tb or A_BITSET_VALUE not in tb:
        raise nl.MalformedReply("bitset without size or value (asked for compact bitsets)")
    size = nl.get_u32(tb[A_BITSET_SIZE])
    # Bitmaps are arrays of host-endian u32 words; on little-endian hosts byte order is bit order.
    words = bytes(tb[A_BITSET_VALUE])
    value = _bits(_le_words(words), size)
    mask = _bits(_le_words(bytes(tb[A_BITSET_MASK])), size) if A_BITSET_MASK in tb else None
    return _Bitset(size, value, mask)


def _le_words(raw: bytes) -> bytes:
    n = len(raw) // 4
    return struct.pack(f"<{n}I", *struct.unpack(f"={n}I", raw[: n * 4]))


_RING_ATTRS: Final = {
    # field: (attribute, kind) ; kind: u32, u8, bool
    "rx_max": (2, "u32"),
    "rx_mini_max": (3, "u32"),
    "rx_jumbo_max": (4, "u32"),
    "tx_max": (5, "u32"),
    "rx": (6, "u32"),
    "rx_mini": (7, "u32"),
    "rx_jumbo": (8, "u32"),
    "tx": (9, "u32"),
    "rx_buf_len": (10, "u32"),
    "tcp_data_split": (11, "u8"),
    "cqe_size": (12, "u32"),
    "tx_push": (13, "bool"),
    "rx_push": (14, "bool"),
    "tx_push_buf_len": (15, "u32"),
    "tx_push_buf_len_max": (16, "u32"),
    "hds_thresh": (17, "u32"),
    "hds_thresh_max": (18, "u32"),
}
RING_SETTABLE: Final = (
    "rx", "rx_mini", "rx_jumbo", "tx", "rx_buf_len", "tcp_data_split", "cqe_size", "tx_push", "rx_push",
    "tx_push_buf_len", "hds_thresh",
)  # fmt: skip
TCP_DATA_SPLIT: Final = ("unknown", "off", "on")

_CHANNEL_ATTRS: Final = {
    "rx_max": (2, "u32"),
    "tx_max": (3, "u32"),
    "other_max": (4, "u32"),
    "combined_max": (5, "u32"),
    "rx": (6, "u32"),
    "tx": (7, "u32"),
    "other": (8, "u32"),
    "combined": (9, "u32"),
}
CHANNEL_SETTABLE: Final = ("rx", "tx", "other", "combined")

_COALESCE_ATTRS: Final = {
    "rx_usecs": (2, "u32"),
    "rx_frames": (3, "u32"),
    "rx_usecs_irq": (4, "u32"),
    "rx_frames_irq": (5, "u32"),
    "tx_usecs": (6, "u32"),
    "tx_frames": (7, "u32"),
    "tx_usecs_irq": (8, "u32"),
    "tx_frames_irq": (9, "u32"),
    "stats_block_usecs": (10, "u32"),
    "adaptive_rx": (11, "bool"),
    "adaptive_tx": (12, "bool"),
    "pkt_rate_low": (13, "u32"),
    "rx_usecs_low": (14, "u32"),
    "rx_frames_low": (15, "u32"),
    "tx_usecs_low": (16, "u32"),
    "tx_frames_low": (17, "u32"),
    "pkt_rate_high": (18, "u32"),
    "rx_usecs_high": (19, "u32"),
    "rx_frames_high": (20, "u32"),
    "tx_usecs_high": (21, "u32"),
    "tx_frames_high": (22, "u32"),
    "sample_interval": (23, "u32"),
    "cqe_mode_tx": (24, "bool"),
    "cqe_mode_rx": (25, "bool"),
    "tx_aggr_max_bytes": (26, "u32"),
    "tx_aggr_max_frames": (27, "u32"),
    "tx_aggr_time_usecs": (28, "u32"),
}
COALESCE_SETTABLE: Final = tuple(_COALESCE_ATTRS)

_U32_MAX: Final = 0xFFFFFFFF


def _decode(tb: Mapping[int, memoryview], spec: Mapping[str, tuple[int, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (kind_attr, kind) in spec.items():
        v = tb.get(kind_attr)
        if v is None:
            out[name] = None
        elif kind == "u32":
            out[name] = nl.get_u32(v)
        elif kind == "bool":
            out[name] = bool(nl.get_u8(v))
        else:
            out[name] = nl.get_u8(v)
    return out


def _encode(values: Mapping[str, Any], spec: Mapping[str, tuple[int, str]], settable: Sequence[str]) -> bytes:
    body = b""
    for name, value in values.items():
        if name not in settable:
            raise ValueError(f"{name}: not a settable parameter; allowed: {', '.join(settable)}")
        kind_attr, kind = spec[name]
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{name}: True or False, got {value!r}")
            body += nl.attr_u8(kind_attr, int(value))
        elif kind == "u8":
            body += nl.attr_u8(kind_attr, int(value))
        else:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32_MAX:
                raise ValueError(f"{name}: an integer in 0..{_U32_MAX}, got {value!r}")
            body += nl.attr_u32(kind_attr, value)
    return body


class KernelDevice:
    """A kernel network device, by name, in the caller's namespace or in ``netns``."""

    def __init__(self, ifname: str, *, netns: str | None = None) -> None:
        if not isinstance(ifname, str) or _IFNAME_RE.match(ifname) is None:
            raise ValueError(
                f"dev: an interface name of 1..15 characters without '/', ':' or spaces, got {ifname!r}"
            )
        if netns is not None:
            nl.netns_path(netns)  # validates the name
        self._ifname = ifname
        self.netns = netns
        self._driver: str | None = None

    @property
    def ifname(self) -> str:
        return self._ifname

    def __repr__(self) -> str:
        where = f", netns={self.netns!r}" if self.netns else ""
        return f"KernelDevice({self._ifname!r}{where})"

    # -- error mapping

    def _where(self) -> str:
        return f"{self._ifname} in namespace {self.netns}" if self.netns else self._ifname

    def driver_name(self) -> str:
        if self._driver is None:
            try:
                self._driver = self._drvinfo_raw()[0] or f"the driver of {self._ifname}"
            except OSError:
                self._driver = f"the driver of {self._ifname}"
        return self._driver

    def _translate(self, exc: OSError, what: str, *, change: bool) -> Exception:
        code = exc.errno
        detail = getattr(exc, "message", "") or ""
        if code == errno.EOPNOTSUPP:
            return NotSupportedError(f"{what} not supported by {self.driver_name()} ({self._where()})")
        if code == errno.ENODEV or (code == errno.ENOENT and "device" in detail):
            return NoSuchDeviceError(
                f"no device named {self._ifname!r}" + (f" in namespace {self.netns}" if self.netns else "")
            )
        if code in (errno.EPERM, errno.EACCES):
            need = "CAP_NET_ADMIN" if change else "CAP_NET_ADMIN (or root)"
            return PermissionError(code, f"{what} on {self._where()} needs {need}")
        if code == errno.EINVAL and detail:
            return ValueError(f"{what} on {self._where()}: {detail} (driver {self.driver_name()})")
        base = exc.strerror or os.strerror(code or 0)
        msg = f"{what} on {self._where()}: {base}" + (f" ({detail})" if detail else "")
        return OSError(code, msg)

    def _call(self, what: str, fn: Callable[[], T], *, change: bool = False) -> T:
        try:
            return fn()
        except (nl.NetlinkError, OSError) as e:
            if isinstance(e, (EthtoolError, nl.NamespaceAccessError)) or e.errno is None:
                raise
            raise self._translate(e, what, change=change) from None

    def _read_before_change(self, read: Callable[[], T], what: str) -> T:
        try:
            return read()
        except NotSupportedError:
            raise NotSupportedError(
                f"{what} not supported by {self.driver_name()} ({self._where()})"
            ) from None

    # -- netlink plumbing

    def _header(self, kind: int, flags: int = 0) -> bytes:
        parts = [nl.attr_str(A_HEADER_DEV_NAME, self._ifname)]
        if flags:
            parts.append(nl.attr_u32(A_HEADER_FLAGS, flags))
        return nl.nest(kind, *parts)

    def _genl(self, cmd: int, body: bytes) -> list[dict[int, memoryview]]:
        with nl.GenlSocket(self.netns) as s:
            return [nl.attr_table(p) for p in s.request(ETHTOOL_GENL, cmd, ETHTOOL_GENL_VERSION, body)]

    def _get_one(self, cmd: int, what: str) -> dict[int, memoryview]:
        replies = self._call(what, lambda: self._genl(cmd, self._header(1)))
        if not replies:
            raise nl.MalformedReply(f"no reply to {what}")
        return replies[0]

    def _set(self, cmd: int, what: str, body: bytes) -> None:
        self._call(what, lambda: self._genl(cmd, self._header(1) + body), change=True)

    def feature_names(self) -> list[str]:
        body = self._header(A_STRSET_HEADER) + nl.nest(
            A_STRSET_STRINGSETS, nl.nest(A_STRINGSETS_STRINGSET, nl.attr_u32(A_STRINGSET_ID, ETH_SS_FEATURES))
        )
        replies = self._call("feature names", lambda: self._genl(MSG_STRSET_GET, body))
        names: dict[int, str] = {}
        count = 0
        for tb in replies:
            for kind, sets in nl.iter_attrs(tb.get(A_STRSET_STRINGSETS, memoryview(b""))):
                if kind != A_STRINGSETS_STRINGSET:
                    continue
                st = nl.attr_table(sets)
                if A_STRINGSET_ID not in st or nl.get_u32(st[A_STRINGSET_ID]) != ETH_SS_FEATURES:
                    continue
                count = nl.get_u32(st[A_STRINGSET_COUNT]) if A_STRINGSET_COUNT in st else 0
                for k2, s in nl.iter_attrs(st.get(A_STRINGSET_STRINGS, memoryview(b""))):
                    if k2 == A_STRINGS_STRING:
                        one = nl.attr_table(s)
                        if A_STRING_INDEX in one and A_STRING_VALUE in one:
                            names[nl.get_u32(one[A_STRING_INDEX])] = nl.get_str(one[A_STRING_VALUE])
        return [names.get(i, "") for i in range(count)]

    # -- features

    def features(self) -> Features:
        names = self.feature_names()
        body = self._header(A_FEATURES_HEADER, FLAG_COMPACT_BITSETS)
        tb = self._call("features (-k)", lambda: self._genl(MSG_FEATURES_GET, body))
        if not tb:
            raise nl.MalformedReply("no reply to FEATURES_GET")
        r = tb[0]
        sets = {}
        for key in (A_FEATURES_HW, A_FEATURES_WANTED, A_FEATURES_ACTIVE, A_FEATURES_NOCHANGE):
            if key not in r:
                raise nl.MalformedReply(f"FEATURES_GET reply without attribute {key}")
            sets[key] = _parse_bitset(r[key])
        n = min(len(names), sets[A_FEATURES_HW].size)
        items = []
        for i in range(n):
            if not names[i]:
                continue
            hw = sets[A_FEATURES_HW].value[i]
            items.append(
                Feature(
                    name=names[i],
                    active=sets[A_FEATURES_ACTIVE].value[i],
                    requested=sets[A_FEATURES_WANTED].value[i],
                    fixed=(not hw) or sets[A_FEATURES_NOCHANGE].value[i],
                )
            )
        return Features(self._ifname, tuple(items))

    def expand_features(
        self, changes: Mapping[str, bool], names: Sequence[str]
    ) -> tuple[dict[str, bool], list[int]]:
        """Kernel feature name -> value for a request in ethtool's terms, and the requested bit indexes."""
        return expand_features(changes, names)

    def set_features(self, changes: Mapping[str, bool]) -> FeatureChange:
        if not changes:
            raise ValueError("features: give at least one feature name -> True/False")
        names = self.feature_names()
        wanted, req_bits = self.expand_features(changes, names)
        before = self.features()
        bits = b"".join(
            nl.nest(
                A_BITSET_BITS_BIT,
                nl.attr_str(A_BITSET_BIT_NAME, name),
                *([nl.attr_flag(A_BITSET_BIT_VALUE)] if value else []),
            )
            for name, value in wanted.items()
        )
        body = self._header(A_FEATURES_HEADER, FLAG_COMPACT_BITSETS) + nl.nest(
            A_FEATURES_WANTED, nl.nest(A_BITSET_BITS, bits)
        )
        replies = self._call(
            "changing features (-K)", lambda: self._genl(MSG_FEATURES_SET, body), change=True
        )
        after = self.features()
        actual_lines, nothing_changed = _actual_changes(replies, names, set(req_bits))
        before_by = {f.name: f for f in before.items}
        after_by = {f.name: f for f in after.items}
        changed, unchanged, fixed = [], [], []
        failed: dict[str, bool] = {}
        for name, value in wanted.items():
            now = after_by[name].active if name in after_by else not value
            if now != value:
                failed[name] = now
                if name in after_by and after_by[name].fixed:
                    fixed.append(name)
            elif name in before_by and before_by[name].active == value:
                unchanged.append(name)
            else:
                changed.append(name)
        side = {
            n: f.active
            for n, f in after_by.items()
            if n not in wanted and n in before_by and before_by[n].active != f.active
        }
        return FeatureChange(
            self._ifname, wanted, tuple(changed), tuple(unchanged), failed, tuple(fixed), side,
            tuple(actual_lines), nothing_changed,
        )  # fmt: skip

    # -- rings, channels, coalesce

    def rings(self) -> Rings:
        tb = self._get_one(MSG_RINGS_GET, "ring parameters (-g)")
        d = _decode(tb, _RING_ATTRS)
        if d["tcp_data_split"] is not None:
            v = d["tcp_data_split"]
            d["tcp_data_split"] = TCP_DATA_SPLIT[v] if v < len(TCP_DATA_SPLIT) else f"unknown({v})"
        return Rings(self._ifname, **d)

    def set_rings(self, values: Mapping[str, int | bool | str]) -> Rings:
        vals: dict[str, Any] = dict(values)
        umem = [n for n in ("umem_frames", "umem_frame_size") if n in vals]
        if umem:
            raise ValueError(f"{umem[0]}: only an xdpkt Port has a UMEM, not {self._where()}")
        if "tcp_data_split" in vals:
            v = vals["tcp_data_split"]
            if v not in ("on", "off", "auto"):
                raise ValueError(f"tcp_data_split: 'on', 'off' or 'auto', got {v!r}")
            vals["tcp_data_split"] = {"auto": 0, "off": 1, "on": 2}[str(v)]
        body = _encode(vals, _RING_ATTRS, RING_SETTABLE)
        if not body:
            raise ValueError(f"rings: give at least one of {', '.join(RING_SETTABLE)}")
        current = self._read_before_change(self.rings, "changing ring parameters (-G)")
        for name, maxname in (
            ("rx", "rx_max"),
            ("rx_mini", "rx_mini_max"),
            ("rx_jumbo", "rx_jumbo_max"),
            ("tx", "tx_max"),
        ):
            limit = getattr(current, maxname)
            if name in vals and limit is not None and vals[name] > limit:
                raise ValueError(
                    f"{name}: {vals[name]} exceeds the maximum {limit} "
                    f"of {self.driver_name()} on {self._where()}"
                )
        self._set(MSG_RINGS_SET, "changing ring parameters (-G)", body)
        return self.rings()

    def channels(self) -> Channels:
        return Channels(
            self._ifname, **_decode(self._get_one(MSG_CHANNELS_GET, "channels (-l)"), _CHANNEL_ATTRS)
        )

    def set_channels(self, values: Mapping[str, int]) -> Channels:
        body = _encode(values, _CHANNEL_ATTRS, CHANNEL_SETTABLE)
        if not body:
            raise ValueError(f"channels: give at least one of {', '.join(CHANNEL_SETTABLE)}")
        current = self._read_before_change(self.channels, "changing channels (-L)")
        for name, value in values.items():
            limit = getattr(current, f"{name}_max")
            if limit is not None and value > limit:
                raise ValueError(
                    f"{name}: {value} exceeds the maximum {limit} of {self.driver_name()} on {self._where()}"
                )
            if limit is None and value:
                raise ValueError(
                    f"{name}: {self.driver_name()} has no {name} channels (maximum n/a) on {self._where()}"
                )
        self._set(MSG_CHANNELS_SET, "changing channels (-L)", body)
        return self.channels()

    def coalesce(self) -> Coalesce:
        return Coalesce(
            self._ifname, **_decode(self._get_one(MSG_COALESCE_GET, "coalescing (-c)"), _COALESCE_ATTRS)
        )

    def set_coalesce(self, values: Mapping[str, int | bool]) -> Coalesce:
        body = _encode(values, _COALESCE_ATTRS, COALESCE_SETTABLE)
        if not body:
            raise ValueError(f"coalesce: give at least one of {', '.join(COALESCE_SETTABLE)}")
        current = self._read_before_change(self.coalesce, "changing coalescing (-C)")
        # The kernel reports exactly the parameters the driver supports (supported_coalesce_params).
        supported = [n for n in COALESCE_SETTABLE if getattr(current, n) is not None]
        refused = [n for n in values if n not in supported]
        if refused:
            raise NotSupportedError(
                f"coalescing parameter {', '.join(n.replace('_', '-') for n in refused)} not supported by "
                f"{self.driver_name()} ({self._where()}); it supports: "
                f"{', '.join(n.replace('_', '-') for n in supported) or 'none'}"
            )
        self._set(MSG_COALESCE_SET, "changing coalescing (-C)", body)
        return self.coalesce()

    # -- ioctl verbs

    def _ioctl(self) -> nl.EthtoolIoctl:
        return nl.EthtoolIoctl(self._ifname, self.netns)

    def _drvinfo_raw(self) -> tuple[str, str, str, str, str, int, int, int, int, int]:
        with self._ioctl() as io:
            buf = ctypes.create_string_buffer(struct.pack("=I", ETHTOOL_GDRVINFO), 196)
            io.call(buf)
        raw = buf.raw
        strings = [
            raw[4 + 32 * i : 4 + 32 * (i + 1)].split(b"\0", 1)[0].decode(errors="replace") for i in range(5)
        ]
        n_priv, n_stats, testinfo, eedump, regdump = struct.unpack_from("=5I", raw, 4 + 160 + 12)
        driver, version, fw, bus, erom = strings
        return driver, version, fw, bus, erom, n_priv, n_stats, testinfo, eedump, regdump

    def ifindex(self) -> int:
        def get() -> int:
            with self._ioctl() as io:
                req = self._ifname.encode().ljust(16, b"\0") + b"\0" * 24
                out = fcntl.ioctl(io.fileno(), SIOCGIFINDEX, req)
            return int(struct.unpack_from("=i", out, 16)[0])

        return self._call("interface index", get)

    def vpd(self, bus_info: str) -> tuple[Vpd | None, str | None]:
        """The device's PCI VPD (None when it has none), or the reason it could not be read."""
        if _PCI_ADDR_RE.match(bus_info):
            path = f"/sys/bus/pci/devices/{bus_info}/vpd"
        elif self.netns is None:
            path = f"/sys/class/net/{self._ifname}/device/vpd"
        else:
            return None, None
        return read_vpd_file(path)

    def driver_info(self) -> DriverInfo:
        driver, version, fw, bus, erom, n_priv, n_stats, testinfo, eedump, regdump = self._call(
            "driver information (-i)", self._drvinfo_raw
        )
        self._driver = driver or self._driver
        try:
            xdp: XdpSupport | None = self.xdp_support()
        except NotSupportedError:
            xdp = None
        vpd, vpd_error = self.vpd(bus)
        return DriverInfo(
            self._ifname,
            driver,
            version,
            fw,
            erom,
            bus,
            n_priv,
            n_stats,
            testinfo,
            eedump,
            regdump,
            xdp,
            vpd,
            vpd_error,
        )

    def _strings(self, io: nl.EthtoolIoctl, string_set: int) -> list[str]:
        info = ctypes.create_string_buffer(
            struct.pack("=IIQ", ETHTOOL_GSSET_INFO, 0, 1 << string_set), 16 + 4
        )
        io.call(info)
        mask = struct.unpack_from("=Q", info.raw, 8)[0]
        count = struct.unpack_from("=I", info.raw, 16)[0] if mask & (1 << string_set) else 0
        if count == 0:
            return []
        buf = ctypes.create_string_buffer(
            struct.pack("=III", ETHTOOL_GSTRINGS, string_set, count), 12 + count * ETH_GSTRING_LEN
        )
        io.call(buf)
        n = min(count, struct.unpack_from("=I", buf.raw, 8)[0])
        raw = buf.raw
        return [
            raw[12 + i * ETH_GSTRING_LEN : 12 + (i + 1) * ETH_GSTRING_LEN]
            .split(b"\0", 1)[0]
            .decode(errors="replace")
            for i in range(n)
        ]

    def stats(self) -> Stats:
        def get() -> Stats:
            with self._ioctl() as io:
                names = self._strings(io, ETH_SS_STATS)
                if not names:
                    raise OSError(errno.EOPNOTSUPP, "no statistics")
                n = len(names)
                buf = ctypes.create_string_buffer(struct.pack("=II", ETHTOOL_GSTATS, n), 8 + 8 * n)
                io.call(buf)
                got = struct.unpack_from("=I", buf.raw, 4)[0]
                if got != n:
                    raise OSError(errno.EAGAIN, f"driver returned {got} statistics for {n} names; retry")
                values = struct.unpack_from(f"={n}Q", buf.raw, 8)
            return Stats(self._ifname, tuple(zip(names, values, strict=True)))

        return self._call("NIC statistics (-S)", get)

    def _rx_rings(self, io: nl.EthtoolIoctl) -> int:
        buf = ctypes.create_string_buffer(struct.pack("=II", ETHTOOL_GRXRINGS, 0), 512)
        try:
            io.call(buf)
        except OSError as e:
            raise OSError(e.errno, f"cannot get RX ring count: {os.strerror(e.errno or 0)}") from None
        return int(struct.unpack_from("=Q", buf.raw, 8)[0])

    def rss(self) -> Rss:
        def get() -> Rss:
            with self._ioctl() as io:
                rings = self._rx_rings(io)
                head = ctypes.create_string_buffer(struct.pack("=IIII", ETHTOOL_GRSSH, 0, 0, 0), 24)
                io.call(head)
                _cmd, _ctx, indir_size, key_size = struct.unpack_from("=IIII", head.raw)
                buf = ctypes.create_string_buffer(
                    struct.pack("=IIII", ETHTOOL_GRSSH, 0, indir_size, key_size),
                    24 + 4 * indir_size + key_size,
                )
                io.call(buf)
                hfunc = buf.raw[16]
                indir = struct.unpack_from(f"={indir_size}I", buf.raw, 24)
                key = buf.raw[24 + 4 * indir_size : 24 + 4 * indir_size + key_size]
                try:
                    hnames = self._strings(io, ETH_SS_RSS_HASH_FUNCS)
                except OSError:
                    hnames = []
            return Rss(
                self._ifname,
                rings,
                tuple(indir),
                key,
                tuple((n, bool(hfunc & (1 << i))) for i, n in enumerate(hnames)),
            )

        return self._call("RSS (-x)", get)

    def set_rss(self, indirection: Sequence[int] | None, key: bytes | None, hfunc: str | None) -> Rss:
        current = self._read_before_change(self.rss, "changing RSS (-X)")
        hbits = 0
        if hfunc is not None:
            names = [n for n, _ in current.hfuncs]
            if hfunc not in names:
                raise ValueError(
                    f"hfunc: one of {', '.join(names) or '(none offered by the driver)'}, got {hfunc!r}"
                )
            hbits = 1 << names.index(hfunc)
        indir_size = ETH_RXFH_INDIR_NO_CHANGE
        indir_bytes = b""
        if indirection is not None and len(indirection) == 0:
            indir_size = 0  # the driver's default table (ethtool -X default)
        elif indirection is not None:
            if len(indirection) != len(current.indirection):
                raise ValueError(
                    f"indirection: {len(current.indirection)} entries (the device's table size), "
                    f"got {len(indirection)}"
                )
            bad = [q for q in indirection if not 0 <= q < current.rx_rings]
            if bad:
                raise ValueError(f"indirection: ring numbers in 0..{current.rx_rings - 1}, got {bad[0]}")
            indir_size = len(indirection)
            indir_bytes = struct.pack(f"={indir_size}I", *indirection)
        key_bytes = b""
        if key is not None:
            if len(key) != len(current.key):
                raise ValueError(f"key: {len(current.key)} bytes (the device's key size), got {len(key)}")
            key_bytes = bytes(key)
        payload = struct.pack("=IIIIB3xI", ETHTOOL_SRSSH, 0, indir_size, len(key_bytes), hbits, 0)
        buf = ctypes.create_string_buffer(
            payload + indir_bytes + key_bytes, len(payload) + len(indir_bytes) + len(key_bytes)
        )

        def put() -> None:
            with self._ioctl() as io:
                io.call(buf)

        self._call("changing RSS (-X)", put, change=True)
        return self.rss()

    # -- XDP

    def xdp_support(self) -> XdpSupport:
        ifindex = self.ifindex()

        def get() -> list[dict[int, memoryview]]:
            with nl.GenlSocket(self.netns) as s:
                if s.family(NETDEV_GENL) is None:
                    return []
                return [
                    nl.attr_table(p)
                    for p in s.request(
                        NETDEV_GENL, NETDEV_CMD_DEV_GET, 1, nl.attr_u32(NETDEV_A_DEV_IFINDEX, ifindex)
                    )
                ]

        replies = self._call("XDP features", get)
        if not replies:
            return XdpSupport(self._ifname, False, False, False, (), None, (), ())
        tb = replies[0]

        def flags(attr_id: int, names: Sequence[str]) -> tuple[int, tuple[str, ...]]:
            v = nl.get_u64(tb[attr_id]) if attr_id in tb else 0
            return v, tuple(n for i, n in enumerate(names) if v & (1 << i)) + tuple(
                f"bit{i}" for i in range(len(names), 64) if v & (1 << i)
            )

        xdp_bits, xdp_names = flags(NETDEV_A_DEV_XDP_FEATURES, XDP_ACT_NAMES)
        _, meta = flags(NETDEV_A_DEV_XDP_RX_METADATA_FEATURES, XDP_RX_METADATA_NAMES)
        _, xsk = flags(NETDEV_A_DEV_XSK_FEATURES, XSK_FEATURE_NAMES)
        zc_segs = nl.get_u32(tb[NETDEV_A_DEV_XDP_ZC_MAX_SEGS]) if NETDEV_A_DEV_XDP_ZC_MAX_SEGS in tb else None
        return XdpSupport(
            ifname=self._ifname,
            available=True,
            native=bool(xdp_bits & NETDEV_XDP_ACT_BASIC),
            zero_copy=bool(xdp_bits & NETDEV_XDP_ACT_XSK_ZEROCOPY),
            xdp_features=xdp_names,
            xdp_zc_max_segs=zc_segs,
            xdp_rx_metadata=meta,
            xsk_features=xsk,
        )


def expand_features(
    changes: Mapping[str, bool], names: Sequence[str], *, device: str = "this kernel"
) -> tuple[dict[str, bool], list[int]]:
    """Feature name -> value for a request in ethtool's terms (kernel names, or legacy names that stand
    for every matching feature of ``names``, the device's features in bit order; empty names are
    unused bits), and the requested bit indexes."""
    wanted: dict[str, bool] = {}
    req_bits: list[int] = []
    known = [n for n in names if n]
    for name, value in changes.items():
        if not isinstance(value, bool):
            raise ValueError(f"features[{name!r}]: True (on) or False (off), got {value!r}")
        if name in _LEGACY_BY_NAME:
            pattern = LEGACY_FEATURES[_LEGACY_BY_NAME[name]][2]
            matched = [(i, n) for i, n in enumerate(names) if n and pattern_match(n, pattern)]
            if not matched:
                raise ValueError(f"features: {name!r} stands for {pattern}, which {device} does not have")
            for i, n in matched:
                wanted[n] = value
                req_bits.append(i)
            continue
        if name not in known:
            legacy = sorted({x for s, lng, _ in LEGACY_FEATURES for x in (s, lng)})
            raise ValueError(
                f"features: unknown feature {name!r}; allowed: the kernel names ({', '.join(known)}) "
                f"or ethtool's legacy names ({', '.join(legacy)})"
            )
        wanted[name] = value
        req_bits.append(names.index(name))
    return wanted, req_bits


def read_vpd_file(path: str) -> tuple[Vpd | None, str | None]:
    """Parse a sysfs ``vpd`` file: (VPD, None), (None, None) when there is no file, or (None, reason)."""
    if not os.path.exists(path):
        return None, None
    try:
        with open(path, "rb") as f:
            data = f.read(0x8000)
    except OSError as e:
        return None, f"cannot read {path}: {e.strerror}"
    if not data:
        return None, f"{path} is empty (the device exposes no VPD)"
    try:
        return parse_vpd(data), None
    except VpdError as e:
        return None, f"{path}: {e}"


def _actual_changes(
    replies: Sequence[Mapping[int, memoryview]], names: Sequence[str], req: set[int]
) -> tuple[list[str], bool]:
    """ethtool's "Actual changes:" lines from a FEATURES_SET reply, and whether nothing changed.

    The reply's WANTED bitset masks the requested bits whose wanted value differs from the request;
    its ACTIVE bitset masks the bits whose active value changed.
    """
    if not replies:
        return [], False
    tb = replies[0]
    if A_FEATURES_WANTED not in tb or A_FEATURES_ACTIVE not in tb:
        return [], False
    wanted, active = _parse_bitset(tb[A_FEATURES_WANTED]), _parse_bitset(tb[A_FEATURES_ACTIVE])
    n = min(len(names), wanted.size, active.size)
    wmask = wanted.mask or [False] * n
    amask = active.mask or [False] * n
    nothing_changed = all(wmask[i] == (i in req) for i in range(n))
    diff = any(wmask[i] or (amask[i] and i not in req) for i in range(n))
    lines: list[str] = []
    if not diff:
        return lines, nothing_changed
    for i in range(n):
        if not names[i] or not (wmask[i] or amask[i]):
            continue
        if wmask[i]:
            # requested a value, the result differs
            lines.append(f"{names[i]}: {_onoff(not wanted.value[i])} [requested {_onoff(wanted.value[i])}]")
        elif i not in req:
            lines.append(f"{names[i]}: {_onoff(active.value[i])} [not requested]")
        else:
            lines.append(f"{names[i]}: {_onoff(active.value[i])}")
    return lines, nothing_changed


# --- the public verbs -----------------------------------------------------------------------------


def driver_info(dev: Device, *, netns: str | None = None) -> DriverInfo:
    """``ethtool -i``: driver, versions, bus, capabilities, XDP support and PCI VPD."""
    return backend(dev, netns).driver_info()


def features(dev: Device, *, netns: str | None = None) -> Features:
    """``ethtool -k``: every netdev feature with its active, requested and fixed state."""
    return backend(dev, netns).features()


def set_features(dev: Device, changes: Mapping[str, bool], *, netns: str | None = None) -> FeatureChange:
    """``ethtool -K``: names are kernel feature names (``rx-gro``) or ethtool's legacy names
    (``gro``, ``generic-receive-offload``). Raises FeatureChangeError when any did not take effect."""
    b = backend(dev, netns)
    change = b.set_features(changes)
    if not change.ok:
        try:
            driver = b.driver_info().driver
        except OSError:
            driver = f"the driver of {b.ifname}"
        raise FeatureChangeError(change, driver)
    return change


def rings(dev: Device, *, netns: str | None = None) -> Rings:
    """``ethtool -g``."""
    return backend(dev, netns).rings()


def set_rings(dev: Device, *, netns: str | None = None, **values: int | bool | str) -> Rings:
    """``ethtool -G``: ``rx``, ``rx_mini``, ``rx_jumbo``, ``tx``, ``rx_buf_len``, ``cqe_size``, ``tx_push``,
    ``rx_push``, ``tx_push_buf_len``, ``hds_thresh``, ``tcp_data_split`` ("on"/"off"/"auto")."""
    return backend(dev, netns).set_rings(values)


def coalesce(dev: Device, *, netns: str | None = None) -> Coalesce:
    """``ethtool -c``."""
    return backend(dev, netns).coalesce()


def set_coalesce(dev: Device, *, netns: str | None = None, **values: int | bool) -> Coalesce:
    """``ethtool -C``: ethtool's parameter names with ``_`` for ``-`` (``rx_usecs``, ``adaptive_rx``...)."""
    return backend(dev, netns).set_coalesce(values)


def channels(dev: Device, *, netns: str | None = None) -> Channels:
    """``ethtool -l``."""
    return backend(dev, netns).channels()


def set_channels(dev: Device, *, netns: str | None = None, **values: int) -> Channels:
    """``ethtool -L``: ``rx``, ``tx``, ``other``, ``combined``."""
    return backend(dev, netns).set_channels(values)


def stats(dev: Device, *, netns: str | None = None) -> Stats:
    """``ethtool -S``."""
    return backend(dev, netns).stats()


def rss(dev: Device, *, netns: str | None = None) -> Rss:
    """``ethtool -x``."""
    return backend(dev, netns).rss()


def set_rss(
    dev: Device,
    *,
    netns: str | None = None,
    equal: int | None = None,
    weight: Sequence[int] | None = None,
    indirection: Sequence[int] | None = None,
    key: bytes | None = None,
    hfunc: str | None = None,
    default: bool = False,
) -> Rss:
    """``ethtool -X``: at most one of ``equal`` (spread over the first N rings), ``weight`` (one weight
    per ring), ``indirection`` (the whole table) or ``default`` (the driver's own table), and/or
    ``key`` and ``hfunc``."""
    b = backend(dev, netns)
    given = [
        n
        for n, v in (
            ("equal", equal),
            ("weight", weight),
            ("indirection", indirection),
            ("default", default or None),
        )
        if v is not None
    ]
    if len(given) > 1:
        raise ValueError(
            f"set_rss: give only one of equal, weight, indirection, default (got {', '.join(given)})"
        )
    if not given and key is None and hfunc is None:
        raise ValueError("set_rss: give equal, weight, indirection, default, key or hfunc")
    if indirection is not None and len(indirection) == 0:
        raise ValueError(
            "indirection: one ring number per table entry (for the driver's table: default=True)"
        )
    table: Sequence[int] | None = () if default else indirection
    if equal is not None or weight is not None:
        size = len(b.rss().indirection)
        if size == 0:
            raise NotSupportedError(f"an RSS indirection table is not supported by {b.ifname}'s driver")
        if equal is not None:
            if isinstance(equal, bool) or not isinstance(equal, int) or equal < 1:
                raise ValueError(f"equal: a ring count >= 1, got {equal!r}")
            table = [i % equal for i in range(size)]
        else:
            assert weight is not None
            table = _weighted_table(list(weight), size)
    return b.set_rss(table, key, hfunc)


def _weighted_table(weight: list[int], size: int) -> list[int]:
    """Fill ``size`` entries with ring numbers in proportion to ``weight`` (as ethtool -X weight does)."""
    if (
        not weight
        or any(isinstance(w, bool) or not isinstance(w, int) or w < 0 for w in weight)
        or sum(weight) == 0
    ):
        raise ValueError(f"weight: non-negative integers, one per ring, not all zero; got {weight!r}")
    total = sum(weight)
    table: list[int] = []
    partial = 0
    j = -1
    for i in range(size):
        # entry i goes to the ring whose cumulative weight share first exceeds i/size
        while i >= size * partial // total:
            j += 1
            partial += weight[j]
        table.append(j)
    return table


def xdp_support(dev: Device, *, netns: str | None = None) -> XdpSupport:
    """Native XDP and zero-copy AF_XDP support, from the netdev family's XDP feature flags."""
    return backend(dev, netns).xdp_support()
