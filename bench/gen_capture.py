#!/usr/bin/env python3
"""Deterministic pcap generator for the offload benchmarks (issue 2, "Speed").

Every benchmark reads its input from a file written here, so the C peer
(DPDK), our Rust example, the CLI and scapy all see byte-identical frames.

Workloads (IPv4 or IPv6, Ethernet, no VLAN):
  gro   F interleaved TCP flows of MSS-sized segments (default 64 flows,
        1448-byte payload, TCP timestamp option -> 1514-byte IPv4 frames).
        Order: segment-wise round robin over the flows (`--run R` gives each
        flow R consecutive segments per turn).  Every header is what a Linux
        sender puts on the wire for a bulk transfer: ACK only, DF set,
        incrementing IPv4 ID, constant window/ack/timestamps, valid IPv4
        header and TCP checksums.  All of it merges under kernel rules and
        under DPDK's rules alike.
  gso   TCP super-frames as a TSO sender's capture shows them: 45 * 1448 =
        65160 bytes of payload (IPv4 total length 65212), ACK|PSH, valid
        checksums.  Segmenting at MSS 1448 gives exactly 45 frames each.
  uso   the same for UDP (UDP length 65168); USO at 1448 gives 45 datagrams.

Payload bytes come from one seeded pseudo-random 65160-byte block; segment k
of a flow carries slice k % 45 of it, a super-frame carries the whole block,
so segmenting a super-frame gives exactly the GRO workload's segments.

Pure Python (struct), no scapy: one million frames take a few seconds.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
from collections.abc import Iterable, Iterator

MSS = 1448
SEGS_PER_SUPER = 45
BLOCK = MSS * SEGS_PER_SUPER  # 65160
TCP_HDR = 32  # 20 + NOP NOP TS(10)
SRC_MAC = bytes.fromhex("020000000001")
DST_MAC = bytes.fromhex("020000000002")
SRC4 = bytes([198, 18, 0, 1])
DST4 = bytes([198, 19, 0, 1])
SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8000000000000000000000002")
DPORT = 5201
SPORT_BASE = 40000
LINKTYPE_ETHERNET = 1


def csum_add(data: bytes) -> int:
    """Unfolded 16-bit one's complement sum of big-endian words (even length)."""
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def finish(s: int) -> int:
    return ~fold(s) & 0xFFFF


class Payload:
    def __init__(self, seed: int) -> None:
        self.block = random.Random(seed).randbytes(BLOCK)
        self.slices = [self.block[i * MSS : (i + 1) * MSS] for i in range(SEGS_PER_SUPER)]
        self.slice_sums = [csum_add(s) for s in self.slices]
        self.block_sum = sum(self.slice_sums)


def pcap_header(snaplen: int = 262144) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET)


def pcap_record(n: int, data: bytes) -> bytes:
    """Record header + data; record n is stamped n microseconds after the epoch."""
    return struct.pack("<IIII", n // 1_000_000, n % 1_000_000, len(data), len(data)) + data


def eth(v6: bool) -> bytes:
    return DST_MAC + SRC_MAC + (b"\x86\xdd" if v6 else b"\x08\x00")


class Flow:
    """Header template of one flow; `frame()` patches seq/ID and checksums incrementally."""

    def __init__(self, idx: int, v6: bool, proto: int, pl: Payload) -> None:
        self.v6 = v6
        self.proto = proto
        self.pl = pl
        self.sport = SPORT_BASE + idx
        self.seq0 = (0x10000000 + idx * 0x01000000) & 0xFFFFFFFF
        self.ack = (0x20000000 + idx * 7919) & 0xFFFFFFFF
        self.ipid0 = (idx * 1000) & 0xFFFF
        self.tsval = 0x01000000 + idx
        self.tsecr = 0x02000000 + idx
        self.flowlabel = (0x12345 + idx) & 0xFFFFF

    def frame(self, seg: int, payload_len: int, payload: bytes, payload_sum: int, flags: int) -> bytes:
        """TCP: seg = index of the first MSS segment this frame carries; UDP: seg = datagram index."""
        v6, proto = self.v6, self.proto
        l4len = (TCP_HDR if proto == 6 else 8) + payload_len
        if v6:
            src, dst = SRC6, DST6
        else:
            src, dst = SRC4, DST4
        pseudo = csum_add(src) + csum_add(dst) + proto + l4len
        if proto == 6:
            seq = (self.seq0 + seg * MSS) & 0xFFFFFFFF
            tcp0 = struct.pack(
                "!HHIIBBHHH", self.sport, DPORT, seq, self.ack, (TCP_HDR // 4) << 4, flags, 4096, 0, 0
            ) + struct.pack("!BBBBII", 1, 1, 8, 10, self.tsval, self.tsecr)
            ck = finish(pseudo + csum_add(tcp0) + payload_sum)
            l4 = tcp0[:16] + struct.pack("!H", ck) + tcp0[18:]
        else:
            udp0 = struct.pack("!HHHH", self.sport, DPORT, l4len, 0)
            ck = finish(pseudo + csum_add(udp0) + payload_sum) or 0xFFFF
            l4 = udp0[:6] + struct.pack("!H", ck)
        if v6:
            l3 = struct.pack("!IHBB", (6 << 28) | self.flowlabel, l4len, proto, 64) + src + dst
        else:
            ipid = (self.ipid0 + seg) & 0xFFFF
            ip0 = struct.pack("!BBHHHBBH", 0x45, 0, 20 + l4len, ipid, 0x4000, 64, proto, 0) + src + dst
            ipck = finish(csum_add(ip0))
            l3 = ip0[:10] + struct.pack("!H", ipck) + ip0[12:]
        return eth(v6) + l3 + l4 + payload


ACK, PSH = 0x10, 0x08


def gen_gro(frames: int, flows: int, run: int, v6: bool, pl: Payload) -> Iterator[bytes]:
    fl = [Flow(i, v6, 6, pl) for i in range(flows)]
    next_seg = [0] * flows
    n = 0
    while True:
        for f in range(flows):
            for _ in range(run):
                if n >= frames:
                    return
                k = next_seg[f]
                next_seg[f] += 1
                s = k % SEGS_PER_SUPER
                yield fl[f].frame(k, MSS, pl.slices[s], pl.slice_sums[s], ACK)
                n += 1


def gen_super(frames: int, flows: int, v6: bool, proto: int, pl: Payload) -> Iterator[bytes]:
    """Super-frame n belongs to flow n % flows and continues that flow's byte stream."""
    fl = [Flow(i, v6, proto, pl) for i in range(flows)]
    for n in range(frames):
        first_seg = (n // flows) * SEGS_PER_SUPER
        yield fl[n % flows].frame(first_seg, BLOCK, pl.block, pl.block_sum, ACK | PSH)


def generate(
    workload: str, ip: str = "v4", frames: int = 1, flows: int = 64, run: int = 1, seed: int = 2
) -> Iterator[bytes]:
    """The frames of one workload ("gro", "gso", "uso"), in file order."""
    if workload not in ("gro", "gso", "uso") or ip not in ("v4", "v6"):
        raise ValueError(f"unknown workload {workload!r} / ip {ip!r}")
    if frames < 1 or not 1 <= flows <= 20000 or run < 1:
        raise ValueError("frames, flows and run must be >= 1 (flows <= 20000)")
    pl = Payload(seed)
    v6 = ip == "v6"
    if workload == "gro":
        return gen_gro(frames, flows, run, v6, pl)
    return gen_super(frames, flows, v6, 6 if workload == "gso" else 17, pl)


def write_pcap(path: str, it: Iterable[bytes]) -> int:
    """Writes the frames as a classic pcap (µs, Ethernet); returns how many."""
    n = 0
    with open(path, "wb", buffering=1 << 20) as out:
        out.write(pcap_header())
        for n, data in enumerate(it, 1):
            out.write(pcap_record(n - 1, data))
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=["gro", "gso", "uso"])
    ap.add_argument("out", help="output pcap path ('-' for stdout)")
    ap.add_argument("--ip", choices=["v4", "v6"], default="v4")
    ap.add_argument("--frames", type=int, required=True, help="number of frames written")
    ap.add_argument("--flows", type=int, default=64)
    ap.add_argument("--run", type=int, default=1, help="gro: consecutive segments per flow per turn")
    ap.add_argument("--seed", type=int, default=2)
    a = ap.parse_args(argv)
    if a.frames < 1 or not 1 <= a.flows <= 20000 or a.run < 1:
        ap.error("frames, flows and run must be >= 1 (flows <= 20000)")
    frames = generate(a.workload, a.ip, a.frames, a.flows, a.run, a.seed)
    if a.out == "-":
        sys.stdout.buffer.write(pcap_header())
        for n, data in enumerate(frames):
            sys.stdout.buffer.write(pcap_record(n, data))
    else:
        write_pcap(a.out, frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
