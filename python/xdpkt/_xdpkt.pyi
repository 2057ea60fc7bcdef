"""Type stubs of the Rust extension module ``xdpkt._xdpkt`` (hand-written, checked by stubtest)."""

from collections.abc import Callable, Iterable
from os import PathLike
from typing import Final, final

from typing_extensions import Buffer

from xdpkt._types import GroStatsDict, JobSummary

__all__ = [
    "UDP_MAX_SEGMENTS",
    "Gro",
    "Packet",
    "PacketError",
    "XdpktError",
    "__version__",
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
