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
import logging
import os
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from xdpkt._xdpkt import Batch
from xdpkt._xdpkt import Port as _Port

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


class Port:
    """A software NIC on one interface (a context manager). Needs root
    (CAP_NET_RAW + CAP_BPF + CAP_NET_ADMIN).

    ``Port(cfg)``, ``Port(ifname="eth1", gro=True)`` or ``Port(cfg, budget=32)``
    (keywords override the config). ``share_umem=other`` puts this port's queues on
    ``other``'s UMEM, which :meth:`forward_to` needs.
    """

    _port: _Port
    config: PortConfig

    def __init__(
        self,
        config: PortConfig | Mapping[str, Any] | None = None,
        *,
        share_umem: Port | None = None,
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
        self.config = cfg
        d = cfg.to_dict()
        ifname = d.pop("ifname")
        self._port = _Port(ifname, share_umem=share_umem._port if share_umem else None, **d)
        for note in self._port.notes():
            _log.info("xdpkt.Port(%s): %s", ifname, note)

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

    def stop(self) -> None:
        """Stops forwarding; both ports become idle (GRO flushed, TX drained)."""
        self._port.stop()

    def worker_failed(self) -> bool:
        return self._port.worker_failed()

    # -- control and counters -----------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Totals over every queue, ``ethtool -S`` style names."""
        return self._port.stats()

    def queue_stats(self) -> list[dict[str, int]]:
        return self._port.queue_stats()

    def ethtool_stats(self) -> dict[str, int]:
        """Per-queue counters as ``rx_queue_N_*`` / ``tx_queue_N_*`` plus the totals."""
        out = dict(self.stats())
        for i, q in enumerate(self._port.queue_stats()):
            for k, v in q.items():
                if k.startswith("tx_"):
                    out[f"tx_queue_{i}_{k[3:]}"] = v
                elif k.startswith("rx_"):
                    out[f"rx_queue_{i}_{k[3:]}"] = v
                else:
                    out[f"queue_{i}_{k}"] = v
        return out

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

    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> Port:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("forwarding" if self.forwarding else "idle")
        return f"<xdpkt.Port {self.ifname} channels={self.channels} mode={self.mode} {state}>"
