"""Generic segmentation offload (TSO for TCP, USO for UDP) with Linux kernel semantics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xdpkt._xdpkt import UDP_MAX_SEGMENTS, Packet, gso_segment

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["UDP_MAX_SEGMENTS", "segment"]


def segment(frame: Buffer | Packet, mss: int | None = None, *, fixed_id: bool = False) -> list[bytes]:
    """Cut one Ethernet frame carrying TCP or UDP over IPv4/IPv6 into wire-size frames.

    ``mss`` is the L4 payload per segment (``gso_size``); with ``mss=None`` the
    frame must be a :class:`xdpkt.Packet` and its own ``gso_size`` is used, so
    ``segment(p)`` gives back the segments a GRO aggregate was built from. A
    payload that fits in one segment is returned unchanged. Every segment has
    full IP and L4 checksums. ``fixed_id`` keeps the first IPv4 ID on every
    segment instead of incrementing it.

    Raises :class:`xdpkt.PacketError` (a ``ValueError``) naming what is wrong
    with a malformed frame, ``ValueError`` for an ``mss`` outside 1..=65535.
    """
    return gso_segment(frame, mss, fixed_id)
