"""A kernel TCP stream between the A and B hosts of a ForwardTopology, for tests: sockets made
inside the namespaces, every byte hashed at both ends (the kernel's TCP checks what crossed)."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

from xdpkt.netns import ForwardTopology


class TcpStream:
    """One kernel TCP stream A -> B for ``seconds`` (sockets made in the namespaces), hashed at both
    ends: the kernel's TCP checks every byte that crossed the Ports."""

    def __init__(self, t: ForwardTopology, seconds: float, port: int = 5400) -> None:
        self.seconds = seconds

        def listen() -> socket.socket:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((t.b.ipv4, port))
            s.listen(1)
            return s

        self.lsock = t.b.ns.run(listen)
        self.csock = t.a.ns.run(lambda: socket.create_connection((t.b.ipv4, port), timeout=5))
        self.lsock.settimeout(5)
        self.conn, _ = self.lsock.accept()
        self.sent, self.recvd = hashlib.sha256(), hashlib.sha256()
        self.nsent = self.nrecv = 0
        self.error: BaseException | None = None
        self.threads = [threading.Thread(target=self._rx), threading.Thread(target=self._tx)]

    def _tx(self) -> None:
        data = memoryview(os.urandom(1 << 20))
        end = time.monotonic() + self.seconds
        i = 0
        self.csock.settimeout(30)
        try:
            while time.monotonic() < end:
                chunk = data[(i * 4099) % (1 << 19) :][: 1 << 17]
                self.csock.sendall(chunk)
                self.sent.update(chunk)
                self.nsent += len(chunk)
                i += 1
            self.csock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e

    def _rx(self) -> None:
        self.conn.settimeout(30)
        try:
            while b := self.conn.recv(1 << 18):
                self.recvd.update(b)
                self.nrecv += len(b)
        except OSError as e:
            self.error = e

    def __enter__(self) -> TcpStream:
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for th in self.threads:
            th.join(self.seconds + 40)
        for s in (self.csock, self.conn, self.lsock):
            s.close()

    def intact(self) -> bool:
        return (
            self.error is None
            and self.nsent > 0
            and self.nsent == self.nrecv
            and self.sent.digest() == self.recvd.digest()
        )
