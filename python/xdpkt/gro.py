"""Generic receive offload with Linux kernel semantics: one-batch and streaming."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from xdpkt._xdpkt import Gro, Packet, gro_coalesce

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["Gro", "coalesce", "coalesce_counted"]


def coalesce(
    frames: Iterable[Buffer | Packet], *, max_size: int = 65535, udp: bool = False, max_flows: int = 64
) -> list[Packet]:
    """Coalesce one batch of Ethernet frames as one NAPI poll would.

    Frames of one TCP flow (and, with ``udp=True``, of one UDP flow) merge
    under the kernel's GRO rules into aggregates of at most ``max_size`` bytes
    of IP packet; each aggregate carries ``gso_size``/``gso_segs`` and valid
    checksums. Frames that cannot merge, malformed ones included, pass through
    untouched and in order: this function never raises on a bad frame.
    """
    return gro_coalesce(frames, max_size, udp, max_flows)[0]


def coalesce_counted(
    frames: Iterable[Buffer | Packet], *, max_size: int = 65535, udp: bool = False, max_flows: int = 64
) -> tuple[list[Packet], dict[str, int]]:
    """Like :func:`coalesce`, also returning the pass-through counts by reason (nonzero only)."""
    return gro_coalesce(frames, max_size, udp, max_flows)
