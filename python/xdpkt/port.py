"""``xdpkt.Port``: a software NIC over AF_XDP with NAPI polling, GRO and GSO.

A Port opens one AF_XDP socket per queue (channel) of an interface, all on one
UMEM. Received packets go through GRO (kernel semantics) and come out as a
:class:`xdpkt.Batch`; packets sent are cut to the wire MSS by GSO and go onto the
TX ring in whole batches. Two Ports sharing a UMEM can be joined with
:meth:`Port.forward_to`: Rust workers (one per queue, pinned) then move packets
RX -> GRO -> GSO -> TX with no Python per packet.

Configuration comes from keyword arguments, a dict or a TOML file
(:meth:`PortConfig.from_toml`); every error names the key, the value and what is
allowed. See ``docs/port.md``.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import re
import threading
import time
import tomllib
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from xdpkt import ethtool as _ethtool
from xdpkt._xdpkt import Batch
from xdpkt._xdpkt import Port as _Port

if TYPE_CHECKING:
    from xdpkt._control import ControlServer
    from xdpkt._ethtool_port import PortBackend

__all__ = ["Port", "PortConfig"]

_log = logging.getLogger("xdpkt")

Per = Literal["package", "core", "thread"]
Mode = Literal["auto", "zerocopy", "copy", "skb"]


def _check_int(key: str, value: object, lo: int, hi: int, *, power_of_two: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"PortConfig.{key}={value!r}: must be an integer between {lo} and {hi}")
    if not lo <= value <= hi:
        raise ValueError(f"PortConfig.{key}={value!r}: must be between {lo} and {hi}")
    if power_of_two and value & (value - 1):
        raise ValueError(f"PortConfig.{key}={value!r}: must be a power of two between {lo} and {hi}")


def _check_choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"PortConfig.{key}={value!r}: must be one of {choices}")


@dataclasses.dataclass(frozen=True)
class PortConfig:
    """Settings of one Port (ethtool names in brackets).

    - ``channels``: queues to open; ``None`` = one per ``per`` unit of the CPU
      topology (physical cores by default), capped by the device's queues [-L combined].
    - ``gro`` [rx-gro], ``gro_udp`` [rx-udp-gro-forwarding], ``gso``
      [tx-tcp-segmentation, tx-udp-segmentation].
    - ``budget`` [rx-frames]: packets per NAPI poll; ``rx_usecs`` [rx-usecs]: how long
      GRO may hold an aggregate once the ring ran dry (0 = flush at the end of each
      poll); ``adaptive_rx`` [adaptive-rx]: busy-poll under load, sleep when idle;
      ``busy_usecs``: how long empty polls spin before sleeping.
    - ``ring_size`` [-g rx/tx], ``frames``, ``frame_size``: UMEM geometry.
    - ``mtu``: egress MTU for GSO (``None`` = the interface's).
    - ``pin``: pin each forwarding worker to its CPU. ``netns``: open inside that
      network namespace.
    """

    ifname: str
    channels: int | None = None
    per: Per = "core"
    gro: bool = True
    gro_udp: bool = False
    gso: bool = True
    budget: int = 64
    rx_usecs: int = 0
    adaptive_rx: bool = True
    busy_usecs: int = 50
    ring_size: int = 2048
    frames: int = 16384
    frame_size: int = 4096
    mode: Mode = "auto"
    mtu: int | None = None
    pin: bool = True
    need_wakeup: bool = True
    netns: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.ifname, str) or not 0 < len(self.ifname) < 16:
            raise ValueError(f"PortConfig.ifname={self.ifname!r}: must be an interface name of 1 to 15 bytes")
        if self.channels is not None:
            _check_int("channels", self.channels, 1, 1024)
        _check_choice("per", self.per, ("package", "core", "thread"))
        for key in ("gro", "gro_udp", "gso", "adaptive_rx", "pin", "need_wakeup"):
            v = getattr(self, key)
            if not isinstance(v, bool):
                raise TypeError(f"PortConfig.{key}={v!r}: must be True or False")
        _check_int("budget", self.budget, 1, 4096)
        _check_int("rx_usecs", self.rx_usecs, 0, 1_000_000)
        _check_int("busy_usecs", self.busy_usecs, 0, 1_000_000)
        _check_int("ring_size", self.ring_size, 64, 65536, power_of_two=True)
        _check_int("frames", self.frames, 64, 1 << 20)
        _check_choice("frame_size", self.frame_size, (2048, 4096))  # type: ignore[arg-type]
        _check_choice("mode", self.mode, ("auto", "zerocopy", "copy", "skb"))
        if self.mtu is not None:
            _check_int("mtu", self.mtu, 68, 65535)
        if self.netns is not None and not isinstance(self.netns, str):
            raise TypeError(f"PortConfig.netns={self.netns!r}: must be a namespace name or path")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PortConfig:
        """A config from a mapping; an unknown key is an error naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise ValueError(f"PortConfig: unknown key(s) {names}; known keys: {', '.join(sorted(known))}")
        if "ifname" not in values:
            raise ValueError("PortConfig: the key 'ifname' is required")
        return cls(**dict(values))

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], *, table: str | None = None) -> PortConfig:
        """A config from a TOML file: its top level, or ``[table]`` (e.g. ``port``)."""
        with open(path, "rb") as f:
            try:
                data: dict[str, Any] = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise ValueError(f"{os.fspath(path)}: not valid TOML: {e}") from None
        if table is not None:
            sub = data.get(table)
            if not isinstance(sub, dict):
                raise ValueError(f"{os.fspath(path)}: no table [{table}]")
            data = sub
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as e:
            raise type(e)(f"{os.fspath(path)}: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> PortConfig:
        return dataclasses.replace(self, **changes)


# A Port name is a file name part (/run/xdpkt/port-NAME.sock) and a CLI word (port:NAME).
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# What every Port on one UMEM must agree on: the UMEM's geometry, and (for forward_to) the channels.
_GROUP_KEYS = frozenset({"channels", "frames", "frame_size"})
_FIXED_KEYS = frozenset({"ifname", "netns"})
# What a running Port changes live (set_features, set_coalesce): no reopening needed.
_LIVE_KEYS = frozenset({"gro", "gro_udp", "gso", "budget", "rx_usecs", "adaptive_rx", "busy_usecs"})
# One reconfigure at a time in the process: it closes and reopens whole groups of Ports.
_RECONFIGURE_LOCK = threading.RLock()


class Port:
    """A software NIC on one interface (a context manager). Needs root
    (CAP_NET_RAW + CAP_BPF + CAP_NET_ADMIN).

    ``Port(cfg)``, ``Port(ifname="eth1", gro=True)`` or ``Port(cfg, budget=32)``
    (keywords override the config). ``share_umem=other`` puts this port's queues on
    ``other``'s UMEM, which :meth:`forward_to` needs. ``name="a-side"`` makes the
    running Port reachable as ``port:a-side`` by ``xdpkt.ethtool`` and ``xdpkt ethtool``,
    in this process and (through a control socket under /run/xdpkt) from others.
    """

    _port: _Port
    config: PortConfig

    def __init__(
        self,
        config: PortConfig | Mapping[str, Any] | None = None,
        *,
        share_umem: Port | None = None,
        name: str | None = None,
        **overrides: Any,
    ) -> None:
        if config is None:
            cfg = PortConfig.from_dict(overrides)
        elif isinstance(config, PortConfig):
            cfg = config.replace(**overrides) if overrides else config
        elif isinstance(config, Mapping):
            cfg = PortConfig.from_dict({**config, **overrides})
        else:
            raise TypeError(f"Port(config={config!r}): must be a PortConfig, a dict or None")
        if share_umem is not None and not isinstance(share_umem, Port):
            raise TypeError(f"share_umem={share_umem!r}: must be an xdpkt.Port")
        if name is not None and (not isinstance(name, str) or _NAME_RE.match(name) is None):
            raise ValueError(
                f"name={name!r}: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        self.config = cfg
        self._name = name
        # Bookkeeping for reconfigure(): the Port whose UMEM this one joined (None: its own), the
        # Ports that joined this one's, and the forwarding pair as (partner, both_ways, initiator).
        self._umem_owner: Port | None = None
        self._sharers: list[weakref.ref[Port]] = []
        self._fwd: tuple[Port, bool, bool] | None = None
        self._ethtool: PortBackend | None = None
        self._control: ControlServer | None = None
        d = cfg.to_dict()
        ifname = d.pop("ifname")
        self._port = _Port(ifname, share_umem=share_umem._port if share_umem else None, **d)
        for note in self._port.notes():
            _log.info("xdpkt.Port(%s): %s", ifname, note)
        if share_umem is not None:
            owner = share_umem._umem_owner or share_umem
            self._umem_owner = owner
            owner._sharers.append(weakref.ref(self))
        if name is not None:
            try:
                self._register(name)
            except BaseException:
                self._port.close()
                raise

    def _register(self, name: str) -> None:
        from xdpkt import _control

        _ethtool.register_port(name, self)  # refuses a name another Port of this process has
        try:
            self._control = _control.serve(name, self)
        except BaseException:
            _ethtool.register_port(name, None)
            raise

    def _unregister(self) -> None:
        server, self._control = self._control, None
        if server is not None:
            server.close()
        if self._name is not None:
            _ethtool.unregister_port(self._name, self)

    # -- properties -------------------------------------------------------------
    @property
    def ifname(self) -> str:
        return self._port.ifname

    @property
    def channels(self) -> int:
        return self._port.channels

    @property
    def mtu(self) -> int:
        return self._port.mtu

    @property
    def mode(self) -> str:
        return self._port.mode

    @property
    def cpus(self) -> list[int]:
        return self._port.cpus

    @property
    def forwarding(self) -> bool:
        return self._port.forwarding

    @property
    def closed(self) -> bool:
        return self._port.closed

    @property
    def name(self) -> str | None:
        """The name given at creation (``port:NAME`` for ethtool), or None."""
        return self._name

    def notes(self) -> list[str]:
        return self._port.notes()

    # -- datapath ---------------------------------------------------------------
    def recv(self, max_packets: int = 256, timeout: float | None = 1.0) -> Batch:
        """One batch from any queue after GRO (empty on timeout)."""
        return self._port.recv(max_packets, timeout)

    def recv_batches(
        self, timeout: float | None = 1.0, *, max_packets: int = 256, idle: float | None = None
    ) -> Iterator[Batch]:
        """Yields non-empty batches as they arrive. Ends once nothing arrived for
        ``timeout`` seconds (``None``: never ends by itself)."""
        last = time.monotonic()
        while True:
            b = self._port.recv(max_packets, 0.1 if timeout is not None else None)
            if len(b):
                last = time.monotonic()
                yield b
                continue
            b.close()
            if timeout is not None and time.monotonic() - last >= timeout:
                return
            if idle is not None:
                time.sleep(idle)

    def send(self, frames: Batch | Iterable[bytes | bytearray | memoryview], queue: int | None = None) -> int:
        """Transmits frames; super-frames are cut to the wire MSS (GSO). Each flow goes
        on the queue software RSS picks for it (``queue=None``) or all on ``queue``.
        Returns the frames put on the wire, once all completed."""
        return self._port.send(frames, queue)

    def rss(self) -> dict[str, Any]:
        """Software RSS: ``{"hfunc": "toeplitz", "key": bytes, "indirection": [128 queues]}``."""
        return self._port.rss()

    def flow_queue(self, frame: bytes | bytearray | memoryview) -> int:
        """The queue software RSS picks for this frame's flow (Toeplitz over the 5-tuple)."""
        return self._port.flow_queue(bytes(frame))

    def set_rss(
        self, *, equal: int | None = None, indirection: list[int] | None = None, key: bytes | None = None
    ) -> None:
        """``ethtool -X`` for the software RSS: ``equal=N``, a 128-entry table, and/or a key."""
        self._port.set_rss(equal=equal, indirection=indirection, key=key)

    def forward_to(self, other: Port, *, both_ways: bool = True) -> None:
        """RX of this port -> TX of ``other`` (and back with ``both_ways``) in Rust."""
        if not isinstance(other, Port):
            raise TypeError(f"forward_to({other!r}): must be an xdpkt.Port")
        self._port.forward_to(other._port, both_ways)
        self._fwd = (other, both_ways, True)
        other._fwd = (self, both_ways, False)

    def stop(self) -> None:
        """Stops forwarding; both ports become idle (GRO flushed, TX drained)."""
        try:
            self._port.stop()
        finally:
            self._forget_partner()

    def _forget_partner(self) -> None:
        fwd, self._fwd = self._fwd, None
        if fwd is not None and fwd[0]._fwd is not None and fwd[0]._fwd[0] is self:
            fwd[0]._fwd = None

    def worker_failed(self) -> bool:
        return self._port.worker_failed()

    # -- control and counters -----------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Totals over every queue, ``ethtool -S`` style names."""
        return self._port.stats()

    def queue_stats(self) -> list[dict[str, int]]:
        return self._port.queue_stats()

    def ethtool_stats(self) -> dict[str, int]:
        """Every counter under its ``ethtool -S`` name: the totals, then each queue's as
        ``rx_queue_N_*`` / ``tx_queue_N_*`` / ``queue_N_*`` (one call into Rust)."""
        return dict(self._port.ethtool_items())

    def places(self) -> dict[str, int]:
        return self._port.places()

    def features(self) -> dict[str, bool]:
        return self._port.features()

    def set_features(
        self, *, gro: bool | None = None, gro_udp: bool | None = None, gso: bool | None = None
    ) -> None:
        for k, v in (("gro", gro), ("gro_udp", gro_udp), ("gso", gso)):
            if v is not None and not isinstance(v, bool):
                raise TypeError(f"set_features({k}={v!r}): must be True, False or None")
        self._port.set_features(gro=gro, gro_udp=gro_udp, gso=gso)

    def coalesce(self) -> dict[str, int | bool]:
        return self._port.coalesce()

    def set_coalesce(
        self,
        *,
        budget: int | None = None,
        rx_usecs: int | None = None,
        adaptive_rx: bool | None = None,
        busy_usecs: int | None = None,
    ) -> None:
        if budget is not None:
            _check_int("budget", budget, 1, 4096)
        if rx_usecs is not None:
            _check_int("rx_usecs", rx_usecs, 0, 1_000_000)
        if busy_usecs is not None:
            _check_int("busy_usecs", busy_usecs, 0, 1_000_000)
        self._port.set_coalesce(
            budget=budget, rx_usecs=rx_usecs, adaptive_rx=adaptive_rx, busy_usecs=busy_usecs
        )

    def inject_fault(self) -> None:
        """Test hook: flip one payload byte of the next aggregate this port segments."""
        self._port.inject_fault()

    # -- reopening with a new configuration (ethtool -G, -L) ---------------------------

    def _umem_group(self) -> list[Port]:
        """The open Ports on this one's UMEM, the UMEM's owner first."""
        owner = self._umem_owner or self
        members = [owner] + [p for p in (r() for r in owner._sharers) if p is not None]
        if self not in members:  # defensive: the bookkeeping lost us
            members.append(self)
        return [p for p in members if not p.closed]

    def reconfigure(
        self, *, _while_closed: Callable[[], Callable[[], None]] | None = None, **changes: Any
    ) -> None:
        """Reopens the Port with ``self.config.replace(**changes)``: what ``ethtool -G`` and ``-L``
        do on a Port (ring sizes, UMEM geometry and channels are fixed while the queues are open).

        Every Port on the same UMEM is reopened with it (``channels``, ``frames`` and
        ``frame_size`` change on all of them: they share the UMEM, and ``forward_to`` needs equal
        channels); a forwarding pair is stopped first and restarted afterwards, same direction,
        same ``both_ways``. Before anything is closed every frame must be accounted for
        (``places()``: the places add up to the total and Python holds none, i.e. every Batch
        received is closed), else ``RuntimeError`` and nothing changes. If the new configuration
        cannot be opened, the old one is reopened and the error re-raised. What was changed live
        (:meth:`set_features`, :meth:`set_coalesce`) carries over; changes of only such keys are
        applied live, without reopening. ``config`` is the new configuration afterwards. Counters
        restart from zero. Packets arriving while the queues are closed (the time of one close and one open,
        see docs/ethtool.md) are not seen by the Port: with no XDP program on the interface, the
        kernel stack of the Port's namespace gets them.

        ``_while_closed`` (for the ethtool backend's ``-L``) runs once every queue is closed, before
        the reopening, and returns what undoes it if the new configuration does not open.
        """
        allowed = sorted({f.name for f in dataclasses.fields(PortConfig)} - _FIXED_KEYS)
        bad = sorted(set(changes) - set(allowed))
        if bad:
            raise ValueError(
                f"reconfigure: cannot change {', '.join(map(repr, bad))}; changeable: {', '.join(allowed)}"
            )
        if not changes:
            raise ValueError(f"reconfigure: give at least one of {', '.join(allowed)}")
        with _RECONFIGURE_LOCK:
            if self.closed:
                raise OSError(errno.EBADF, f"reconfigure: {self!r} is closed")
            group = self._umem_group()
            new: dict[int, PortConfig] = {}
            now: dict[int, PortConfig] = {}
            for p in group:
                # The config as running: with what set_features / set_coalesce changed since opening.
                now[id(p)] = p.config.replace(**_live_settings(p))
                mine = changes if p is self else {k: v for k, v in changes.items() if k in _GROUP_KEYS}
                new[id(p)] = now[id(p)].replace(**mine)  # validates every value before anything closes
            if all(_differences(now[id(p)], new[id(p)]) <= _LIVE_KEYS for p in group):
                for p in group:
                    _apply_live(p, new[id(p)])
                return
            fwd = next(((p, p._fwd[0], p._fwd[1]) for p in group if p._fwd is not None and p._fwd[2]), None)
            if fwd is not None and not fwd[0].forwarding:
                fwd = None
            if fwd is not None:
                fwd[0].stop()
            try:
                for p in group:
                    _check_accounted(p, "reconfigure")
            except BaseException:
                if fwd is not None:
                    fwd[0].forward_to(fwd[1], both_ways=fwd[2])
                raise
            old = now
            # The software RSS settings go with the queues: kept (the table only if the channels stay).
            rss = {id(p): (p._port.rss(), p.channels) for p in group}
            for p in reversed(group):
                p._port.close()
            undo: Callable[[], None] | None = None
            try:
                if _while_closed is not None:
                    undo = _while_closed()
                _reopen(group, new)
            except BaseException as e:
                try:
                    if undo is not None:
                        undo()
                    _reopen(group, old)
                    _restore_rss(group, rss)
                except BaseException as e2:
                    raise OSError(
                        e2.errno if isinstance(e2, OSError) and e2.errno else errno.EIO,
                        f"reconfigure: opening the new configuration failed ({e}), and reopening the old "
                        f"one failed too ({e2}): {', '.join(p.ifname for p in group)} are closed",
                    ) from e
                if fwd is not None:
                    fwd[0].forward_to(fwd[1], both_ways=fwd[2])
                e.add_note("reconfigure: the previous configuration was reopened")
                raise
            _restore_rss(group, rss)
            if fwd is not None:
                fwd[0].forward_to(fwd[1], both_ways=fwd[2])

    def ethtool_backend(self) -> PortBackend:
        """What answers ``xdpkt.ethtool``'s verbs for this Port (see docs/ethtool.md)."""
        if self._ethtool is None:
            from xdpkt._ethtool_port import PortBackend

            self._ethtool = PortBackend(self)
        return self._ethtool

    def close(self) -> None:
        # Under the reconfigure lock: a reconfigure running in the control thread must not reopen
        # a Port that was closed meanwhile.
        with _RECONFIGURE_LOCK:
            try:
                self._port.close()
            finally:
                self._forget_partner()
        self._unregister()

    def __enter__(self) -> Port:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("forwarding" if self.forwarding else "idle")
        named = f" name={self._name!r}" if self._name is not None else ""
        return f"<xdpkt.Port {self.ifname}{named} channels={self.channels} mode={self.mode} {state}>"


def _restore_rss(group: list[Port], saved: Mapping[int, tuple[Mapping[str, Any], int]]) -> None:
    for p in group:
        old, channels = saved[id(p)]
        table = [int(q) for q in old["indirection"]] if channels == p.channels else None
        p._port.set_rss(indirection=table, key=bytes(old["key"]))


def _live_settings(p: Port) -> dict[str, Any]:
    f, c = p.features(), p.coalesce()
    return {
        "gro": bool(f["rx-gro"]),
        "gro_udp": bool(f["rx-udp-gro-forwarding"]),
        "gso": bool(f["tx-tcp-segmentation"]),
        "budget": int(c["rx-frames"]),
        "rx_usecs": int(c["rx-usecs"]),
        "adaptive_rx": bool(c["adaptive-rx"]),
        "busy_usecs": int(c["busy-usecs"]),
    }


def _differences(a: PortConfig, b: PortConfig) -> set[str]:
    return {f.name for f in dataclasses.fields(PortConfig) if getattr(a, f.name) != getattr(b, f.name)}


def _apply_live(p: Port, cfg: PortConfig) -> None:
    p.set_features(gro=cfg.gro, gro_udp=cfg.gro_udp, gso=cfg.gso)
    p.set_coalesce(
        budget=cfg.budget, rx_usecs=cfg.rx_usecs, adaptive_rx=cfg.adaptive_rx, busy_usecs=cfg.busy_usecs
    )
    p.config = cfg


def _check_accounted(p: Port, what: str) -> None:
    """Every UMEM frame in one known place and none held by Python, else RuntimeError."""
    places = p.places()
    parts = sum(v for k, v in places.items() if k != "total")
    if parts != places["total"] or places["user"]:
        held = ""
        if places["user"]:
            held = f"; {places['user']} frame(s) are held by Python (close every Batch received)"
        raise RuntimeError(
            f"{what}: {p.ifname}: UMEM frames not all accounted for "
            f"(places {places}, sum {parts} of {places['total']}){held}; nothing was changed"
        )


def _reopen(group: list[Port], configs: Mapping[int, PortConfig]) -> None:
    """Opens every Port of ``group`` (all closed) with its config from ``configs``; the first owns
    the UMEM, the rest share it. On failure the ones already opened are closed again."""
    opened: list[Port] = []
    try:
        for p in group:
            cfg = configs[id(p)]
            d = cfg.to_dict()
            ifname = d.pop("ifname")
            share = group[0]._port if opened else None
            p._port = _Port(ifname, share_umem=share, **d)
            p.config = cfg
            opened.append(p)
            for note in p._port.notes():
                _log.info("xdpkt.Port(%s): %s", ifname, note)
    except BaseException:
        for p in reversed(opened):
            p._port.close()
        raise
    owner = group[0]
    owner._umem_owner = None
    owner._sharers = [weakref.ref(p) for p in group[1:]]
    for p in group[1:]:
        p._umem_owner = owner
