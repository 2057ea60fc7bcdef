#!/usr/bin/env python3
"""The offload jobs done the scapy way: the Python-level peer of xdpkt.

`segment(frame, mss)` cuts a TCP (TSO) or UDP (USO) super-frame into MSS-sized
frames by building each one with scapy layers and letting scapy compute the
lengths and checksums.  `coalesce(frames)` parses every frame with scapy,
merges in-order TCP segments of the same flow (same addresses, ports, ack,
flags but PSH/FIN, window, TTL, options; a PSH or FIN segment ends the
aggregate) and rebuilds each aggregate with scapy.

Deliberately *less* work than xdpkt's engine, so the ratio is conservative:
no input checksum verification in `coalesce`, no IPv4 ID / TOS / DF rules.

Command line (whole-file job, same shape as `xdpkt gro|gso IN OUT`):
    scapy_peer.py gro IN.pcap OUT.pcap [--limit N] [--batch N]
    scapy_peer.py gso IN.pcap OUT.pcap [--limit N] [--mss N]
reads with scapy's PcapReader, writes with PcapWriter; `--limit` stops after
N input frames (scapy is slow: the benchmark times a subset and extrapolates).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import PcapReader, PcapWriter

FIN, PSH, CWR = 0x01, 0x08, 0x80


def _as_packet(frame: bytes | Packet) -> Packet:
    return frame if isinstance(frame, Packet) else Ether(bytes(frame))


def _reset_l3(p: Packet) -> None:
    if IP in p:
        p[IP].len = None
        p[IP].chksum = None
    elif IPv6 in p:
        p[IPv6].plen = None


def segment(frame: bytes | Packet, mss: int) -> list[bytes]:
    """TSO/USO with scapy: one built frame per `mss` bytes of L4 payload."""
    p = _as_packet(frame)
    l4: Any = p[TCP] if TCP in p else p[UDP] if UDP in p else None
    if l4 is None:
        raise ValueError("not a TCP or UDP frame")
    data = bytes(l4.payload)
    if len(data) <= mss:
        return [bytes(p)]
    hdr = p.copy()
    hdr_l4: Any = hdr[TCP] if TCP in hdr else hdr[UDP]
    hdr_l4.remove_payload()
    is_tcp = TCP in hdr
    ip_id = hdr[IP].id if IP in hdr else 0
    flags = int(hdr_l4.flags) if is_tcp else 0
    out = []
    nseg = (len(data) + mss - 1) // mss
    for i in range(nseg):
        s = hdr.copy()
        _reset_l3(s)
        if IP in s:
            s[IP].id = (ip_id + i) & 0xFFFF
        if is_tcp:
            t = s[TCP]
            t.seq = (hdr_l4.seq + i * mss) & 0xFFFFFFFF
            f = flags
            if i != nseg - 1:
                f &= ~(FIN | PSH)
            if i != 0:
                f &= ~CWR
            t.flags = f
            t.chksum = None
        else:
            s[UDP].len = None
            s[UDP].chksum = None
        s = s / Raw(data[i * mss : (i + 1) * mss])
        out.append(bytes(s))
    return out


def _flow_key(p: Packet) -> tuple[Any, ...] | None:
    if TCP not in p:
        return None
    ip = p[IP] if IP in p else p[IPv6] if IPv6 in p else None
    if ip is None:
        return None
    t = p[TCP]
    return (p[Ether].src, p[Ether].dst, ip.src, ip.dst, t.sport, t.dport)


def _same_headers(a: Packet, b: Packet) -> bool:
    ta, tb = a[TCP], b[TCP]
    # flags must match except PSH/FIN, which a merged segment brings to the head and ends it
    if ta.ack != tb.ack or ta.window != tb.window or (int(ta.flags) ^ int(tb.flags)) & ~(PSH | FIN):
        return False
    if ta.options != tb.options:
        return False
    if IP in a:
        return bool(a[IP].ttl == b[IP].ttl)
    return bool(a[IPv6].hlim == b[IPv6].hlim)


class _Held:
    __slots__ = ("head", "next_seq", "payload", "segs")

    def __init__(self, p: Packet, payload: bytes) -> None:
        self.head = p
        self.payload = bytearray(payload)
        self.next_seq = (p[TCP].seq + len(payload)) & 0xFFFFFFFF
        self.segs = 1

    def build(self) -> bytes:
        if self.segs == 1:
            return bytes(self.head)
        p = self.head.copy()
        p[TCP].remove_payload()
        _reset_l3(p)
        p[TCP].chksum = None
        return bytes(p / Raw(bytes(self.payload)))


def coalesce(frames: Iterable[bytes | Packet], max_size: int = 65535) -> list[bytes]:
    """GRO over one batch with scapy parsing and building."""
    out: list[bytes] = []
    held: dict[tuple[Any, ...], _Held] = {}
    order: list[tuple[Any, ...]] = []
    for fr in frames:
        p = _as_packet(fr)
        key = _flow_key(p)
        if key is None:
            out.append(bytes(p))
            continue
        payload = bytes(p[TCP].payload)
        h = held.get(key)
        if h is not None:
            head_l3 = h.head[IP] if IP in h.head else h.head[IPv6]
            l3len = len(head_l3) + len(h.payload) - len(h.head[TCP].payload)
            if (
                payload
                and p[TCP].seq == h.next_seq
                and _same_headers(h.head, p)
                and l3len + len(payload) <= max_size
            ):
                h.payload += payload
                h.next_seq = (h.next_seq + len(payload)) & 0xFFFFFFFF
                h.segs += 1
                end = int(p[TCP].flags) & (PSH | FIN)
                if end:
                    h.head[TCP].flags = int(h.head[TCP].flags) | end
                    out.append(h.build())
                    del held[key]
                    order.remove(key)
                continue
            out.append(h.build())
            del held[key]
            order.remove(key)
        if not payload:
            out.append(bytes(p))
            continue
        held[key] = _Held(p, payload)
        order.append(key)
    for key in order:
        out.append(held[key].build())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["gro", "gso"])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--limit", type=int, default=0, help="stop after N input frames (0: all)")
    ap.add_argument("--batch", type=int, default=64, help="gro: frames per batch (one poll)")
    ap.add_argument("--mss", type=int, default=1448)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    n_in = n_out = 0
    with PcapReader(a.inp) as rd, PcapWriter(a.out, linktype=1, sync=False) as wr:
        batch: list[Packet] = []

        def emit(frames: list[bytes]) -> None:
            nonlocal n_out
            for f in frames:
                wr.write(f)
            n_out += len(frames)

        for p in rd:
            if a.limit and n_in >= a.limit:
                break
            n_in += 1
            if a.mode == "gso":
                l4 = TCP in p or UDP in p
                emit(segment(p, a.mss) if l4 else [bytes(p)])
            else:
                batch.append(p)
                if len(batch) >= a.batch:
                    emit(coalesce(batch))
                    batch = []
        if batch:
            emit(coalesce(batch))
    el = time.perf_counter() - t0
    print(f"scapy {a.mode}: {n_in} frames in, {n_out} frames out, {el:.3f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
