"""The two ends of ``xdpkt demo``'s traffic: a kernel TCP client and server (plus one UDP flow).

Run inside a network namespace as ``python -m xdpkt._demo_peer server|client ...``; prints one JSON
object on stdout when done. Each TCP stream starts with an 8-byte stream id, then carries a
deterministic pseudo-random byte stream; both ends hash every byte they send or receive (SHA-256), so
the demo can compare each stream end to end. The UDP flow carries sequence numbers, so loss and
reordering are counted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import struct
import sys
import threading
import time
from typing import Any

CHUNK = 256 * 1024
POOL = 8 * 1024 * 1024
STRIDE = 7919  # bytes the next chunk's start moves by: the stream never repeats at a chunk boundary
UDP_PAYLOAD = 1200


def _pool(seed: int) -> memoryview:
    data = random.Random(seed).randbytes(POOL + CHUNK)
    return memoryview(data)


def _serve_stream(conn: socket.socket, out: dict[int, dict[str, Any]], lock: threading.Lock) -> None:
    h = hashlib.sha256()
    n = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    hdr = b""
    with conn:
        while len(hdr) < 8:
            part = conn.recv(8 - len(hdr))
            if not part:
                return
            hdr += part
        (sid,) = struct.unpack("!Q", hdr)
        while True:
            k = conn.recv_into(view)
            if k == 0:
                break
            h.update(view[:k])
            n += k
    with lock:
        out[sid] = {"bytes": n, "sha256": h.hexdigest()}


def server(args: argparse.Namespace) -> int:
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.addr, args.port))
    lsock.listen(args.streams)
    lsock.settimeout(args.timeout)
    usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    usock.bind((args.addr, args.port))
    usock.settimeout(0.2)
    udp = {"received": 0, "bytes": 0, "reordered": 0, "duplicates": 0, "max_seq": -1}
    seen: set[int] = set()
    stop = threading.Event()

    def udp_loop() -> None:
        while not stop.is_set():
            try:
                data = usock.recv(65535)
            except TimeoutError:
                continue
            if len(data) < 8:
                continue
            (seq,) = struct.unpack_from("!Q", data)
            if seq in seen:
                udp["duplicates"] += 1
                continue
            seen.add(seq)
            if seq < udp["max_seq"]:
                udp["reordered"] += 1
            udp["max_seq"] = max(udp["max_seq"], seq)
            udp["received"] += 1
            udp["bytes"] += len(data)

    ut = threading.Thread(target=udp_loop, daemon=True)
    ut.start()
    print("ready", file=sys.stderr, flush=True)
    results: dict[int, dict[str, Any]] = {}
    lock = threading.Lock()
    threads = []
    try:
        for _ in range(args.streams):
            conn, _peer = lsock.accept()
            conn.settimeout(args.timeout)
            t = threading.Thread(target=_serve_stream, args=(conn, results, lock), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(args.timeout)
    except TimeoutError:
        pass
    # UDP stragglers: the client's last datagrams are still in flight when the streams end.
    time.sleep(0.3)
    stop.set()
    ut.join(1.0)
    json.dump({"streams": {str(k): v for k, v in sorted(results.items())}, "udp": udp}, sys.stdout)
    return 0


def _send_stream(
    sid: int, addr: str, port: int, deadline: float, seed: int, out: dict[int, dict[str, Any]],
    lock: threading.Lock,
) -> None:  # fmt: skip
    data = _pool(seed + sid)
    h = hashlib.sha256()
    n = 0
    with socket.create_connection((addr, port), timeout=10) as s:
        s.settimeout(30)
        hdr = struct.pack("!Q", sid)
        s.sendall(hdr)
        off = 0
        while time.monotonic() < deadline:
            chunk = data[off : off + CHUNK]
            s.sendall(chunk)
            h.update(chunk)
            n += CHUNK
            off = (off + STRIDE) % POOL
        s.shutdown(socket.SHUT_WR)
        # Wait for the server to close: every byte was read by then.
        s.recv(1)
    with lock:
        out[sid] = {"bytes": n, "sha256": h.hexdigest()}


def client(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.seconds
    results: dict[int, dict[str, Any]] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def run(sid: int) -> None:
        try:
            _send_stream(sid, args.addr, args.port, deadline, args.seed, results, lock)
        except OSError as e:
            with lock:
                errors.append(f"stream {sid}: {e}")

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(args.streams)]
    for t in threads:
        t.start()
    udp_sent = 0
    if args.udp_pps > 0:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        payload = bytearray(UDP_PAYLOAD)
        gap = 1.0 / args.udp_pps
        nxt = time.monotonic()
        while time.monotonic() < deadline:
            struct.pack_into("!Q", payload, 0, udp_sent)
            try:
                u.sendto(payload, (args.addr, args.port))
                udp_sent += 1
            except OSError:
                pass
            nxt += gap
            pause = nxt - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        u.close()
    for t in threads:
        t.join(args.seconds + 60)
    json.dump(
        {
            "streams": {str(k): v for k, v in sorted(results.items())},
            "udp": {"sent": udp_sent},
            "errors": errors,
        },
        sys.stdout,
    )
    return 0 if not errors else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xdpkt._demo_peer")
    p.add_argument("role", choices=("server", "client"))
    p.add_argument("--addr", required=True)
    p.add_argument("--port", type=int, default=5201)
    p.add_argument("--streams", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--udp-pps", type=int, default=1000)
    args = p.parse_args(argv)
    return server(args) if args.role == "server" else client(args)


if __name__ == "__main__":
    sys.exit(main())
