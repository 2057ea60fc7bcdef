"""The two kernel interfaces behind :mod:`xdpkt.ethtool`: generic netlink and the SIOCETHTOOL ioctl.

This module owns the bytes on the wire and nothing else: building and parsing netlink attributes
(``struct nlattr``), one request/reply exchange on a ``NETLINK_GENERIC`` socket (family ids resolved
through ``nlctrl`` and cached per namespace), and ``ioctl(SIOCETHTOOL)`` with a caller-built command
buffer. It knows no ethtool semantics (those live in :mod:`xdpkt.ethtool`) and never runs a program.

Sockets are created inside the device's network namespace when one is named: a short-lived thread
joins the namespace with ``setns(2)`` and creates the socket there; a socket keeps its namespace for
its whole life, so the caller's threads never change namespace.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Final

NETNS_DIR: Final = "/var/run/netns"

NETLINK_GENERIC: Final = 16
NETLINK_EXT_ACK: Final = 11
NETLINK_CAP_ACK: Final = 10
SOL_NETLINK: Final = 270

NLM_F_REQUEST: Final = 0x1
NLM_F_ACK: Final = 0x4
NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
NLM_F_ACK_TLVS: Final = 0x200
NLMSGERR_ATTR_MSG: Final = 1
NLMSGERR_ATTR_OFFS: Final = 2
NLA_F_NESTED: Final = 0x8000
NLA_TYPE_MASK: Final = 0x3FFF

GENL_ID_CTRL: Final = 0x10
CTRL_CMD_GETFAMILY: Final = 3
CTRL_ATTR_FAMILY_ID: Final = 1
CTRL_ATTR_FAMILY_NAME: Final = 2

SIOCETHTOOL: Final = 0x8946
CLONE_NEWNET: Final = 0x40000000

_NLMSGHDR = struct.Struct("=IHHII")
_GENLHDR = struct.Struct("=BBH")
_NLATTR = struct.Struct("=HH")


def align4(n: int) -> int:
    return (n + 3) & ~3


# --- attributes -----------------------------------------------------------------------------------


def attr(kind: int, payload: bytes) -> bytes:
    """One ``struct nlattr`` with its payload, padded to 4 bytes."""
    length = _NLATTR.size + len(payload)
    return _NLATTR.pack(length, kind) + payload + b"\0" * (align4(length) - length)


def nest(kind: int, *children: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(children))


def attr_u8(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=B", value))


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def attr_str(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def attr_flag(kind: int) -> bytes:
    return attr(kind, b"")


class MalformedReply(OSError):
    """The kernel's reply does not parse as netlink attributes (never expected; reported, not hidden)."""

    def __init__(self, what: str) -> None:
        super().__init__(errno.EBADMSG, f"malformed netlink reply: {what}")


def iter_attrs(data: bytes | memoryview) -> Iterator[tuple[int, memoryview]]:
    """(type without flags, payload) for each attribute; raises MalformedReply on a bad length."""
    view = memoryview(data)
    off = 0
    while off + _NLATTR.size <= len(view):
        length, kind = _NLATTR.unpack_from(view, off)
        if length < _NLATTR.size or off + length > len(view):
            raise MalformedReply(f"attribute length {length} at offset {off} of {len(view)}")
        yield kind & NLA_TYPE_MASK, view[off + _NLATTR.size : off + length]
        off += align4(length)


def attr_table(data: bytes | memoryview) -> dict[int, memoryview]:
    """Last occurrence of each attribute type (the kernel sends each at most once in these families)."""
    return dict(iter_attrs(data))


def get_u8(v: memoryview) -> int:
    if len(v) < 1:
        raise MalformedReply("u8 attribute too short")
    return v[0]


def get_u32(v: memoryview) -> int:
    if len(v) < 4:
        raise MalformedReply("u32 attribute too short")
    return int(struct.unpack_from("=I", v)[0])


def get_u64(v: memoryview) -> int:
    if len(v) == 4:
        return get_u32(v)
    if len(v) < 8:
        raise MalformedReply("u64 attribute too short")
    return int(struct.unpack_from("=Q", v)[0])


def get_str(v: memoryview) -> str:
    return bytes(v).split(b"\0", 1)[0].decode(errors="replace")


# --- namespaces -----------------------------------------------------------------------------------


class NamespaceAccessError(PermissionError):
    """setns(2) refused: the capability missing is CAP_SYS_ADMIN, whatever the operation was."""


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if _libc.setns(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWNET)) != 0:
        err = ctypes.get_errno()
        if err == errno.EPERM:
            raise NamespaceAccessError(err, "entering a network namespace (setns) needs CAP_SYS_ADMIN")
        raise OSError(err, os.strerror(err))


def netns_path(netns: str) -> str:
    if not netns or "/" in netns or netns in (".", ".."):
        raise ValueError(f"netns: a namespace name under {NETNS_DIR} (no '/'), got {netns!r}")
    return os.path.join(NETNS_DIR, netns)


def make_socket(netns: str | None, family: int, kind: int, proto: int) -> socket.socket:
    """A socket in ``netns`` (a name under /var/run/netns) or, with None, in the caller's namespace."""
    if netns is None:
        return socket.socket(family, kind | socket.SOCK_CLOEXEC, proto)
    path = netns_path(netns)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ValueError(f"netns: no network namespace named {netns!r} (no {path})") from None
    result: list[socket.socket] = []
    failure: list[BaseException] = []

    def inside() -> None:
        try:
            _setns(fd)
            result.append(socket.socket(family, kind | socket.SOCK_CLOEXEC, proto))
        except BaseException as e:  # handed to the caller's thread below
            failure.append(e)

    try:
        # A fresh thread joins the namespace and dies with it: no other thread ever changes namespace.
        t = threading.Thread(target=inside, name=f"netns-{netns}", daemon=True)
        t.start()
        t.join()
    finally:
        os.close(fd)
    if failure:
        raise failure[0]
    return result[0]


# --- generic netlink ------------------------------------------------------------------------------


class NetlinkError(OSError):
    """A request the kernel refused: errno plus the kernel's extended-ack message (may be empty)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, os.strerror(code))
        self.message = message

    def __str__(self) -> str:
        base = os.strerror(self.errno or 0)
        return f"{base} ({self.message})" if self.message else base


class GenlSocket:
    """One NETLINK_GENERIC socket; ``request`` sends one message and returns the replies' payloads."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._sock = make_socket(netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        try:
            self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            self._sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self._sock.bind((0, 0))
        except BaseException:
            self._sock.close()
            raise
        self._seq = 0
        self._families: dict[str, int] = {}

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> GenlSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def family(self, name: str) -> int | None:
        """The family id of ``name``, or None when this kernel has no such family."""
        if name not in self._families:
            try:
                replies = self._exchange(
                    GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, attr_str(CTRL_ATTR_FAMILY_NAME, name)
                )
            except NetlinkError as e:
                if e.errno == errno.ENOENT:
                    return None
                raise
            for payload in replies:
                tb = attr_table(payload)
                if CTRL_ATTR_FAMILY_ID in tb:
                    self._families[name] = int(struct.unpack_from("=H", tb[CTRL_ATTR_FAMILY_ID])[0])
            if name not in self._families:
                raise MalformedReply(f"nlctrl gave no id for family {name}")
        return self._families[name]

    def request(self, family: str, cmd: int, version: int, body: bytes) -> list[memoryview]:
        fid = self.family(family)
        if fid is None:
            raise NetlinkError(errno.EOPNOTSUPP, f"this kernel has no {family} generic netlink family")
        return self._exchange(fid, cmd, version, body)

    def _exchange(self, fid: int, cmd: int, version: int, body: bytes) -> list[memoryview]:
        self._seq += 1
        seq = self._seq
        payload = _GENLHDR.pack(cmd, version, 0) + body
        msg = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), fid, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + payload
        self._sock.send(msg)
        replies: list[memoryview] = []
        while True:
            data = memoryview(self._sock.recv(1 << 20))
            off = 0
            while off + _NLMSGHDR.size <= len(data):
                length, mtype, flags, mseq, _pid = _NLMSGHDR.unpack_from(data, off)
                if length < _NLMSGHDR.size or off + length > len(data):
                    raise MalformedReply(f"message length {length}")
                part = data[off + _NLMSGHDR.size : off + length]
                off += align4(length)
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    if len(part) < 4:
                        raise MalformedReply("short NLMSG_ERROR")
                    code = -int(struct.unpack_from("=i", part)[0])
                    if code == 0:
                        return replies
                    text = ""
                    if flags & NLM_F_ACK_TLVS:
                        # error code, then the original header (we set NETLINK_CAP_ACK: no payload echo)
                        tlvs = part[4 + _NLMSGHDR.size :]
                        try:
                            tb = attr_table(tlvs)
                        except MalformedReply:
                            tb = {}
                        if NLMSGERR_ATTR_MSG in tb:
                            text = get_str(tb[NLMSGERR_ATTR_MSG])
                    raise NetlinkError(code, text)
                if mtype == NLMSG_DONE:
                    return replies
                if len(part) < _GENLHDR.size:
                    raise MalformedReply("short generic netlink header")
                replies.append(part[_GENLHDR.size :])


# --- ioctl ----------------------------------------------------------------------------------------


_IOCTL_CACHE_MAX: Final = 16
_ioctl_lock = threading.Lock()
# One AF_INET datagram socket per namespace, kept: ioctls on it carry the device name, so one socket
# serves every device of that namespace and every thread. Keyed by the namespace's identity (the
# nsfs inode behind /var/run/netns/NAME), so a namespace deleted and re-created under the same name
# gets a fresh socket rather than the old namespace's.
_ioctl_sockets: dict[tuple[str | None, int, int], socket.socket] = {}


def _close_ioctl_sockets() -> None:
    with _ioctl_lock:
        for sock in _ioctl_sockets.values():
            sock.close()
        _ioctl_sockets.clear()


atexit.register(_close_ioctl_sockets)


def _ioctl_socket(netns: str | None) -> socket.socket:
    if netns is None:
        st = os.stat("/proc/self/ns/net")
    else:
        path = netns_path(netns)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise ValueError(f"netns: no network namespace named {netns!r} (no {path})") from None
    key = (netns, st.st_dev, st.st_ino)
    with _ioctl_lock:
        sock = _ioctl_sockets.get(key)
        if sock is not None:
            return sock
    sock = make_socket(netns, socket.AF_INET, socket.SOCK_DGRAM, 0)
    with _ioctl_lock:
        if key in _ioctl_sockets:  # another thread won the race
            sock.close()
            return _ioctl_sockets[key]
        if len(_ioctl_sockets) >= _IOCTL_CACHE_MAX:
            _k, old = _ioctl_sockets.popitem()
            old.close()
        _ioctl_sockets[key] = sock
        return sock


class EthtoolIoctl:
    """``ioctl(SIOCETHTOOL)`` on one device: ``call(buf)`` with a ctypes buffer holding the command.

    The socket is a dup of the namespace's cached one (see ``_ioctl_socket``); a thread that moved
    into another namespace (``netns=None`` but a different ``/proc/thread-self/ns/net``) gets a new
    socket made in its own namespace.
    """

    def __init__(self, ifname: str, netns: str | None = None) -> None:
        self.ifname = ifname
        self._owned = (
            netns is None
            and os.stat("/proc/thread-self/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
        )
        # A dup of the cached socket: this object may close it whatever the cache does meanwhile.
        self._sock = (
            make_socket(None, socket.AF_INET, socket.SOCK_DGRAM, 0)
            if self._owned
            else _ioctl_socket(netns).dup()
        )
        self._name = ifname.encode().ljust(16, b"\0")

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> EthtoolIoctl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, buf: ctypes.Array[ctypes.c_char]) -> None:
        # struct ifreq: ifr_name[16], then the union whose ifr_data points at the command buffer.
        ifreq = self._name + struct.pack("P", ctypes.addressof(buf)) + b"\0" * 16
        fcntl.ioctl(self._sock.fileno(), SIOCETHTOOL, ifreq)
