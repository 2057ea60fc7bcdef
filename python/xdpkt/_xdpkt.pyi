"""Type stubs of the Rust extension module ``xdpkt._xdpkt`` (hand-written, checked by stubtest)."""

from collections.abc import Callable, Iterable, Iterator
from os import PathLike
from types import TracebackType
from typing import Any, Final, Self, final

from typing_extensions import Buffer, disjoint_base

from xdpkt._types import GroStatsDict, JobSummary

__all__ = [
    "UDP_MAX_SEGMENTS",
    "Batch",
    "Gro",
    "Packet",
    "PacketError",
    "PacketView",
    "Socket",
    "XdpktError",
    "__version__",
    "bench",
    "gro_coalesce",
    "gro_file",
    "gso_file",
    "gso_segment",
]

__version__: Final[str]
UDP_MAX_SEGMENTS: Final[int]

class XdpktError(Exception): ...
class PacketError(XdpktError, ValueError): ...

@final
class Packet:
    """A frame plus offload metadata; bytes(p), len(p), memoryview(p)."""

    def __new__(
        cls,
        data: Buffer | Packet,
        *,
        gso_size: int = 0,
        gso_segs: int = 0,
        gso_type: str = "none",
        gso_fixed_id: bool = False,
    ) -> Packet: ...
    def __bytes__(self) -> bytes: ...
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def gso_size(self) -> int: ...
    @property
    def gso_segs(self) -> int: ...
    @property
    def gso_type(self) -> str: ...
    @property
    def gso_fixed_id(self) -> bool: ...

@final
class Gro:
    """Streaming GRO: a bounded flow table whose aggregates live across pushes."""

    def __new__(
        cls, max_size: int = 65535, flush_usecs: int = 0, max_flows: int = 64, udp: bool = False
    ) -> Gro: ...
    def push(self, frames: Iterable[Buffer | Packet], now_ns: int | None = None) -> list[Packet]: ...
    def flush(self) -> list[Packet]: ...
    def flush_expired(self, now_ns: int | None = None) -> list[Packet]: ...
    def stats(self) -> GroStatsDict: ...
    @property
    def held(self) -> int: ...
    @property
    def max_size(self) -> int: ...
    @property
    def max_flows(self) -> int: ...
    @property
    def udp(self) -> bool: ...
    @property
    def flush_usecs(self) -> int: ...

def gso_segment(frame: Buffer | Packet, mss: int | None = None, fixed_id: bool = False) -> list[bytes]: ...
def gro_coalesce(
    frames: Iterable[Buffer | Packet], max_size: int = 65535, udp: bool = False, max_flows: int = 64
) -> tuple[list[Packet], dict[str, int]]: ...
def gso_file(
    in_path: str | PathLike[str],
    out_path: str | PathLike[str],
    mss: int,
    fixed_id: bool = False,
    progress: Callable[[int, int, int], object] | None = None,
) -> JobSummary: ...
def gro_file(
    in_path: str | PathLike[str],
    out_path: str | PathLike[str],
    max_size: int = 65535,
    udp: bool = False,
    flush_usecs: int | None = None,
    max_flows: int = 64,
    progress: Callable[[int, int, int], object] | None = None,
) -> JobSummary: ...

# --- AF_XDP datapath (xsk): xdpkt.Socket, its Batch and PacketView ---

@final
class PacketView:
    """One received packet, zero-copy: bytes(p), len(p), memoryview(p) (read-only)."""

    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class Batch:
    """Packets from one recv(); frames go back to the UMEM on close() or when dropped."""

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[PacketView]: ...
    def __getitem__(self, index: int, /) -> PacketView: ...
    def lengths(self) -> list[int]: ...
    def to_bytes(self) -> list[bytes]: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> bool: ...

@disjoint_base
class Socket:
    """An AF_XDP socket on one queue of one interface (see xdpkt.socket.Socket)."""

    def __new__(
        cls,
        ifname: str,
        queue: int = 0,
        *,
        mode: str = "auto",
        frames: int = 4096,
        frame_size: int = 4096,
        ring_size: int = 2048,
        need_wakeup: bool = True,
        busy_poll: bool = False,
        netns: str | None = None,
        xskmap: str | PathLike[str] | int | None = None,
        multi_buffer: bool = False,
        shared_umem: Socket | None = None,
    ) -> Self: ...
    @property
    def mode(self) -> str: ...
    @property
    def ifname(self) -> str: ...
    @property
    def queue(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def notes(self) -> list[str]: ...
    def recv(self, max_packets: int = 64, timeout: float | None = 1.0) -> Batch: ...
    def send(self, frames: Batch | Iterable[Buffer]) -> int: ...
    def stats(self) -> dict[str, int]: ...
    def close(self) -> None: ...
    def fileno(self) -> int: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> bool: ...

def bench(
    mode: str,
    ifname: str,
    *,
    queue: int = 0,
    seconds: float = 5.0,
    size: int = 64,
    batch: int = 64,
    xdp_mode: str = "auto",
    frames: int = 4096,
    frame_size: int = 4096,
    ring_size: int = 2048,
    need_wakeup: bool = True,
    busy_poll: bool = False,
    netns: str | None = None,
    peer: str | None = None,
    peer_queue: int = 0,
) -> dict[str, Any]: ...
