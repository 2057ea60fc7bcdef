"""The AF_XDP socket: ``xdpkt.Socket`` and the ``Batch`` of packets it receives.

Needs root (or CAP_NET_RAW + CAP_BPF + CAP_NET_ADMIN). ``mode="auto"`` tries
zero-copy, then copy, then generic XDP; each fallback is logged on the ``xdpkt``
logger at INFO level, and ``Socket.mode`` tells what was obtained.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

from xdpkt._xdpkt import Batch, PacketView
from xdpkt._xdpkt import Socket as _Socket

__all__ = ["Batch", "PacketView", "Socket"]

_log = logging.getLogger("xdpkt")

Mode = Literal["auto", "zerocopy", "copy", "skb"]


class Socket(_Socket):
    """An AF_XDP socket on one queue of one interface (a context manager).

    ``netns``: open the socket inside that network namespace (a name under
    ``/var/run/netns`` or a path); the socket keeps working from any thread.
    ``xskmap``: use this XSKMAP (pinned path or fd) of your own XDP program instead
    of loading xdpkt's redirect program. ``multi_buffer``: frames larger than one UMEM
    frame (jumbo frames) span several frames (``XDP_USE_SG``, kernel 6.6+).

    ``shared_umem``: open this socket on another socket's UMEM (``XDP_SHARED_UMEM``;
    another queue or another interface). It inherits that socket's ``mode``,
    ``need_wakeup`` and ``multi_buffer`` (the kernel takes no bind flags on a shared
    bind) and its UMEM geometry, so ``mode``, ``frames``, ``frame_size`` and
    ``multi_buffer`` given here are ignored; its own rings still get ``ring_size``.
    A ``Batch`` received on one socket of the UMEM and passed to ``send`` of another
    moves its frames onto that socket's TX ring without a copy: the batch is consumed
    (afterwards empty and closed). The UMEM lives while any socket of it is open.
    """

    def __init__(
        self,
        ifname: str,
        queue: int = 0,
        *,
        mode: Mode = "auto",
        frames: int = 4096,
        frame_size: int = 4096,
        ring_size: int = 2048,
        need_wakeup: bool = True,
        busy_poll: bool = False,
        netns: str | None = None,
        xskmap: str | os.PathLike[str] | int | None = None,
        multi_buffer: bool = False,
        shared_umem: _Socket | None = None,
    ) -> None:
        for note in self.notes():
            _log.info("xdpkt.Socket(%s, %d): %s", ifname, queue, note)

    def __enter__(self) -> Socket:
        return self
