"""Private network namespaces joined by a veth pair, for tests, the kernel oracle and ``xdpkt demo``.

Real traffic in this project only ever flows on a veth pair between two network namespaces that the
caller created for the purpose; this module is the one place that creates them.

``VethPair`` creates two namespaces named ``xdpkt-<pid>-<tag><random>-a`` / ``-b``, a veth pair between
them (one end in each), addresses from 198.18.0.0/15 and 2001:db8::/32 with IPv6 duplicate address
detection disabled (addresses usable at once), the links up, and removes both namespaces on exit, also
when the body raised. Namespaces left behind by an earlier process that died (our prefix, a pid that no
longer runs) are removed the next time a pair is created.

How code runs inside a namespace: Python 3.11 has no ``os.setns``, so each :class:`Namespace` owns one
dedicated worker thread that joined the namespace with ``setns(2)`` (through ctypes) when it started; a
callable given to :meth:`Namespace.run` executes on that thread. Only that thread changes namespace, so the
rest of the process (and every other thread) stays where it was. A socket keeps the namespace it was
created in for its whole life, so a socket opened on the worker thread can be used from any thread
afterwards: that is how :func:`open_packet_socket` works. Commands (``ethtool``, sysfs writes) run through
``ip netns exec``, which also remounts ``/sys`` so that ``/sys/class/net`` shows the namespace's devices.

Everything here needs CAP_NET_ADMIN (creating namespaces and links) and CAP_SYS_ADMIN (``setns``), in
practice root; without them the functions raise :class:`PermissionError` naming the capability.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Final, TypeVar

__all__ = [
    "ETH_P_ALL",
    "NAME_PREFIX",
    "Endpoint",
    "ForwardTopology",
    "Namespace",
    "NetnsError",
    "VethPair",
    "cleanup_stale",
    "ethtool_features",
    "open_packet_socket",
    "read_sysfs",
    "require_privileges",
    "set_ethtool_features",
    "set_gro_flush_timeout",
    "set_napi_defer_hard_irqs",
    "write_sysfs",
]

T = TypeVar("T")

NAME_PREFIX: Final = "xdpkt-"
ETH_P_ALL: Final = 0x0003
CLONE_NEWNET: Final = 0x40000000
NETNS_RUN_DIR: Final = "/run/netns"

SOL_PACKET: Final = 263
PACKET_VNET_HDR: Final = 15
PACKET_IGNORE_OUTGOING: Final = 23
SO_RCVBUFFORCE: Final = 33
SO_SNDBUFFORCE: Final = 32

_COMMAND_TIMEOUT: Final = 20.0
_STALE_RE: Final = re.compile(r"^xdpkt-(\d+)-[0-9a-z]+-[abm]$")
_TAG_RE: Final = re.compile(r"^[a-z0-9]{0,12}$")
_IFNAME_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_SYSFS_ATTR_RE: Final = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)?$")


class NetnsError(RuntimeError):
    """A namespace or link command failed; the message carries the command and its stderr."""


def require_privileges() -> None:
    """Raise PermissionError unless this process may create namespaces and veth links."""
    if os.geteuid() != 0:
        raise PermissionError(
            errno.EPERM,
            "network namespaces and veth pairs need CAP_NET_ADMIN and CAP_SYS_ADMIN (run as root)",
        )
    if shutil.which("ip") is None:
        raise NetnsError("the `ip` command (iproute2) is not installed")


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise NetnsError(f"{argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"{' '.join(argv)} did not finish in {_COMMAND_TIMEOUT} s") from exc
    if check and proc.returncode != 0:
        err = proc.stderr.strip()
        if "Operation not permitted" in err or "Permission denied" in err:
            raise PermissionError(errno.EPERM, f"{' '.join(argv)}: {err} (needs CAP_NET_ADMIN)")
        raise NetnsError(f"{' '.join(argv)} failed ({proc.returncode}): {err}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _list_netns() -> list[str]:
    proc = _run(["ip", "netns", "list"])
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def cleanup_stale() -> list[str]:
    """Delete namespaces named by this module whose creating process no longer runs; return their names."""
    removed = []
    for name in _list_netns():
        match = _STALE_RE.match(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        _run(["ip", "netns", "del", name], check=False)
        removed.append(name)
    return removed


_libc: ctypes.CDLL | None = None


def _setns(fd: int, nstype: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)) != 0:
        err = ctypes.get_errno()
        if err == errno.EPERM:
            raise PermissionError(err, "setns(CLONE_NEWNET) needs CAP_SYS_ADMIN (run as root)")
        raise OSError(err, os.strerror(err))


def _netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


class Namespace:
    """A named network namespace (``ip netns``) with a worker thread living inside it.

    ``Namespace.create(name)`` adds it; ``close()`` stops the worker and deletes it. ``Namespace(name)``
    attaches to an existing one without owning it (``close()`` then only stops the worker).
    """

    def __init__(self, name: str, *, owned: bool = False) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad namespace name {name!r}")
        self.name: Final = name
        self._owned = owned
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    @classmethod
    def create(cls, name: str) -> Namespace:
        require_privileges()
        _run(["ip", "netns", "add", name])
        ns = cls(name, owned=True)
        try:
            ns.exec("ip", "link", "set", "lo", "up")
        except BaseException:
            ns.close()
            raise
        return ns

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    @property
    def path(self) -> str:
        return os.path.join(NETNS_RUN_DIR, self.name)

    def _enter(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)

    def _worker(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise NetnsError(f"namespace {self.name} is closed")
            if self._executor is None:
                executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"netns-{self.name}")
                try:
                    # One worker thread for the executor's whole life: join the namespace first.
                    executor.submit(self._enter).result(timeout=_COMMAND_TIMEOUT)
                    inode = executor.submit(_netns_inode).result(timeout=_COMMAND_TIMEOUT)
                    if inode != os.stat(self.path).st_ino:
                        raise NetnsError(f"worker thread did not join namespace {self.name}")
                except BaseException:
                    executor.shutdown(wait=True)
                    raise
                self._executor = executor
            return self._executor

    def run(self, fn: Callable[..., T], *args: object, timeout: float = _COMMAND_TIMEOUT) -> T:
        """Call ``fn(*args)`` on a thread inside this namespace and return its result (or raise its error)."""
        return self._worker().submit(fn, *args).result(timeout=timeout)

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside this namespace (``ip netns exec``); raise NetnsError when it fails."""
        return _run(["ip", "netns", "exec", self.name, *argv], check=check)

    def ifindex(self, ifname: str) -> int:
        return self.run(socket.if_nametoindex, ifname)

    def close(self) -> None:
        """Stop the worker thread; delete the namespace if this object created it. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if self._owned:
            _run(["ip", "netns", "del", self.name], check=False)

    def __enter__(self) -> Namespace:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Endpoint:
    """One end of a veth pair: its namespace, device name, MAC and addresses."""

    ns: Namespace
    ifname: str
    ifindex: int
    mac: bytes
    ipv4: str
    ipv6: str

    @property
    def mac_str(self) -> str:
        return ":".join(f"{b:02x}" for b in self.mac)


def _read_mac(ns: Namespace, ifname: str) -> bytes:
    out = ns.exec("ip", "-o", "link", "show", "dev", ifname).stdout
    match = re.search(r"link/ether ([0-9a-f:]{17})", out)
    if match is None:
        raise NetnsError(f"no MAC address for {ifname} in {ns.name}: {out.strip()}")
    return bytes(int(x, 16) for x in match.group(1).split(":"))


def _close_all(namespaces: list[Namespace]) -> None:
    """Close every namespace even if one close fails (e.g. a hung `ip netns del`); re-raise the first."""
    first: BaseException | None = None
    for ns in namespaces:
        try:
            ns.close()
        except Exception as e:
            first = first or e
    if first is not None:
        raise first


class VethPair:
    """Two fresh namespaces ``a`` and ``b`` joined by a veth pair; a context manager.

    ``index`` (0..16383) picks the /30 and /64 used for the addresses, so that several pairs alive at the
    same time can have distinct addresses: ``a`` gets 198.18.x.y+1 and 2001:db8:0:N::1, ``b`` +2 / ::2.
    """

    def __init__(self, *, mtu: int = 1500, tag: str = "", index: int = 0) -> None:
        if not 68 <= mtu <= 65535:
            raise ValueError(f"mtu {mtu} outside 68..65535")
        if _TAG_RE.match(tag) is None:
            raise ValueError(f"tag {tag!r}: up to 12 lowercase letters or digits")
        if not 0 <= index < 16384:
            raise ValueError(f"index {index} outside 0..16383")
        self.mtu = mtu
        self.tag = tag
        self.index = index
        self._namespaces: list[Namespace] = []
        self._a: Endpoint | None = None
        self._b: Endpoint | None = None

    @property
    def a(self) -> Endpoint:
        if self._a is None:
            raise NetnsError("VethPair is not open (use it as a context manager)")
        return self._a

    @property
    def b(self) -> Endpoint:
        if self._b is None:
            raise NetnsError("VethPair is not open (use it as a context manager)")
        return self._b

    def open(self) -> VethPair:
        require_privileges()
        cleanup_stale()
        suffix = f"{self.tag}{secrets.token_hex(3)}"
        base = f"{NAME_PREFIX}{os.getpid()}-{suffix}"
        try:
            ns_a = Namespace.create(f"{base}-a")
            self._namespaces.append(ns_a)
            ns_b = Namespace.create(f"{base}-b")
            self._namespaces.append(ns_b)
            dev_a, dev_b = f"xv{suffix[-6:]}a", f"xv{suffix[-6:]}b"
            ns_a.exec(
                "ip", "link", "add", dev_a, "mtu", str(self.mtu), "type", "veth",
                "peer", "name", dev_b, "netns", ns_b.name, "mtu", str(self.mtu),
            )  # fmt: skip
            net4 = (198 << 24) | (18 << 16) | (self.index << 2)
            addrs = []
            for ns, dev, host in ((ns_a, dev_a, 1), (ns_b, dev_b, 2)):
                v4 = socket.inet_ntoa(struct.pack("!I", net4 + host))
                v6 = f"2001:db8:0:{self.index:x}::{host}"
                # DAD off before the address exists, so it is usable (not "tentative") at once.
                ns.exec("sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0")
                ns.exec("ip", "addr", "add", f"{v4}/30", "dev", dev)
                ns.exec("ip", "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
                addrs.append((v4, v6))
            for ns, dev in ((ns_a, dev_a), (ns_b, dev_b)):
                ns.exec("ip", "link", "set", dev, "up")
            self._a = Endpoint(ns_a, dev_a, ns_a.ifindex(dev_a), _read_mac(ns_a, dev_a), *addrs[0])
            self._b = Endpoint(ns_b, dev_b, ns_b.ifindex(dev_b), _read_mac(ns_b, dev_b), *addrs[1])
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Delete both namespaces (which destroys the veth pair).

        Idempotent; tries every namespace, then re-raises the first failure.
        """
        namespaces, self._namespaces = self._namespaces, []
        self._a = self._b = None
        _close_all(namespaces)

    def __enter__(self) -> VethPair:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ForwardTopology:
    """Three fresh namespaces ``a`` - ``m`` - ``b`` (a context manager): the demo's wiring.

    ``a`` and ``b`` are hosts on one IPv4 /24 and one IPv6 /64 (198.18.N.1 / .2, 2001:db8:1:N::1 / ::2);
    ``m`` sits between them with one end of each veth pair (``m_a`` facing ``a``, ``m_b`` facing ``b``), no
    addresses, nothing forwarding until the caller attaches something (xdpkt Ports, a bridge). Each veth
    has ``queues`` RX/TX queues. Everything is removed on close, also after an error.
    """

    def __init__(self, *, mtu: int = 1500, queues: int = 1, tag: str = "", index: int = 0) -> None:
        if not 68 <= mtu <= 65535:
            raise ValueError(f"mtu {mtu} outside 68..65535")
        if not 1 <= queues <= 64:
            raise ValueError(f"queues {queues} outside 1..64")
        if _TAG_RE.match(tag) is None:
            raise ValueError(f"tag {tag!r}: up to 12 lowercase letters or digits")
        if not 0 <= index < 256:
            raise ValueError(f"index {index} outside 0..255")
        self.mtu, self.queues, self.tag, self.index = mtu, queues, tag, index
        self._namespaces: list[Namespace] = []
        self._ends: dict[str, Endpoint] = {}

    def _end(self, key: str) -> Endpoint:
        e = self._ends.get(key)
        if e is None:
            raise NetnsError("ForwardTopology is not open (use it as a context manager)")
        return e

    @property
    def a(self) -> Endpoint:
        """Host A's end (facing ``m_a``)."""
        return self._end("a")

    @property
    def b(self) -> Endpoint:
        return self._end("b")

    @property
    def m_a(self) -> Endpoint:
        """The middle namespace's end of A's link (no addresses)."""
        return self._end("m_a")

    @property
    def m_b(self) -> Endpoint:
        return self._end("m_b")

    @property
    def m(self) -> Namespace:
        return self._end("m_a").ns

    def open(self) -> ForwardTopology:
        require_privileges()
        cleanup_stale()
        suffix = f"{self.tag}{secrets.token_hex(3)}"
        base = f"{NAME_PREFIX}{os.getpid()}-{suffix}"
        short = suffix[-6:]
        try:
            ns = {}
            for k in ("a", "m", "b"):
                ns[k] = Namespace.create(f"{base}-{k}")
                self._namespaces.append(ns[k])
            q = str(self.queues)
            names = {"a": f"xf{short}a", "m_a": f"xf{short}ma", "m_b": f"xf{short}mb", "b": f"xf{short}b"}
            for host, mid in (("a", "m_a"), ("b", "m_b")):
                ns["m"].exec(
                    "ip", "link", "add", names[mid], "mtu", str(self.mtu),
                    "numtxqueues", q, "numrxqueues", q, "type", "veth",
                    "peer", "name", names[host], "netns", ns[host].name, "mtu", str(self.mtu),
                    "numtxqueues", q, "numrxqueues", q,
                )  # fmt: skip
            for i, host in ((1, "a"), (2, "b")):
                dev = names[host]
                ns[host].exec("sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0")
                ns[host].exec("ip", "addr", "add", f"198.18.{self.index}.{i}/24", "dev", dev)
                v6 = f"2001:db8:1:{self.index:x}::{i}/64"
                ns[host].exec("ip", "-6", "addr", "add", v6, "dev", dev, "nodad")
            for mid in ("m_a", "m_b"):
                # No IPv6 on the middle ends: they are wires, not hosts.
                ns["m"].exec("sysctl", "-qw", f"net.ipv6.conf.{names[mid]}.disable_ipv6=1")
            for k, dev in names.items():
                where = ns["m"] if k.startswith("m_") else ns[k]
                where.exec("ip", "link", "set", dev, "up")
            for k, dev in names.items():
                where = ns["m"] if k.startswith("m_") else ns[k]
                host_i = {"a": 1, "b": 2}.get(k)
                v4 = f"198.18.{self.index}.{host_i}" if host_i else ""
                v6 = f"2001:db8:1:{self.index:x}::{host_i}" if host_i else ""
                self._ends[k] = Endpoint(where, dev, where.ifindex(dev), _read_mac(where, dev), v4, v6)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Delete the three namespaces (and with them both veth pairs). Idempotent."""
        namespaces, self._namespaces = self._namespaces, []
        self._ends = {}
        _close_all(namespaces)

    def __enter__(self) -> ForwardTopology:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_packet_socket(
    ns: Namespace,
    ifname: str,
    *,
    protocol: int = ETH_P_ALL,
    vnet_hdr: bool = False,
    ignore_outgoing: bool = True,
    rcvbuf: int = 8 << 20,
    sndbuf: int = 8 << 20,
) -> socket.socket:
    """An AF_PACKET/SOCK_RAW socket created inside ``ns`` and bound to ``ifname`` there.

    ``protocol=0`` gives a send-only socket (it receives nothing). ``vnet_hdr`` turns on PACKET_VNET_HDR:
    every frame read or written is then preceded by a 10-byte ``struct virtio_net_hdr``.
    ``ignore_outgoing`` (PACKET_IGNORE_OUTGOING) hides frames this host transmits on the device.
    """
    if _IFNAME_RE.match(ifname) is None:
        raise ValueError(f"bad interface name {ifname!r}")

    def make() -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
        try:
            if vnet_hdr:
                sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
            if ignore_outgoing and protocol != 0:
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, sndbuf)
            sock.bind((ifname, protocol))
        except BaseException:
            sock.close()
            raise
        return sock

    try:
        return ns.run(make)
    except PermissionError as exc:
        raise PermissionError(exc.errno, f"AF_PACKET sockets need CAP_NET_RAW: {exc.strerror}") from exc


def _check_ifname(ifname: str) -> None:
    if _IFNAME_RE.match(ifname) is None:
        raise ValueError(f"bad interface name {ifname!r}")


def set_ethtool_features(ns: Namespace, ifname: str, features: Mapping[str, bool]) -> None:
    """``ethtool -K ifname name on|off ...`` inside ``ns``; verifies each feature took the value asked."""
    _check_ifname(ifname)
    argv = ["ethtool", "-K", ifname]
    for name, on in features.items():
        argv += [name, "on" if on else "off"]
    ns.exec(*argv, check=False)  # ethtool exits 1 for "Could not change any device features" noise
    actual = ethtool_features(ns, ifname)
    wrong = {name: actual.get(name) for name, on in features.items() if actual.get(name) != on}
    if wrong:
        raise NetnsError(f"{ifname} in {ns.name}: features not applied: {wrong}")


def ethtool_features(ns: Namespace, ifname: str) -> dict[str, bool]:
    """``ethtool -k``: feature name -> on/off (long names such as ``generic-receive-offload``)."""
    _check_ifname(ifname)
    out = ns.exec("ethtool", "-k", ifname).stdout
    features: dict[str, bool] = {}
    for line in out.splitlines()[1:]:
        name, _, rest = line.strip().partition(": ")
        if rest:
            features[name] = rest.startswith("on")
    # Short aliases accepted by `ethtool -K`, so callers can check what they set.
    aliases = {
        "gro": "generic-receive-offload",
        "gso": "generic-segmentation-offload",
        "tso": "tcp-segmentation-offload",
        "lro": "large-receive-offload",
        "rx": "rx-checksumming",
        "tx": "tx-checksumming",
        "sg": "scatter-gather",
    }
    for short, long in aliases.items():
        if long in features:
            features[short] = features[long]
    return features


def write_sysfs(ns: Namespace, ifname: str, attr: str, value: str) -> None:
    """Write ``/sys/class/net/<ifname>/<attr>`` as seen inside ``ns``."""
    _check_ifname(ifname)
    if _SYSFS_ATTR_RE.match(attr) is None:
        raise ValueError(f"bad sysfs attribute {attr!r}")
    ns.exec("sh", "-c", 'printf %s "$1" > "/sys/class/net/$2/$3"', "sh", value, ifname, attr)


def read_sysfs(ns: Namespace, ifname: str, attr: str) -> str:
    _check_ifname(ifname)
    if _SYSFS_ATTR_RE.match(attr) is None:
        raise ValueError(f"bad sysfs attribute {attr!r}")
    return ns.exec("cat", f"/sys/class/net/{ifname}/{attr}").stdout.strip()


def set_gro_flush_timeout(ns: Namespace, ifname: str, nanoseconds: int) -> None:
    """How long NAPI may hold GRO aggregates across polls (0: flush at the end of every poll)."""
    if nanoseconds < 0:
        raise ValueError("gro_flush_timeout must be >= 0")
    write_sysfs(ns, ifname, "gro_flush_timeout", str(nanoseconds))
    if read_sysfs(ns, ifname, "gro_flush_timeout") != str(nanoseconds):
        raise NetnsError(f"gro_flush_timeout of {ifname} did not take {nanoseconds}")


def set_napi_defer_hard_irqs(ns: Namespace, ifname: str, count: int) -> None:
    if count < 0:
        raise ValueError("napi_defer_hard_irqs must be >= 0")
    write_sysfs(ns, ifname, "napi_defer_hard_irqs", str(count))
