"""scapy over AF_XDP: ``XdpSocket`` (a scapy ``SuperSocket``), conversions, ``install``.

``XdpSocket(iface, queue=0, ...)`` wraps one :class:`xdpkt.Socket`; scapy's ``sniff``,
``sendp``, ``srp``, ``sr1`` and answering machines use it like any of scapy's own sockets::

    from scapy.all import ARP, Ether, sendp, sniff, srp
    from xdpkt.scapy import XdpSocket

    with XdpSocket("veth0", netns="lab") as s:
        sniff(opened_socket=s, count=10, prn=lambda p: p.summary(), store=False)
        sendp(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="198.18.0.2"), socket=s)
        ans, unans = srp(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="198.18.0.2"), s, timeout=1)

Frames are read from the RX ring in batches (``batch`` per read), copied out, and the
batch is released to the UMEM at once; each ``recv()`` then dissects and returns one
packet from a small internal queue. ``select`` (what ``sniff`` waits in) polls the
AF_XDP fd, so an idle sniff sleeps in the kernel instead of spinning.

``install(iface, ...)`` makes ``XdpSocket`` scapy's ``conf.L2socket`` and ``conf.L2listen``
for that interface only (``sniff(iface=...)``, ``sendp(iface=...)``, ``srp(iface=...)``
then use it); the returned handle (or :func:`uninstall`) undoes it.

The trap: xdpkt's XDP program redirects *every* frame arriving on the socket's queue to
the socket, so the kernel on this side no longer sees them (no ARP replies, no ICMP).
That is what ``srp`` needs (you are the endpoint), but nothing else on that host answers
for the interface while the socket is open. See ``docs/scapy.md``.

scapy is an optional extra: ``pip install 'xdpkt[scapy]'``.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import select as _select
import socket as _socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

try:
    from scapy.base_classes import SetGen
    from scapy.config import conf
    from scapy.data import ETH_P_ALL, MTU
    from scapy.interfaces import InterfaceProvider, NetworkInterface
    from scapy.layers.l2 import Ether
    from scapy.packet import Packet
    from scapy.supersocket import SuperSocket
except ImportError as _exc:
    raise ImportError(
        f"xdpkt.scapy needs scapy, an optional extra: pip install 'xdpkt[scapy]' "
        f"(or pip install 'scapy>=2.5') [{_exc}]",
        name="scapy",
    ) from _exc

from xdpkt.netns import CLONE_NEWNET, NETNS_RUN_DIR, _setns
from xdpkt.socket import Batch, Mode, Socket

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "Installation",
    "XdpSocket",
    "batch_to_scapy",
    "frames_from_scapy",
    "install",
    "installed",
    "uninstall",
]

T = TypeVar("T")

SOL_PACKET: Final = 263
PACKET_ADD_MEMBERSHIP: Final = 1
PACKET_MR_PROMISC: Final = 1
# How long select() sleeps at most before checking that each socket's interface still
# exists (an unbound AF_XDP socket reports nothing to poll(), see docs/xsk.md).
_SLICE: Final = 0.25


def _dissect(cls: type[Packet], data: bytes) -> Packet:
    try:
        return cls(data)
    except Exception:
        # scapy's own rule (SuperSocket.recv): a frame the dissector cannot parse
        # becomes a Raw packet, unless the user asked to see dissector crashes.
        if conf.debug_dissector:
            raise
        raw: Packet = conf.raw_layer(data)
        return raw


def batch_to_scapy(
    batch: Batch | Iterable[Buffer], *, timestamp: float | None = None, basecls: type[Packet] = Ether
) -> list[Packet]:
    """Dissect every packet of ``batch`` (a :class:`xdpkt.Batch`, or any bytes-like frames).

    Each packet gets ``pkt.time = timestamp`` (default: now, the time the batch is
    converted). The bytes are copied, so the batch may be closed afterwards; this
    function does not close it.
    """
    ts = time.time() if timestamp is None else float(timestamp)
    frames = batch.to_bytes() if isinstance(batch, Batch) else [bytes(f) for f in batch]
    out: list[Packet] = []
    for data in frames:
        p = _dissect(basecls, data)
        p.time = ts
        out.append(p)
    return out


def frames_from_scapy(pkts: Packet | Iterable[Packet | Buffer]) -> list[bytes]:
    """The wire bytes of ``pkts``, each packet built once, ready for :meth:`xdpkt.Socket.send`.

    Takes what ``sendp`` takes: a packet (a packet with several values in a field,
    e.g. ``IP(dst=[...])``, stands for all of them, as in scapy) or an iterable of
    packets and bytes-like frames (passed through unchanged).
    """
    out: list[bytes] = []
    for p in SetGen(pkts):
        out.append(bytes(p))
    return out


def _iface_name(iface: object) -> str:
    if isinstance(iface, NetworkInterface):
        name = iface.network_name
    elif isinstance(iface, str):
        name = iface
    else:
        raise TypeError(f"iface must be an interface name (str) or a scapy NetworkInterface, not {iface!r}")
    if not name:
        raise ValueError("iface must not be empty")
    return name


def _netns_path(netns: str) -> str:
    return netns if "/" in netns else os.path.join(NETNS_RUN_DIR, netns)


def _in_netns(netns: str | None, fn: Callable[[], T]) -> T:
    """Run ``fn`` on a short-lived thread that joined ``netns`` (the caller's thread stays put)."""
    if netns is None:
        return fn()
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(_netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd, CLONE_NEWNET)
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as e:
            error.append(e)

    th = threading.Thread(target=run, name=f"xdpkt-scapy-netns-{netns}", daemon=True)
    th.start()
    th.join()
    if error:
        raise error[0]
    return result[0]


def _promisc_socket(ifname: str, netns: str | None) -> _socket.socket:
    """An AF_PACKET socket that receives nothing and holds the device promiscuous.

    A PACKET_MR_PROMISC membership is counted by the kernel and dropped when the socket
    closes (also when the process dies): unlike ``ip link set promisc on``, it never
    leaves the device promiscuous behind us.
    """

    def make() -> _socket.socket:
        index = _socket.if_nametoindex(ifname)
        s = _socket.socket(_socket.AF_PACKET, _socket.SOCK_RAW, 0)
        try:
            # struct packet_mreq { int mr_ifindex; u16 mr_type; u16 mr_alen; u8 mr_address[8]; }
            mreq = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
            s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except BaseException:
            s.close()
            raise
        return s

    try:
        return _in_netns(netns, make)
    except PermissionError as exc:
        raise PermissionError(exc.errno, f"promisc=True needs CAP_NET_RAW: {exc.strerror}") from exc


SIOCGIFADDR: Final = 0x8915
SIOCGIFNETMASK: Final = 0x891B
SIOCGIFHWADDR: Final = 0x8927


def _addresses(ifname: str, netns: str | None) -> tuple[str, str | None, int | None]:
    """(MAC, first IPv4 address or None, its prefix length or None) of ``ifname`` in ``netns``."""

    def read() -> tuple[str, str | None, int | None]:
        with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as s:
            req = struct.pack("16s16x", ifname.encode())
            hw = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, req)
            mac = ":".join(f"{b:02x}" for b in hw[18:24])
            try:
                addr = fcntl.ioctl(s.fileno(), SIOCGIFADDR, req)
                mask = fcntl.ioctl(s.fileno(), SIOCGIFNETMASK, req)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:  # no IPv4 address
                    return mac, None, None
                raise
            prefix = bin(int.from_bytes(mask[20:24], "big")).count("1")
            return mac, _socket.inet_ntoa(addr[20:24]), prefix

    return _in_netns(netns, read)


class XdpSocket(SuperSocket):
    """A scapy ``SuperSocket`` over an AF_XDP socket on one queue of ``iface``.

    ``iface`` is required (scapy's default ``conf.iface`` is never taken: an AF_XDP
    socket takes every frame of its queue away from the kernel, which on the default
    interface would cut the host off). ``queue``, ``netns``, ``mode``, ``frames``,
    ``frame_size``, ``ring_size``, ``need_wakeup``, ``busy_poll``, ``xskmap``,
    ``multi_buffer``: as for :class:`xdpkt.Socket`. ``batch``: frames read from the RX
    ring per read (1..65536). ``basecls``: the class received frames are dissected as
    (``Ether``; ``conf.raw_layer`` skips dissection).

    scapy's socket arguments: ``type`` keeps only frames of that EtherType (the outer
    one; ``ETH_P_ALL`` keeps all), ``promisc`` (default ``conf.sniff_promisc``) holds the
    device promiscuous while the socket is open, ``filter`` (a BPF program) is refused:
    it cannot apply to an AF_XDP socket (use ``sniff(lfilter=...)``); ``nofilter`` is
    accepted and has nothing to do; ``monitor`` mode is refused.

    Received packets carry ``pkt.time``: the time their batch was taken off the RX
    ring (AF_XDP delivers no per-frame timestamp). ``recv()`` blocks until a packet
    arrives; on a closed socket it raises ``EOFError`` (the end of the stream: ``sniff``
    then stops reading the socket quietly). ``close()`` is idempotent and wakes a
    ``sniff`` waiting on the socket in another thread.
    """

    desc = "AF_XDP socket on one queue of an interface (xdpkt)"
    nonblocking_socket = False

    def __init__(
        self,
        iface: str | NetworkInterface | None = None,
        queue: int = 0,
        *,
        type: int = ETH_P_ALL,
        filter: str | None = None,
        promisc: bool | None = None,
        nofilter: bool | int = False,
        monitor: bool | None = None,
        batch: int = 64,
        basecls: type[Packet] = Ether,
        netns: str | None = None,
        mode: Mode = "auto",
        frames: int = 4096,
        frame_size: int = 4096,
        ring_size: int = 2048,
        need_wakeup: bool = True,
        busy_poll: bool = False,
        xskmap: str | os.PathLike[str] | int | None = None,
        multi_buffer: bool = False,
    ) -> None:
        # Everything close() and __del__ look at exists before anything can fail.
        self.closed = True
        self._sock: Socket | None = None
        self._promisc_sock: _socket.socket | None = None
        self._wake = -1
        self._pending: deque[tuple[bytes, float]] = deque()
        self._error: BaseException | None = None
        if iface is None:
            raise ValueError(
                "iface is required: an AF_XDP socket takes every frame of its queue away from "
                "the kernel, so XdpSocket never defaults to conf.iface"
            )
        self.iface = _iface_name(iface)
        if not isinstance(batch, int) or not 1 <= batch <= 65536:
            raise ValueError(f"batch must be an int between 1 and 65536, not {batch!r}")
        if not isinstance(type, int) or not 0 <= type <= 0xFFFF:
            raise ValueError(f"type must be an EtherType (0..0xffff) or ETH_P_ALL, not {type!r}")
        if filter is not None:
            raise ValueError(
                f"filter={filter!r}: a BPF filter cannot be applied to an AF_XDP socket (the XDP "
                "program takes every frame of the queue); use sniff(lfilter=...) instead"
            )
        if monitor:
            raise ValueError("monitor=True: AF_XDP has no monitor mode (use an 802.11 monitor interface)")
        self.type = type
        self.queue = queue
        self.netns = netns
        self.basecls = basecls
        self.promisc = conf.sniff_promisc if promisc is None else bool(promisc)
        self._batch = batch
        self._wake = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._sock = Socket(
            self.iface,
            queue,
            mode=mode,
            frames=frames,
            frame_size=frame_size,
            ring_size=ring_size,
            need_wakeup=need_wakeup,
            busy_poll=busy_poll,
            netns=netns,
            xskmap=xskmap,
            multi_buffer=multi_buffer,
        )
        self.closed = False
        if self.promisc:
            try:
                self._promisc_sock = _promisc_socket(self.iface, netns)
            except BaseException:
                self.close()
                raise

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"mode={self.mode}"
        where = f" netns={self.netns!r}" if self.netns else ""
        return f"<XdpSocket {self.iface} queue {self.queue}{where} {state}>"

    # --- the underlying xdpkt.Socket ---

    @property
    def xsk(self) -> Socket:
        """The :class:`xdpkt.Socket` underneath (``OSError(EBADF)`` once closed)."""
        sock = self._sock
        if sock is None or self.closed:
            raise OSError(errno.EBADF, f"{self!r} is closed")
        return sock

    @property
    def mode(self) -> str:
        return self.xsk.mode

    def stats(self) -> dict[str, int]:
        """The underlying socket's counters (see :meth:`xdpkt.Socket.stats`)."""
        return self.xsk.stats()

    def fileno(self) -> int:
        return self.xsk.fileno()

    @property
    def pending(self) -> int:
        """Frames already taken off the RX ring that ``recv()`` has not returned yet."""
        return len(self._pending)

    # --- receive ---

    def _fill(self, timeout: float | None) -> int:
        """Read one batch off the RX ring into the queue; return how many frames it kept.

        The frames are copied out and the batch released before dissecting anything,
        so UMEM frames go back to the fill ring at once.
        """
        sock = self._sock  # close() on another thread may clear it meanwhile
        if sock is None or self.closed:
            raise EOFError(f"{self!r}")
        try:
            batch = sock.recv(self._batch, timeout=timeout)
        except OSError as exc:
            if self.closed and exc.errno == errno.EBADF:
                raise EOFError(f"{self!r}") from exc
            # The interface went away (ENXIO), or another failure: the xdpkt socket is
            # gone; release the rest too, then report it.
            self.close()
            raise
        with batch:
            if not len(batch):
                return 0
            ts = time.time()
            frames = batch.to_bytes()
        if self.type != ETH_P_ALL:
            want = struct.pack("!H", self.type)
            frames = [f for f in frames if f[12:14] == want]
        self._pending.extend((f, ts) for f in frames)
        return len(frames)

    def _next(self, timeout: float | None) -> tuple[bytes, float] | None:
        while not self._pending:
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            if self.closed:
                raise EOFError(f"{self!r}")
            if self._fill(timeout) == 0 and timeout is not None:
                return None
        return self._pending.popleft()

    def recv_raw(self, x: int = MTU) -> tuple[type[Packet] | None, bytes | None, float | None]:
        """One frame as ``(basecls, bytes, time)``, at most ``x`` bytes (blocks)."""
        item = self._next(None)
        if item is None:
            return None, None, None
        data, ts = item
        return self.basecls, data[:x] if len(data) > x else data, ts

    def recv(self, x: int = MTU, **kwargs: Any) -> Packet | None:
        """One packet, dissected as ``basecls`` with ``pkt.time`` set (blocks until one arrives)."""
        cls, data, ts = self.recv_raw(x)
        if cls is None or data is None:
            return None
        if kwargs:
            try:
                pkt: Packet = cls(data, **kwargs)
            except Exception:
                if conf.debug_dissector:
                    raise
                pkt = conf.raw_layer(data)
        else:
            pkt = _dissect(cls, data)
        if ts is not None:
            pkt.time = ts
        return pkt

    def recv_batch(self, timeout: float | None = None) -> list[Packet]:
        """Every frame already queued, or else the next batch off the ring, dissected.

        Waits up to ``timeout`` seconds (None: until frames arrive) when nothing is queued.
        """
        if not self._pending:
            item = self._next(timeout)
            if item is None:
                return []
            self._pending.appendleft(item)
        items = list(self._pending)
        self._pending.clear()
        out: list[Packet] = []
        for data, ts in items:
            p = _dissect(self.basecls, data)
            p.time = ts
            out.append(p)
        return out

    @staticmethod
    def select(sockets: list[SuperSocket], remain: float | None = conf.recv_poll_rate) -> list[SuperSocket]:
        """Wait until one of ``sockets`` has a packet (or ``remain`` seconds; None: forever).

        An ``XdpSocket`` with frames already queued, or closed, is ready at once; the
        others are polled on their fds (an ``XdpSocket`` also on an eventfd its
        ``close()`` signals). Sleeps in slices of at most 0.25 s, after each of which it
        checks that every ``XdpSocket``'s interface still exists.
        """
        # Fast path, taken once per packet while a batch drains: no poll() at all. Other
        # sockets wait at most until the queues are empty (one batch), then poll() sees
        # every ready fd at once.
        queued: list[SuperSocket] = [
            s for s in sockets if isinstance(s, XdpSocket) and (s._pending or s.closed)
        ]
        if queued:
            return queued
        deadline = None if remain is None else time.monotonic() + max(float(remain), 0.0)
        while True:
            ready: list[SuperSocket] = []
            poller = _select.poll()
            by_fd: dict[int, SuperSocket] = {}
            xdp: list[XdpSocket] = []
            for s in sockets:
                if isinstance(s, XdpSocket):
                    xsk = s._sock
                    if s._pending or s.closed or s._error is not None or xsk is None:
                        ready.append(s)
                        continue
                    try:
                        fd = xsk.fileno()
                    except OSError:
                        ready.append(s)  # closed meanwhile: recv() says so
                        continue
                    xdp.append(s)
                    by_fd[s._wake] = s
                    poller.register(s._wake, _select.POLLIN)
                else:
                    fd = s.fileno()
                by_fd[fd] = s
                poller.register(fd, _select.POLLIN)
            if ready:
                wait_ms = 0
            else:
                left = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
                wait_ms = max(0, math.ceil(left * 1000))
            for fd, _ev in poller.poll(wait_ms):
                # POLLERR/POLLHUP/POLLNVAL count as ready too: recv() reports the error.
                s = by_fd[fd]
                if s not in ready:
                    ready.append(s)
            if ready:
                order = {id(s): i for i, s in enumerate(sockets)}
                return sorted(ready, key=lambda s: order[id(s)])
            if deadline is not None and time.monotonic() >= deadline:
                return []
            # A slice passed with nothing: an unbound AF_XDP socket (interface gone) is
            # silent in poll(); a non-blocking read reports it (or finds frames).
            for s in xdp:
                try:
                    if s._fill(0):
                        ready.append(s)
                except (OSError, EOFError) as exc:
                    s._error = exc
                    ready.append(s)
            if ready:
                return ready

    # --- send ---

    def send(self, x: Packet | Buffer) -> int:
        """Send one frame (a scapy packet, built once, or bytes); return its length in bytes."""
        frame = bytes(x)
        if isinstance(x, Packet):
            # scapy's rule (SndRcvHandler): stamp the stimulus right before it leaves.
            x.sent_time = time.time()
        self.xsk.send([frame])
        return len(frame)

    def send_batch(self, pkts: Packet | Iterable[Packet | Buffer]) -> int:
        """Send many frames in as few kicks as the rings allow; return how many were sent.

        ``pkts`` as for :func:`frames_from_scapy` (each packet is built exactly once).
        """
        items = list(SetGen(pkts))
        frames = [bytes(p) for p in items]
        now = time.time()
        for p in items:
            if isinstance(p, Packet):
                p.sent_time = now
        return self.xsk.send(frames) if frames else 0

    # --- lifetime ---

    def close(self) -> None:
        """Close the AF_XDP socket (and the promiscuous hold); idempotent, thread-safe."""
        if self.closed:
            return
        self.closed = True
        self._pending.clear()
        sock, self._sock = self._sock, None
        promisc, self._promisc_sock = self._promisc_sock, None
        try:
            if sock is not None:
                sock.close()
        finally:
            if promisc is not None:
                promisc.close()
            if self._wake >= 0:
                # Wakes a select() in another thread. The eventfd itself stays open until
                # the object goes: such a select may still hold its number.
                os.eventfd_write(self._wake, 1)

    def __del__(self) -> None:
        try:
            self.close()
        finally:
            wake, self._wake = getattr(self, "_wake", -1), -1
            if wake >= 0:
                os.close(wake)

    def __enter__(self) -> XdpSocket:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# --- install: XdpSocket as scapy's L2 socket for chosen interfaces ---

_SOCKET_OPTIONS: Final = frozenset(
    {
        "batch", "basecls", "netns", "mode", "frames", "frame_size", "ring_size",
        "need_wakeup", "busy_poll", "xskmap", "multi_buffer", "promisc",
    }
)  # fmt: skip

_SCAPY_POSITIONAL: Final = ("iface", "type", "promisc", "filter", "nofilter", "monitor")

_lock = threading.RLock()
# iface name -> XdpSocket keyword arguments (queue included) for sockets scapy opens there.
_installed: dict[str, dict[str, Any]] = {}
# iface name -> the conf.ifaces entry our own one replaced (None: there was none).
_replaced: dict[str, NetworkInterface | None] = {}
# iface name -> the route we added to scapy's table (conf.route) for its IPv4 subnet.
_routes: dict[str, tuple[int, int, str, str, str, int]] = {}
# (L2socket, L2listen) as they were before the first install.
_saved: tuple[type[SuperSocket], type[SuperSocket]] | None = None


class _Dispatch(SuperSocket):
    """A conf.L2socket/L2listen stand-in: XdpSocket on installed interfaces, else the old class."""

    desc = "xdpkt.scapy dispatcher"
    _which: ClassVar[int] = 0  # index into _saved: 0 = L2socket, 1 = L2listen

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # scapy's L2 socket classes take (iface, type, promisc, filter, nofilter, monitor).
        named = dict(zip(_SCAPY_POSITIONAL, args, strict=False))
        if len(args) > len(_SCAPY_POSITIONAL) or named.keys() & kwargs.keys():
            raise TypeError(f"{cls.__name__}: unexpected arguments {args!r} {kwargs!r}")
        iface = named.get("iface", kwargs.get("iface"))
        name = _iface_name(iface if iface is not None else conf.iface)
        with _lock:
            options = _installed.get(name)
            saved = _saved
        if options is not None:
            merged = {**options, **named, **kwargs}
            merged.pop("iface", None)
            return XdpSocket(name, **merged)
        previous = (
            saved[cls._which] if saved is not None else (conf.L2listen if cls._which else conf.L2socket)
        )
        if isinstance(previous, type) and issubclass(previous, _Dispatch):
            raise RuntimeError(
                "xdpkt.scapy's dispatcher was kept past uninstall(): set conf.L2socket/L2listen"
            )
        return previous(*args, **kwargs)


class _DispatchL2socket(_Dispatch):
    desc = "xdpkt.scapy: XdpSocket on installed interfaces, else the previous conf.L2socket"
    _which = 0


class _DispatchL2listen(_Dispatch):
    desc = "xdpkt.scapy: XdpSocket on installed interfaces, else the previous conf.L2listen"
    _which = 1


class _XdpInterfaceProvider(InterfaceProvider):
    """Keeps installed interfaces that scapy does not know (they live in another network
    namespace) in ``conf.ifaces`` across its reloads, so that ``resolve_iface`` finds them."""

    name = "xdpkt"

    def load(self) -> dict[str, NetworkInterface]:
        with _lock:
            return {n: _make_iface(self, n, *_iface_addrs.get(n, ("", None))) for n in _replaced}

    def _is_valid(self, dev: NetworkInterface) -> bool:
        return True


def _make_iface(
    provider: InterfaceProvider, name: str, mac: str = "", ipv4: str | None = None
) -> NetworkInterface:
    data: dict[str, Any] = {
        "name": name,
        "description": f"{name} (xdpkt)",
        "network_name": name,
        "index": -1,
        "mac": mac,
        "ips": [ipv4] if ipv4 else [],
    }
    return NetworkInterface(provider, data)


# iface name -> (MAC, IPv4) read from its namespace at install time.
_iface_addrs: dict[str, tuple[str, str | None]] = {}


def _add_entry(name: str, netns: str | None) -> None:
    """Give scapy an interface entry (and a route to its subnet) for a device it cannot see."""
    try:
        mac, ipv4, prefix = _addresses(name, netns)
    except OSError:
        # Not there (yet), or no privilege to look: scapy gets the name only; opening the
        # socket reports the real problem.
        mac, ipv4, prefix = "", None, None
    _replaced[name] = conf.ifaces.data.get(name)
    _iface_addrs[name] = (mac, ipv4)
    prov = conf.ifaces.providers[_XdpInterfaceProvider]
    conf.ifaces.data[name] = _make_iface(prov, name, mac, ipv4)
    if ipv4 is not None and prefix is not None:
        # scapy picks default addresses (Ether src, IP src, ARP hwsrc/psrc) and the output
        # interface from its own routing table, read from *this* namespace: teach it the
        # device's connected subnet, as the kernel in the device's namespace has it.
        mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
        net = int.from_bytes(_socket.inet_aton(ipv4), "big") & mask
        route = (net, mask, "0.0.0.0", name, ipv4, 1)
        conf.route.routes.append(route)
        conf.route.invalidate_cache()
        _routes[name] = route


def _remove_entry(name: str) -> None:
    previous = _replaced.pop(name)
    _iface_addrs.pop(name, None)
    current = conf.ifaces.data.get(name)
    if current is not None and isinstance(current.provider, _XdpInterfaceProvider):
        if previous is None:
            del conf.ifaces.data[name]
        else:
            conf.ifaces.data[name] = previous
    route = _routes.pop(name, None)
    if route is not None and route in conf.route.routes:
        conf.route.routes.remove(route)
        conf.route.invalidate_cache()


def _known_to_scapy(name: str) -> bool:
    return any(dev.network_name == name for dev in conf.ifaces.values())


class Installation:
    """What :func:`install` returns: ``uninstall()`` (or leaving the ``with`` block) undoes it."""

    def __init__(self, iface: str) -> None:
        self.iface: Final = iface

    def uninstall(self) -> None:
        """Undo this interface's install (idempotent)."""
        uninstall(self.iface)

    @property
    def active(self) -> bool:
        return self.iface in installed()

    def __repr__(self) -> str:
        return f"<xdpkt.scapy.Installation {self.iface} {'active' if self.active else 'undone'}>"

    def __enter__(self) -> Installation:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstall()


def install(iface: str, queue: int = 0, **options: Any) -> Installation:
    """Make :class:`XdpSocket` scapy's ``conf.L2socket`` and ``conf.L2listen`` for ``iface``.

    Sockets scapy opens on ``iface`` (``sniff(iface=...)``, ``sendp(iface=...)``,
    ``srp(..., iface=...)``, ``conf.L2listen(iface=...)``) become ``XdpSocket(iface,
    queue, **options)``; other interfaces keep the classes installed before. ``options``:
    ``netns``, ``mode``, ``frames``, ``frame_size``, ``ring_size``, ``need_wakeup``,
    ``busy_poll``, ``xskmap``, ``multi_buffer``, ``batch``, ``basecls``, ``promisc``. An
    interface in another namespace (``netns=``) is added to ``conf.ifaces`` with the MAC and
    IPv4 address it has there, and its IPv4 subnet to scapy's routing table (``conf.route``),
    so scapy resolves its name and fills default fields (``Ether().src``, ``ARP().psrc``,
    ...) for it. Installing an interface again replaces its options.

    Returns an :class:`Installation`; ``uninstall(iface)`` / ``uninstall()`` (all) undo.
    """
    global _saved
    name = _iface_name(iface)
    if not isinstance(queue, int) or queue < 0:
        raise ValueError(f"queue must be an int >= 0, not {queue!r}")
    unknown = set(options) - _SOCKET_OPTIONS
    if unknown:
        raise TypeError(
            f"install() got unknown options {sorted(unknown)}; allowed: {sorted(_SOCKET_OPTIONS)}"
        )
    with _lock:
        if _saved is None:
            _saved = (conf.L2socket, conf.L2listen)
            conf.L2socket = _DispatchL2socket
            conf.L2listen = _DispatchL2listen
            conf.ifaces.register_provider(_XdpInterfaceProvider)
        _installed[name] = {"queue": queue, **options}
        if name not in _replaced and (options.get("netns") is not None or not _known_to_scapy(name)):
            _add_entry(name, options.get("netns"))
    return Installation(name)


def uninstall(iface: str | None = None) -> None:
    """Undo :func:`install` for ``iface`` (None: every interface). Idempotent.

    When no interface is left, ``conf.L2socket``/``conf.L2listen`` get back the classes
    they had before the first install, unless someone replaced them since.
    """
    global _saved
    with _lock:
        names = list(_installed) if iface is None else [_iface_name(iface)]
        for name in names:
            _installed.pop(name, None)
            if name in _replaced:
                _remove_entry(name)
        if not _installed and _saved is not None:
            if conf.L2socket is _DispatchL2socket:
                conf.L2socket = _saved[0]
            if conf.L2listen is _DispatchL2listen:
                conf.L2listen = _saved[1]
            conf.ifaces.providers.pop(_XdpInterfaceProvider, None)
            _saved = None


def installed() -> dict[str, dict[str, Any]]:
    """Interfaces :func:`install` made XdpSocket the L2 socket of, with their options."""
    with _lock:
        return {name: dict(opts) for name, opts in _installed.items()}
