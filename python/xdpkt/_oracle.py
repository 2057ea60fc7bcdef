"""The Linux kernel on this machine as the reference for GRO and GSO (CONFORMANCE.md, "Test against
the kernel itself").

A :class:`KernelOracle` uses one :class:`~xdpkt.netns.VethPair` (MTU 65535):

* GRO: namespace ``a`` writes the case's frames on an AF_PACKET socket; device ``b`` has ``gro on`` and
  ``rx-udp-gro-forwarding on`` and a ``gro_flush_timeout`` so that aggregates survive from one NAPI poll to
  the next (every ``sendto`` on a veth is a poll of its own); an AF_PACKET socket on ``b`` with
  PACKET_VNET_HDR reads what the stack delivered, each frame with the ``virtio_net_hdr`` that carries the
  aggregate's gso_type and gso_size. The kernel leaves a merged TCP/UDP checksum partial (pseudo-header
  sum): :attr:`Delivered.csum_partial` tells which frames that is.
* GSO: device ``b`` has ``tso/gso/tx/tx-udp-segmentation off``, so the stack segments in software
  (validate_xmit_skb) and completes checksums; ``b`` writes one super-frame preceded by a virtio_net_hdr
  {NEEDS_CSUM, gso_type, gso_size, hdr_len, csum_start, csum_offset}, the L4 checksum field holding the
  pseudo-header sum; device ``a`` (GRO off, the veth default) delivers the segments to an AF_PACKET socket.

Receivers keep only frames whose source MAC is the cases' ``SRC_MAC`` (the namespaces' own IPv6 router
solicitations and the like are ignored) and put a VLAN tag the stack moved into metadata
(PACKET_AUXDATA) back into the frame. Every wait is bounded: collection stops after a quiet period or at
a hard deadline.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from xdpkt import netns
from xdpkt._conformance_cases import (
    ETH_P_8021Q,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SRC_MAC,
    l4_checksum_offset,
    l4_payload_len,
    parse,
    partial_csum_frame,
)

VNET_HDR: Final = struct.Struct("<BBHHHH")
VIRTIO_NET_HDR_F_NEEDS_CSUM: Final = 1
VIRTIO_NET_HDR_GSO_NONE: Final = 0
VIRTIO_NET_HDR_GSO_TCPV4: Final = 1
VIRTIO_NET_HDR_GSO_UDP: Final = 3
VIRTIO_NET_HDR_GSO_TCPV6: Final = 4
VIRTIO_NET_HDR_GSO_UDP_L4: Final = 5
VIRTIO_NET_HDR_GSO_ECN: Final = 0x80

PACKET_AUXDATA: Final = 8
PACKET_OUTGOING: Final = 4
TP_STATUS_VLAN_VALID: Final = 0x10
TP_STATUS_VLAN_TPID_VALID: Final = 0x40
_AUXDATA: Final = struct.Struct("=IIIHHHH")
_RECV_SIZE: Final = 65535 + 14 + 8 + VNET_HDR.size + 64


@dataclass(frozen=True)
class Delivered:
    """One frame as the kernel handed it to the stack, with its GSO metadata."""

    frame: bytes
    gso_type: int = VIRTIO_NET_HDR_GSO_NONE
    gso_size: int = 0
    hdr_len: int = 0
    csum_partial: bool = False

    @property
    def gso_segs(self) -> int:
        """Segments in an aggregate (the kernel's skb gso_segs); 1 for a frame that was not merged."""
        if self.gso_size == 0:
            return 1
        payload = l4_payload_len(self.frame)
        return max(1, -(-payload // self.gso_size))


def _with_vlan(frame: bytes, ancdata: list[tuple[int, int, bytes]]) -> bytes:
    for level, kind, data in ancdata:
        if level == netns.SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= _AUXDATA.size:
            status, _, _, _, _, tci, tpid = _AUXDATA.unpack_from(data)
            if status & TP_STATUS_VLAN_VALID:
                if not status & TP_STATUS_VLAN_TPID_VALID:
                    tpid = ETH_P_8021Q
                return frame[:12] + struct.pack("!HH", tpid, tci) + frame[12:]
    return frame


def _drain(sock: socket.socket) -> None:
    while True:
        ready, _, _ = select.select([sock], [], [], 0)
        if not ready:
            return
        sock.recv(_RECV_SIZE)


def _collect(sock: socket.socket, *, vnet: bool, quiet: float, timeout: float) -> list[Delivered]:
    """Read frames until nothing came for ``quiet`` seconds or ``timeout`` passed since the start."""
    out: list[Delivered] = []
    start = last = time.monotonic()
    while True:
        now = time.monotonic()
        wait = min(last + quiet, start + timeout) - now
        if wait <= 0:
            return out
        ready, _, _ = select.select([sock], [], [], wait)
        if not ready:
            continue
        data, ancdata, _, addr = sock.recvmsg(_RECV_SIZE, socket.CMSG_SPACE(_AUXDATA.size))
        if addr[2] == PACKET_OUTGOING:
            continue
        hdr = (0, 0, 0, 0, 0, 0)
        if vnet:
            hdr = VNET_HDR.unpack_from(data)
            data = data[VNET_HDR.size :]
        if data[6:12] != SRC_MAC:
            continue
        last = time.monotonic()
        flags, gso_type, hdr_len, gso_size, _, _ = hdr
        frame = _with_vlan(data, ancdata)
        out.append(
            Delivered(
                frame,
                gso_type=gso_type,
                gso_size=gso_size if gso_type != VIRTIO_NET_HDR_GSO_NONE else 0,
                hdr_len=hdr_len,
                csum_partial=bool(flags & VIRTIO_NET_HDR_F_NEEDS_CSUM),
            )
        )


def gso_vnet_header(frame: bytes, mss: int) -> bytes:
    """The virtio_net_hdr asking the kernel to segment ``frame`` at ``mss`` (or only checksum it)."""
    p = parse(frame)
    off = l4_checksum_offset(frame)
    if p.l4 is None or off is None or p.proto not in (IPPROTO_TCP, IPPROTO_UDP):
        raise ValueError("GSO needs a TCP or UDP frame")
    l4_hdr = (frame[p.l4 + 12] >> 4) * 4 if p.proto == IPPROTO_TCP else 8
    hdr_len = p.l4 + l4_hdr
    payload = l4_payload_len(frame)
    if payload <= mss:
        # A payload that fits one segment is not a GSO request: it goes out as is.
        return VNET_HDR.pack(
            VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, hdr_len, 0, p.l4, off - p.l4
        )
    if p.proto == IPPROTO_UDP:
        gso_type = VIRTIO_NET_HDR_GSO_UDP_L4
    else:
        gso_type = VIRTIO_NET_HDR_GSO_TCPV6 if p.v6 else VIRTIO_NET_HDR_GSO_TCPV4
    return VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM, gso_type, hdr_len, mss, p.l4, off - p.l4)


class KernelOracle:
    """Runs GRO and GSO cases through the kernel on a :class:`~xdpkt.netns.VethPair` it configures."""

    def __init__(
        self,
        pair: netns.VethPair,
        *,
        flush_timeout_ns: int = 10_000_000,
        quiet: float = 0.06,
        timeout: float = 3.0,
    ) -> None:
        self.pair = pair
        self.quiet = quiet
        self.timeout = timeout
        a, b = pair.a, pair.b
        netns.set_ethtool_features(a.ns, a.ifname, {"gro": False})
        netns.set_ethtool_features(b.ns, b.ifname, {"gro": True, "rx-udp-gro-forwarding": True})
        netns.set_gro_flush_timeout(b.ns, b.ifname, flush_timeout_ns)
        netns.set_ethtool_features(
            b.ns, b.ifname, {"tso": False, "gso": False, "tx": False, "tx-udp-segmentation": False}
        )

    def _rx(self, end: netns.Endpoint, *, vnet: bool) -> socket.socket:
        sock = netns.open_packet_socket(end.ns, end.ifname, vnet_hdr=vnet)
        try:
            sock.setsockopt(netns.SOL_PACKET, PACKET_AUXDATA, 1)
        except BaseException:
            sock.close()
            raise
        return sock

    def gro(self, frames: Sequence[bytes]) -> list[Delivered]:
        """Send ``frames`` back to back from ``a``; return what ``b``'s stack received, in order."""
        rx = self._rx(self.pair.b, vnet=True)
        try:
            tx = netns.open_packet_socket(self.pair.a.ns, self.pair.a.ifname, protocol=0)
            try:
                _drain(rx)
                for frame in frames:
                    tx.send(frame)
            finally:
                tx.close()
            return _collect(rx, vnet=True, quiet=self.quiet, timeout=self.timeout)
        finally:
            rx.close()

    def gso(self, frame: bytes, mss: int) -> list[bytes]:
        """Have ``b``'s stack segment ``frame`` (fully checksummed input) at ``mss``; ``a``'s view of it.

        An empty list means the kernel dropped the request (or refused it: the send error is swallowed,
        since refusing is an answer too).
        """
        vnet = gso_vnet_header(frame, mss)
        rx = self._rx(self.pair.a, vnet=False)
        try:
            tx = netns.open_packet_socket(self.pair.b.ns, self.pair.b.ifname, protocol=0, vnet_hdr=True)
            try:
                _drain(rx)
                try:
                    tx.send(vnet + partial_csum_frame(frame))
                except OSError:
                    return []
            finally:
                tx.close()
            return [d.frame for d in _collect(rx, vnet=False, quiet=self.quiet, timeout=self.timeout)]
        finally:
            rx.close()


# --- comparison helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Out:
    """A normalised output frame for comparison: bytes (merged L4 checksum zeroed), gso_size, gso_segs."""

    frame: bytes
    gso_size: int
    gso_segs: int

    def describe(self) -> str:
        return (
            f"len={len(self.frame)} payload={l4_payload_len(self.frame)} gso={self.gso_size}x{self.gso_segs}"
        )


def zero_l4_checksum(frame: bytes) -> bytes:
    off = l4_checksum_offset(frame)
    if off is None or off + 2 > len(frame):
        return frame
    return frame[:off] + b"\0\0" + frame[off + 2 :]


def kernel_out(d: Delivered) -> Out:
    frame = zero_l4_checksum(d.frame) if d.csum_partial and d.gso_size else d.frame
    return Out(frame, d.gso_size, d.gso_segs if d.gso_size else 1)


def by_flow(outs: Sequence[Out]) -> dict[tuple[object, ...], list[Out]]:
    """Group outputs per flow, keeping order within a flow (the kernel's order across flows is its hash's)."""
    flows: dict[tuple[object, ...], list[Out]] = {}
    for o in outs:
        flows.setdefault(parse(o.frame).key, []).append(o)
    return flows


def payload_geometry(outs: Sequence[Delivered]) -> list[int]:
    """L4 payload length of each delivered frame, in delivery order."""
    return [l4_payload_len(d.frame) for d in outs]


def geometry_by_flow(outs: Sequence[Delivered]) -> list[list[int]]:
    flows: dict[tuple[object, ...], list[int]] = {}
    for d in outs:
        flows.setdefault(parse(d.frame).key, []).append(l4_payload_len(d.frame))
    return list(flows.values())


def gro_runs(
    oracle: KernelOracle,
    frames: Sequence[bytes],
    accept: Callable[[list[Delivered]], bool],
    *,
    tries: int = 3,
) -> list[list[Delivered]]:
    """Run a GRO case through the kernel until ``accept`` takes a run, at most ``tries`` times.

    A busy machine can split a burst across NAPI polls (a jiffy tick between two sends flushes the held
    aggregates), so one kernel run may legitimately merge less than the rules allow; a case passes when
    any run matches. Returns every run made, the accepted one last.
    """
    runs: list[list[Delivered]] = []
    for _ in range(tries):
        runs.append(oracle.gro(frames))
        if accept(runs[-1]):
            break
    return runs


@contextmanager
def open_oracle(*, quiet: float = 0.06, timeout: float = 3.0) -> Iterator[KernelOracle]:
    """A KernelOracle on a fresh VethPair (MTU 65535); both namespaces are removed on exit."""
    with netns.VethPair(mtu=65535, tag="oracle") as pair:
        yield KernelOracle(pair, quiet=quiet, timeout=timeout)
