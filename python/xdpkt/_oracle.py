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

Why a ``gro_flush_timeout`` (10 ms) is enough and ``napi_defer_hard_irqs`` is not needed, and what this
kernel does that the written rules did not say: ``docs/kernel-oracle.md``.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Protocol

from xdpkt import netns
from xdpkt._conformance_cases import (
    ETH_P_8021Q,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SRC_MAC,
    GroCase,
    GsoCase,
    internet_checksum,
    l4_checksum_offset,
    l4_checksum_ok,
    l4_payload_len,
    parse,
    partial_csum_frame,
)

GRO_LEGACY_MAX_SIZE: Final = 65536
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
        self._gro_max_size = GRO_LEGACY_MAX_SIZE
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

    def set_gro_max_size(self, size: int) -> None:
        """``ip link set b gro_max_size``: aggregates stay below this many bytes of L3 (IPv6 here)."""
        if size != self._gro_max_size:
            b = self.pair.b
            b.ns.exec("ip", "link", "set", "dev", b.ifname, "gro_max_size", str(size))
            self._gro_max_size = size

    def gro(self, frames: Sequence[bytes], *, max_size: int = 65535) -> list[Delivered]:
        """Send ``frames`` back to back from ``a``; return what ``b``'s stack received, in order.

        ``max_size`` is the largest aggregate as an L3 length (our ``coalesce`` parameter); the kernel's
        ``gro_max_size`` is one more (it merges while the length stays below it).
        """
        self.set_gro_max_size(max_size + 1)
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
    max_size: int = 65535,
) -> list[list[Delivered]]:
    """Run a GRO case through the kernel until ``accept`` takes a run, at most ``tries`` times.

    A busy machine can split a burst across NAPI polls (a jiffy tick between two sends flushes the held
    aggregates), so one kernel run may legitimately merge less than the rules allow; a case passes when
    any run matches. Returns every run made, the accepted one last.
    """
    runs: list[list[Delivered]] = []
    for _ in range(tries):
        runs.append(oracle.gro(frames, max_size=max_size))
        if accept(runs[-1]):
            break
    return runs


@contextmanager
def open_oracle(*, quiet: float = 0.06, timeout: float = 3.0) -> Iterator[KernelOracle]:
    """A KernelOracle on a fresh VethPair (MTU 65535); both namespaces are removed on exit."""
    with netns.VethPair(mtu=65535, tag="oracle") as pair:
        yield KernelOracle(pair, quiet=quiet, timeout=timeout)


# --- differential comparison (used by the tests and by ``xdpkt conformance``) ---------------------


class _PacketLike(Protocol):
    @property
    def gso_size(self) -> int: ...
    @property
    def gso_segs(self) -> int: ...
    def __bytes__(self) -> bytes: ...


# coalesce(frames, max_size, udp, max_flows)
Coalesce = Callable[[list[bytes], int, bool, int], Sequence[_PacketLike]]
Segment = Callable[[bytes, int], Sequence[bytes]]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one case: ``ok``, or what differs (human-readable, kernel first then ours)."""

    name: str
    ok: bool
    detail: str = ""
    kernel_runs: int = 1


def ipv4_header_ok(frame: bytes) -> bool:
    p = parse(frame)
    if p.v6 or p.l3_len is None:
        return True
    ihl = (frame[p.l3] & 0x0F) * 4
    return internet_checksum(frame[p.l3 : p.l3 + ihl]) == 0


def ours_gro_outputs(packets: Sequence[_PacketLike]) -> tuple[list[Out], list[str]]:
    """Normalise our GRO output like the kernel's; also list problems (invalid checksums of aggregates)."""
    outs: list[Out] = []
    problems: list[str] = []
    for i, p in enumerate(packets):
        frame = bytes(p)
        gso_size = int(p.gso_size)
        if gso_size:
            # The kernel leaves this checksum partial; ours must be valid on its own.
            if not l4_checksum_ok(frame):
                problems.append(f"our aggregate {i} has an invalid L4 checksum")
            if not ipv4_header_ok(frame):
                problems.append(f"our aggregate {i} has an invalid IPv4 header checksum")
            frame = zero_l4_checksum(frame)
        outs.append(Out(frame, gso_size, int(p.gso_segs) if gso_size else 1))
    return outs, problems


def _first_difference(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first differing byte at offset {i}: kernel {x:#04x} ours {y:#04x}"
    return f"lengths differ: kernel {len(a)} ours {len(b)}"


def explain_flows(
    kernel: dict[tuple[object, ...], list[Out]], ours: dict[tuple[object, ...], list[Out]]
) -> str:
    lines = []
    for n, key in enumerate(dict.fromkeys([*kernel, *ours])):
        k, o = kernel.get(key, []), ours.get(key, [])
        mark = "" if k == o else "  <-- differs"
        lines.append(f"flow {n}: kernel {[x.describe() for x in k]}{mark}")
        lines.append(f"        ours   {[x.describe() for x in o]}")
        for i, (kx, ox) in enumerate(zip(k, o, strict=False)):
            if kx != ox:
                what = _first_difference(kx.frame, ox.frame) if kx.frame != ox.frame else "gso metadata"
                lines.append(f"        frame {i}: {what}")
                break
    return "\n".join(lines)


def compare_gro(oracle: KernelOracle, case: GroCase, coalesce: Coalesce, *, tries: int = 3) -> Verdict:
    """Our ``coalesce`` against up to ``tries`` kernel runs of ``case``; ok when any run matches per flow."""
    outs, problems = ours_gro_outputs(coalesce(list(case.frames), case.max_size, case.udp, case.max_flows))
    ours = by_flow(outs)

    def matches(run: list[Delivered]) -> bool:
        return by_flow([kernel_out(d) for d in run]) == ours

    runs = gro_runs(oracle, case.frames, matches, tries=tries, max_size=case.max_size)
    if matches(runs[-1]) and not problems:
        return Verdict(case.name, True, kernel_runs=len(runs))
    detail = list(problems)
    if not matches(runs[-1]):
        detail.append("ours differs from every kernel run:")
        # Distinct kernel runs only (a deterministic difference repeats the same run three times).
        detail.extend(dict.fromkeys(explain_flows(by_flow([kernel_out(d) for d in r]), ours) for r in runs))
    return Verdict(case.name, False, "\n".join(detail), kernel_runs=len(runs))


def compare_gso(
    oracle: KernelOracle,
    case: GsoCase,
    segment: Segment,
    rejected: type[BaseException],
    *,
    tries: int = 3,
) -> Verdict:
    """Our ``segment`` against the kernel's software GSO of ``case`` (kernel asked again if they differ)."""
    kernel = oracle.gso(case.frame, case.mss)
    try:
        ours = [bytes(s) for s in segment(case.frame, case.mss)]
    except rejected as exc:
        if case.ours_rejects:
            if kernel and case.kernel_rejects:
                return Verdict(case.name, False, f"kernel sent {len(kernel)} segments, expected a drop")
            return Verdict(case.name, True, f"refused: {exc}")
        return Verdict(case.name, False, f"ours refused the frame: {exc}; kernel sent {len(kernel)} segments")
    if case.ours_rejects:
        return Verdict(case.name, False, f"ours segmented into {len(ours)} instead of refusing")
    runs = 1
    while kernel != ours and runs < tries:
        kernel = oracle.gso(case.frame, case.mss)  # a frame lost on a busy machine: ask again
        runs += 1
    problems = [
        f"our segment {i} has an invalid L4 checksum" for i, s in enumerate(ours) if not l4_checksum_ok(s)
    ]
    if kernel == ours and not problems:
        return Verdict(case.name, True, kernel_runs=runs)
    detail = [
        *problems,
        f"kernel {len(kernel)} segments, payloads {[l4_payload_len(s) for s in kernel][:10]}",
        f"ours   {len(ours)} segments, payloads {[l4_payload_len(s) for s in ours][:10]}",
    ]
    for i, (k, o) in enumerate(zip(kernel, ours, strict=False)):
        if k != o:
            detail.append(f"segment {i}: {_first_difference(k, o)}")
            break
    return Verdict(case.name, False, "\n".join(detail), kernel_runs=runs)
