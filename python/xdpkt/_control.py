"""Control sockets: ``xdpkt ethtool ... port:NAME`` from another process reaches a named Port.

A Port created with ``name=NAME`` serves ``/run/xdpkt/port-NAME.sock`` (``$XDPKT_RUN_DIR`` instead of
/run/xdpkt when set): a UNIX stream socket, mode 0600 in a directory of mode 0700, answered by one
thread of the Port's process. A stale socket left by a dead process is replaced; a live one of the
same name makes the new Port's creation fail (a name says which Port). The socket is removed when
the Port closes.

Protocol: one request per connection, one JSON line each way. Request ``{"verb": V, "args": {...}}``
with V one of :data:`VERBS` (the :class:`xdpkt.ethtool.EthtoolBackend` methods, and ``hello``);
answer ``{"ok": true, "result": R}`` or ``{"ok": false, "error": {"type", "bases", "message",
"errno"}}``. Results are the ethtool dataclasses, encoded losslessly (``$type``, ``$tuple``,
``$bytes``, ``$map`` tags) and rebuilt on the client side from a fixed list of types; an error is
raised again on the client side with the same exception type (or its nearest known base) and
message. Peers are checked with SO_PEERCRED: root or the server's own user. Every step has a
timeout: connecting, reading a request, answering, waiting for an answer.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import errno
import json
import logging
import os
import selectors
import socket
import stat
import struct
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from xdpkt import ethtool as et
from xdpkt._vpd import Vpd
from xdpkt._xdpkt import PacketError, XdpktError

if TYPE_CHECKING:
    from xdpkt.port import Port

__all__ = [
    "VERBS",
    "ControlServer",
    "RemotePort",
    "connect",
    "list_ports",
    "run_dir",
    "serve",
    "socket_path",
]

_log = logging.getLogger("xdpkt")
T = TypeVar("T")

DEFAULT_RUN_DIR: Final = "/run/xdpkt"
PREFIX: Final = "port-"
SUFFIX: Final = ".sock"

CONNECT_TIMEOUT: Final = 1.0  # a live server accepts at once: its backlog is in the kernel
READ_TIMEOUT: Final = 5.0  # an answer to a read verb (-i -k -g -c -l -S -x)
CHANGE_TIMEOUT: Final = 60.0  # an answer to a change; -G and -L reopen every queue of a pair
SERVER_IO_TIMEOUT: Final = 2.0  # the server waits this long for a request, and for its answer to go
MAX_REQUEST: Final = 1 << 20
MAX_ANSWER: Final = 64 << 20

# verb -> (backend method, timeout)
VERBS: Final = {
    "hello": ("", READ_TIMEOUT),
    "driver_info": ("driver_info", READ_TIMEOUT),
    "features": ("features", READ_TIMEOUT),
    "set_features": ("set_features", CHANGE_TIMEOUT),
    "rings": ("rings", READ_TIMEOUT),
    "set_rings": ("set_rings", CHANGE_TIMEOUT),
    "coalesce": ("coalesce", READ_TIMEOUT),
    "set_coalesce": ("set_coalesce", CHANGE_TIMEOUT),
    "channels": ("channels", READ_TIMEOUT),
    "set_channels": ("set_channels", CHANGE_TIMEOUT),
    "stats": ("stats", READ_TIMEOUT),
    "rss": ("rss", READ_TIMEOUT),
    "set_rss": ("set_rss", CHANGE_TIMEOUT),
    "xdp_support": ("xdp_support", READ_TIMEOUT),
}


def run_dir() -> str:
    return os.environ.get("XDPKT_RUN_DIR") or DEFAULT_RUN_DIR


def socket_path(name: str) -> str:
    return os.path.join(run_dir(), f"{PREFIX}{name}{SUFFIX}")


# --- encoding ---------------------------------------------------------------------------------------

_TYPES: Final[dict[str, type]] = {
    cls.__name__: cls
    for cls in (
        et.DriverInfo, et.XdpSupport, et.Feature, et.Features, et.FeatureChange, et.Rings, et.Channels,
        et.Coalesce, et.Stats, et.Rss, Vpd,
    )
}  # fmt: skip


def encode(x: Any) -> Any:
    """JSON-ready and lossless for the ethtool result types (tuples, bytes and mappings tagged)."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        name = type(x).__name__
        if _TYPES.get(name) is not type(x):
            raise TypeError(f"cannot send a {name} over a control socket")
        return {"$type": name, "fields": {f.name: encode(getattr(x, f.name)) for f in dataclasses.fields(x)}}
    if isinstance(x, (bytes, bytearray, memoryview)):
        return {"$bytes": bytes(x).hex()}
    if isinstance(x, tuple):
        return {"$tuple": [encode(v) for v in x]}
    if isinstance(x, list):
        return [encode(v) for v in x]
    if isinstance(x, Mapping):
        return {"$map": [[encode(k), encode(v)] for k, v in x.items()]}
    raise TypeError(f"cannot send a {type(x).__name__} over a control socket")


def decode(x: Any) -> Any:
    if isinstance(x, list):
        return [decode(v) for v in x]
    if not isinstance(x, dict):
        return x
    if "$type" in x:
        cls = _TYPES.get(x["$type"])
        fields = x.get("fields")
        if cls is None or not isinstance(fields, dict):
            raise ValueError(f"control socket: unknown result type {x['$type']!r}")
        return cls(**{str(k): decode(v) for k, v in fields.items()})
    if "$bytes" in x:
        return bytes.fromhex(str(x["$bytes"]))
    if "$tuple" in x:
        return tuple(decode(v) for v in x["$tuple"])
    if "$map" in x:
        return {decode(k): decode(v) for k, v in x["$map"]}
    raise ValueError("control socket: malformed value")


# Exception types rebuilt on the client side, by name; an unknown one becomes its nearest known base.
_ERRORS: Final[dict[str, type[BaseException]]] = {
    cls.__name__: cls
    for cls in (
        et.NotSupportedError, et.NoSuchDeviceError, et.EthtoolError, PacketError, XdpktError,
        PermissionError, FileNotFoundError, FileExistsError, TimeoutError, ConnectionError,
        BlockingIOError, OSError, ValueError, TypeError, KeyError, LookupError, RuntimeError,
        NotImplementedError,
    )
}  # fmt: skip


def _error_doc(e: BaseException) -> dict[str, Any]:
    if isinstance(e, OSError) and e.strerror is not None:
        message = str(e.strerror)
    elif isinstance(e, KeyError) and e.args:
        message = str(e.args[0])
    else:
        message = str(e)
    return {
        "type": type(e).__name__,
        "bases": [c.__name__ for c in type(e).__mro__[1:]],
        "message": message,
        "errno": e.errno if isinstance(e, OSError) else None,
    }


def _rebuild_error(doc: Mapping[str, Any]) -> BaseException:
    message = str(doc.get("message", ""))
    code = doc.get("errno")
    names = [str(doc.get("type", ""))] + [str(b) for b in doc.get("bases", [])]
    cls: type[BaseException] = RuntimeError
    for n in names:
        if n in _ERRORS:
            cls = _ERRORS[n]
            break
    if issubclass(cls, (et.NotSupportedError, et.NoSuchDeviceError)):
        return cls(message)
    if issubclass(cls, OSError):
        return cls(code if isinstance(code, int) else errno.EIO, message)
    return cls(message)


# --- the server ----------------------------------------------------------------------------------


def _peer_uid(conn: socket.socket) -> int:
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


def _recv_line(conn: socket.socket, limit: int) -> bytes:
    buf = bytearray()
    while b"\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            raise ValueError(f"control socket: message longer than {limit} bytes")
    return bytes(buf).split(b"\n", 1)[0]


class ControlServer:
    """Serves one named Port's control socket from a daemon thread until :meth:`close`."""

    def __init__(self, name: str, port: Port) -> None:
        self.name = name
        self.path = socket_path(name)
        self._port = port
        self._closing = threading.Event()
        self._sock, self._ino = _bind(name, self.path)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name=f"xdpkt-ctl-{name}", daemon=True)
        self._thread.start()
        _SERVERS.add(self)

    def __repr__(self) -> str:
        return f"ControlServer({self.name!r}, {self.path!r})"

    def close(self) -> None:
        """Stops the thread (after the request it may be answering) and removes the socket."""
        if self._closing.is_set():
            return
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if threading.current_thread() is not self._thread:
            self._thread.join(CHANGE_TIMEOUT)
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._ino:  # not a successor's socket
                os.unlink(self.path)
        for s in (self._sock, self._wake_r, self._wake_w):
            s.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._closing.is_set():
                for key, _ev in sel.select(timeout=1.0):
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        conn, _addr = self._sock.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as e:
                        _log.warning("xdpkt control %s: accept failed: %s", self.path, e)
                        continue
                    with conn:
                        try:
                            self._handle(conn)
                        except Exception as e:  # a broken client must not end the server
                            _log.debug("xdpkt control %s: %s", self.path, e)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(SERVER_IO_TIMEOUT)
        uid = _peer_uid(conn)
        if uid not in (0, os.geteuid()):
            err = PermissionError(
                errno.EACCES, f"{self.path}: only root or uid {os.geteuid()} may use this control socket"
            )
            answer: dict[str, Any] = {"ok": False, "error": _error_doc(err)}
        else:
            try:
                request = json.loads(_recv_line(conn, MAX_REQUEST))
                answer = {"ok": True, "result": encode(self._dispatch(request))}
            except Exception as e:
                answer = {"ok": False, "error": _error_doc(e)}
        conn.sendall(json.dumps(answer, separators=(",", ":")).encode() + b"\n")

    def _dispatch(self, request: Any) -> Any:
        if not isinstance(request, dict) or not isinstance(request.get("verb"), str):
            raise ValueError('control socket: a request is {"verb": NAME, "args": {...}}')
        verb = request["verb"]
        args = decode(request.get("args") or {})
        if verb not in VERBS or not isinstance(args, dict):
            raise ValueError(f"control socket: unknown verb {verb!r}; verbs: {', '.join(VERBS)}")
        if verb == "hello":
            return self._hello()
        method: Callable[..., Any] = getattr(self._port.ethtool_backend(), VERBS[verb][0])
        return method(**args)

    def _hello(self) -> dict[str, Any]:
        p = self._port
        state = "closed" if p.closed else ("forwarding" if p.forwarding else "idle")
        return {
            "name": self.name,
            "pid": os.getpid(),
            "ifname": p.ifname,
            "netns": p.config.netns,
            "channels": p.channels,
            "mode": p.mode,
            "state": state,
        }


def _bind(name: str, path: str) -> tuple[socket.socket, int]:
    """A listening socket at ``path`` (0600), replacing a stale one. The socket is bound under a
    private name and hard-linked into place, which fails if another process took the name meanwhile."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    _claim_or_refuse(name, path)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind(tmp)
        os.chmod(tmp, 0o600)
        sock.listen(16)
        sock.setblocking(False)
        try:
            os.link(tmp, path)
        except FileExistsError:
            _claim_or_refuse(name, path)  # a stale one appeared meanwhile: removed, or refused
            os.link(tmp, path)
        ino = os.stat(path).st_ino
    except BaseException:
        sock.close()
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return sock, ino


def _claim_or_refuse(name: str, path: str) -> None:
    """Removes a stale socket at ``path`` (one that refuses connections: its process is gone);
    raises ValueError if a server is there, answering or not."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(errno.EEXIST, f"name={name!r}: {path} exists and is not a socket")
    try:
        hello = _ask(path, "hello", {}, READ_TIMEOUT)
    except TimeoutError:
        raise ValueError(
            f"name={name!r}: a Port of that name is already running ({path} accepts but did not answer)"
        ) from None
    if hello is not None:
        who = hello.get("pid") if isinstance(hello, dict) else "?"
        where = hello.get("ifname") if isinstance(hello, dict) else "?"
        raise ValueError(
            f"name={name!r}: a Port of that name is already running (pid {who}, {where}, {path})"
        )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# Servers still open when the interpreter exits (a Port never closed) remove their sockets then.
_SERVERS: weakref.WeakSet[ControlServer] = weakref.WeakSet()


@atexit.register
def _close_servers() -> None:
    for server in list(_SERVERS):
        with contextlib.suppress(Exception):
            server.close()


def serve(name: str, port: Port) -> ControlServer:
    return ControlServer(name, port)


# --- the client ----------------------------------------------------------------------------------


def _request(path: str, verb: str, args: Mapping[str, Any], timeout: float) -> Any:
    """One exchange; raises the server's error, or OSError/TimeoutError when no answer came."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as s:
        s.settimeout(CONNECT_TIMEOUT)
        s.connect(path)
        s.settimeout(timeout)
        s.sendall(json.dumps({"verb": verb, "args": encode(dict(args))}).encode() + b"\n")
        line = _recv_line(s, MAX_ANSWER)
    if not line:
        raise ConnectionError(errno.ECONNRESET, f"{path}: closed without answering {verb}")
    answer = json.loads(line)
    if not isinstance(answer, dict) or "ok" not in answer:
        raise ValueError(f"{path}: malformed answer to {verb}")
    if answer["ok"]:
        return decode(answer.get("result"))
    raise _rebuild_error(answer.get("error") or {})


def _ask(path: str, verb: str, args: Mapping[str, Any], timeout: float) -> Any:
    """Like _request, but None when no server is there (no socket, or one nobody listens on: the
    file a dead process left). A server that accepts and does not answer raises TimeoutError."""
    try:
        return _request(path, verb, args, timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        return None


class RemotePort:
    """:class:`xdpkt.ethtool.EthtoolBackend` for a Port of another process, over its control socket."""

    def __init__(self, name: str, path: str, hello: Mapping[str, Any]) -> None:
        self.name = name
        self.path = path
        self.pid = int(hello.get("pid", 0))
        self.hello = dict(hello)

    def __repr__(self) -> str:
        return f"RemotePort({self.name!r}, pid={self.pid})"

    @property
    def ifname(self) -> str:
        return f"port:{self.name}"

    def _call(self, verb: str, kind: type[T], **args: Any) -> T:
        timeout = VERBS[verb][1]
        try:
            result = _request(self.path, verb, args, timeout)
        except TimeoutError:
            raise TimeoutError(
                errno.ETIMEDOUT,
                f"port:{self.name} (pid {self.pid}, {self.path}) did not answer {verb} within {timeout:g} s",
            ) from None
        except (FileNotFoundError, ConnectionRefusedError):
            raise et.NoSuchDeviceError(
                f"port:{self.name} is gone (pid {self.pid} no longer answers at {self.path})"
            ) from None
        if not isinstance(result, kind):
            raise ValueError(f"{self.path}: {verb} answered a {type(result).__name__}, not a {kind.__name__}")
        return result

    def driver_info(self) -> et.DriverInfo:
        return self._call("driver_info", et.DriverInfo)

    def features(self) -> et.Features:
        return self._call("features", et.Features)

    def set_features(self, changes: Mapping[str, bool]) -> et.FeatureChange:
        return self._call("set_features", et.FeatureChange, changes=dict(changes))

    def rings(self) -> et.Rings:
        return self._call("rings", et.Rings)

    def set_rings(self, values: Mapping[str, int | bool | str]) -> et.Rings:
        return self._call("set_rings", et.Rings, values=dict(values))

    def coalesce(self) -> et.Coalesce:
        return self._call("coalesce", et.Coalesce)

    def set_coalesce(self, values: Mapping[str, int | bool]) -> et.Coalesce:
        return self._call("set_coalesce", et.Coalesce, values=dict(values))

    def channels(self) -> et.Channels:
        return self._call("channels", et.Channels)

    def set_channels(self, values: Mapping[str, int]) -> et.Channels:
        return self._call("set_channels", et.Channels, values=dict(values))

    def stats(self) -> et.Stats:
        return self._call("stats", et.Stats)

    def rss(self) -> et.Rss:
        return self._call("rss", et.Rss)

    def set_rss(self, indirection: Sequence[int] | None, key: bytes | None, hfunc: str | None) -> et.Rss:
        table = None if indirection is None else [int(q) for q in indirection]
        return self._call("set_rss", et.Rss, indirection=table, key=key, hfunc=hfunc)

    def xdp_support(self) -> et.XdpSupport:
        return self._call("xdp_support", et.XdpSupport)


def connect(name: str) -> RemotePort | None:
    """The Port named ``name`` in another process, or None when no server is at its socket."""
    path = socket_path(name)
    try:
        hello = _ask(path, "hello", {}, READ_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(
            errno.ETIMEDOUT, f"port:{name}: {path} accepts but did not answer within {READ_TIMEOUT:g} s"
        ) from None
    if not isinstance(hello, dict):
        return None
    return RemotePort(name, path, hello)


_LIST_KEYS: Final = ("name", "pid", "ifname", "netns", "channels", "mode", "state")


def list_ports(local: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every named Port that answers: ``local`` (this process's registry) first, then the sockets."""
    out: list[dict[str, Any]] = []
    for name in sorted(local):
        port = local[name]
        closed = bool(getattr(port, "closed", False))
        forwarding = bool(getattr(port, "forwarding", False)) if not closed else False
        out.append(
            {
                "name": name,
                "pid": os.getpid(),
                "ifname": getattr(port, "ifname", ""),
                "netns": getattr(getattr(port, "config", None), "netns", None),
                "channels": getattr(port, "channels", None),
                "mode": getattr(port, "mode", None),
                "state": "closed" if closed else ("forwarding" if forwarding else "idle"),
            }
        )
    seen = {d["name"] for d in out}
    try:
        entries = sorted(os.listdir(run_dir()))
    except (FileNotFoundError, NotADirectoryError):
        entries = []
    for entry in entries:
        if not (entry.startswith(PREFIX) and entry.endswith(SUFFIX)):
            continue
        name = entry[len(PREFIX) : -len(SUFFIX)]
        if name in seen:
            continue
        path = os.path.join(run_dir(), entry)
        try:
            hello = _ask(path, "hello", {}, READ_TIMEOUT)
        except (OSError, ValueError) as e:  # not answering, or not one of ours: not running
            _log.debug("xdpkt control %s: %s", path, e)
            continue
        if isinstance(hello, dict):
            out.append({k: hello.get(k) for k in _LIST_KEYS})
    return out
