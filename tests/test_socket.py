"""xdpkt.Socket on a veth pair between two namespaces the test creates (privileged)."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import xdpkt

pytestmark = pytest.mark.privileged

_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not _ROOT, reason="needs root (CAP_NET_RAW, CAP_BPF, CAP_NET_ADMIN)")


class Veth:
    """Two namespaces joined by a veth pair; removed on close even after a failure."""

    _n = 0

    def __init__(self) -> None:
        Veth._n += 1
        tag = f"{os.getpid()}-{Veth._n}"
        self.ns_a, self.ns_b = f"xdpkt-xskpy-{tag}-a", f"xdpkt-xskpy-{tag}-b"
        self.if_a, self.if_b = f"xp{os.getpid() % 100000}y{Veth._n}a", f"xp{os.getpid() % 100000}y{Veth._n}b"
        try:
            for ns in (self.ns_a, self.ns_b):
                self._ip("netns", "add", ns)
                subprocess.run(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        "sysctl",
                        "-qw",
                        "net.ipv6.conf.default.disable_ipv6=1",
                        "net.ipv6.conf.all.disable_ipv6=1",
                    ],
                    check=False,
                    capture_output=True,
                    timeout=20,
                )
            self._ip(
                "link",
                "add",
                self.if_a,
                "netns",
                self.ns_a,
                "type",
                "veth",
                "peer",
                "name",
                self.if_b,
                "netns",
                self.ns_b,
            )
            self._ip("-n", self.ns_a, "link", "set", self.if_a, "up")
            self._ip("-n", self.ns_b, "link", "set", self.if_b, "up")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _ip(*args: str) -> str:
        r = subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=20)
        return r.stdout

    def has_xdp(self, ns: str, ifname: str) -> bool:
        out = self._ip("-n", ns, "-d", "link", "show", ifname)
        # `ip -d` lists the attached program as "prog/xdp id N" (namespace names contain "xdp" too).
        return "prog/xdp" in out

    def close(self) -> None:
        # Try both even when the first delete hangs: a namespace must never be left behind.
        for ns in (self.ns_a, self.ns_b):
            try:
                subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=20)
            except subprocess.TimeoutExpired:
                subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=60)


@pytest.fixture
def veth() -> Iterator[Veth]:
    if not _ROOT:
        pytest.skip("needs root (CAP_NET_RAW, CAP_BPF, CAP_NET_ADMIN)")
    v = Veth()
    try:
        yield v
    finally:
        v.close()


def udp_frame(size: int, seq: int) -> bytes:
    """Ethernet/IPv4/UDP 198.18.0.1 -> 198.18.0.2 of exactly ``size`` bytes, ``seq`` in the payload."""
    payload_len = size - 42
    ip_len = 20 + payload_len
    hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, 17, 0, bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    )
    s = sum(struct.unpack("!10H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    hdr = hdr[:10] + struct.pack("!H", ~s & 0xFFFF) + hdr[12:]
    payload = struct.pack("!Q", seq) + bytes((i + seq) & 0xFF for i in range(payload_len - 8))
    udp = struct.pack("!HHHH", 9, 9, 8 + payload_len, 0)
    eth = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0])
    return eth + hdr + udp + payload


def recv_n(s: xdpkt.Socket, n: int, deadline: float = 3.0) -> list[bytes]:
    out: list[bytes] = []
    end = time.monotonic() + deadline
    while len(out) < n and time.monotonic() < end:
        with s.recv(64, timeout=0.1) as b:
            out.extend(bytes(p) for p in b)
    return out


def assert_places(s: xdpkt.Socket) -> None:
    st = s.stats()
    parts = ("frames_free", "frames_user", "frames_fill", "frames_tx", "frames_completion")
    assert sum(st[k] for k in parts) == st["frames_total"], st


def test_send_recv_byte_exact(veth: Veth) -> None:
    frames = [udp_frame(size, i) for i, size in enumerate([64, 100, 512, 1024, 1514] * 20)]
    with (
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=1024, ring_size=512) as rx,
        xdpkt.Socket(veth.if_a, netns=veth.ns_a, frames=1024, ring_size=512) as tx,
    ):
        assert rx.mode in ("copy", "skb", "zerocopy")
        assert tx.send(frames) == len(frames)
        got = recv_n(rx, len(frames))
        assert got == frames
        st = rx.stats()
        assert st["rx_packets"] == len(frames)
        assert tx.stats()["tx_packets"] == len(frames)
        assert_places(rx)
        assert_places(tx)


def test_batch_views_lengths_memoryview(veth: Veth) -> None:
    frames = [udp_frame(60 + i, i) for i in range(10)]
    with (
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128) as rx,
        xdpkt.Socket(veth.if_a, netns=veth.ns_a, frames=256, ring_size=128) as tx,
    ):
        tx.send(iter([bytearray(f) for f in frames]))
        got: list[bytes] = []
        end = time.monotonic() + 3
        while len(got) < len(frames) and time.monotonic() < end:
            b = rx.recv(64, timeout=0.2)
            assert b.lengths() == [len(p) for p in b]
            assert b.to_bytes() == [bytes(p) for p in b]
            for p in b:
                with memoryview(p) as mv:
                    assert mv.readonly
                    assert mv.tobytes() == bytes(p)
                    with pytest.raises(BufferError):
                        b.close()  # a view is still open
            got.extend(b.to_bytes())
            b.close()
            assert b.closed and len(b) == 0
        assert got == frames
        assert_places(rx)
        assert rx.stats()["frames_user"] == 0


def test_batch_drop_returns_frames(veth: Veth) -> None:
    with (
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128) as rx,
        xdpkt.Socket(veth.if_a, netns=veth.ns_a, frames=256, ring_size=128) as tx,
    ):
        tx.send([udp_frame(64, i) for i in range(20)])
        held: list[xdpkt.Batch] = []
        end = time.monotonic() + 3
        while sum(len(b) for b in held) < 20 and time.monotonic() < end:
            held.append(rx.recv(64, timeout=0.2))
        assert rx.stats()["frames_user"] == 20
        held.clear()
        assert rx.stats()["frames_user"] == 0
        assert_places(rx)


def test_forward_batch_between_sockets(veth: Veth) -> None:
    """A Batch received on one socket is sent on another (copied across UMEMs)."""
    frames = [udp_frame(128, i) for i in range(16)]
    with (
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128) as b_sock,
        xdpkt.Socket(veth.if_a, netns=veth.ns_a, frames=256, ring_size=128) as a_sock,
    ):
        a_sock.send(frames)
        got: list[bytes] = []
        end = time.monotonic() + 3
        while len(got) < 16 and time.monotonic() < end:
            batch = b_sock.recv(64, timeout=0.2)
            n = len(batch)
            if n:
                assert b_sock.send(batch) == n  # same UMEM: zero copy, batch consumed
                assert batch.closed
            got.extend(recv_n(a_sock, n, 2.0))
        assert got == frames
        assert_places(a_sock)
        assert_places(b_sock)


def test_recv_timeout_and_close_wakes_waiter(veth: Veth) -> None:
    s = xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128)
    t0 = time.monotonic()
    assert len(s.recv(timeout=0.2)) == 0
    assert 0.15 <= time.monotonic() - t0 < 2.0
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            s.recv(timeout=None)
        except OSError as e:
            errors.append(e)

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.3)
    s.close()
    th.join(5)
    assert not th.is_alive()
    assert len(errors) == 1 and getattr(errors[0], "errno", None) == errno.EBADF


def test_close_races_waiters_repeatedly(veth: Veth) -> None:
    """Close while two threads sit in recv, with traffic arriving, over and over: every
    waiter wakes with EBADF or returns a batch it can still read, nothing hangs, and the
    queue can be opened again right after."""
    frames = [udp_frame(128, i) for i in range(64)]
    with xdpkt.Socket(veth.if_a, netns=veth.ns_a, frames=256, ring_size=128) as gen:
        for round_ in range(10):
            s = xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128)
            outcomes: list[str] = []

            def waiter(s: xdpkt.Socket, outcomes: list[str]) -> None:
                try:
                    while True:
                        with s.recv(16, timeout=None) as b:
                            _ = [bytes(p) for p in b]
                except OSError as e:
                    outcomes.append("EBADF" if e.errno == errno.EBADF else f"errno {e.errno}")

            threads = [threading.Thread(target=waiter, args=(s, outcomes)) for _ in range(2)]
            for th in threads:
                th.start()
            gen.send(frames[: 8 * (round_ % 4)])
            time.sleep(0.05)
            s.close()
            for th in threads:
                th.join(5)
            assert not any(th.is_alive() for th in threads)
            assert outcomes == ["EBADF", "EBADF"], outcomes
            with pytest.raises(OSError):
                s.stats()
        # Reopening the queue after the last close works (the kernel releases it lazily).
        with xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128) as again:
            gen.send(frames[:4])
            assert recv_n(again, 4) == frames[:4]
            assert_places(again)


def test_closed_socket_raises_everywhere(veth: Veth) -> None:
    s = xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128)
    fd = s.fileno()
    s.close()
    s.close()  # idempotent
    assert s.closed
    for call in (lambda: s.recv(timeout=0), lambda: s.send([udp_frame(64, 0)]), s.stats, s.fileno):
        with pytest.raises(OSError) as ei:
            call()
        assert ei.value.errno == errno.EBADF
    # A file opened now may reuse the number; the closed socket never touches it.
    r, w = os.pipe()
    try:
        with pytest.raises(OSError):
            s.recv(timeout=0)
        os.write(w, b"x")
        assert os.read(r, 1) == b"x"
    finally:
        os.close(r)
        os.close(w)
    assert fd >= 0


def test_program_detached_after_close(veth: Veth) -> None:
    s = xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128)
    assert veth.has_xdp(veth.ns_b, veth.if_b)
    s.close()
    assert not veth.has_xdp(veth.ns_b, veth.if_b)


def test_reopen_same_queue_and_busy_message(veth: Veth) -> None:
    for _ in range(5):
        with xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128):
            pass
    with xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128):
        t0 = time.monotonic()
        with pytest.raises(OSError) as ei:
            xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128)
        assert ei.value.errno == errno.EBUSY
        assert f"queue 0 of {veth.if_b} already has an AF_XDP socket" in str(ei.value)
        assert time.monotonic() - t0 < 3


def test_errors_name_the_problem(veth: Veth) -> None:
    with pytest.raises(ValueError, match="no interface named"):
        xdpkt.Socket("xdpkt-nope0", netns=veth.ns_b)
    with pytest.raises(ValueError, match="queue 5 does not exist"):
        xdpkt.Socket(veth.if_b, 5, netns=veth.ns_b)
    with pytest.raises(ValueError, match="unknown mode"):
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, mode="turbo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frame_size"):
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, frame_size=1000)
    with pytest.raises(OSError) as ei:
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, mode="zerocopy")
    assert ei.value.errno == errno.EOPNOTSUPP and "zerocopy mode is not supported" in str(ei.value)
    with xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128) as s:
        with pytest.raises(ValueError, match="does not fit a frame"):
            s.send([bytes(5000)])
        assert_places(s)


def test_skb_mode(veth: Veth) -> None:
    with (
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, mode="skb", frames=256, ring_size=128) as rx,
        xdpkt.Socket(veth.if_a, netns=veth.ns_a, mode="skb", frames=256, ring_size=128) as tx,
    ):
        assert rx.mode == "skb"
        frames = [udp_frame(200, i) for i in range(8)]
        tx.send(frames)
        assert recv_n(rx, 8) == frames


@needs_root
def test_permission_error_names_capability(veth: Veth) -> None:
    """Without CAP_NET_RAW the error names it (checked in a child that drops capabilities).

    The child runs inside the test's namespace and targets the test's veth: even if dropping
    the capabilities failed, nothing would be attached outside the test's own network.
    """
    code = (
        "import os, xdpkt\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try:\n"
        f"    xdpkt.Socket({veth.if_b!r})\n"
        "except PermissionError as e:\n"
        "    print('PERM', e)\n"
        "except OSError as e:\n"
        "    print('OS', e)\n"
    )
    import sys

    r = subprocess.run(
        ["ip", "netns", "exec", veth.ns_b, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "PERM" in r.stdout and "CAP_NET_RAW" in r.stdout and "Errno 1" in r.stdout, r.stdout + r.stderr


def test_busy_poll_option(veth: Veth) -> None:
    with (
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, busy_poll=True, frames=256, ring_size=128) as rx,
        xdpkt.Socket(veth.if_a, netns=veth.ns_a, frames=256, ring_size=128) as tx,
    ):
        frames = [udp_frame(64, i) for i in range(4)]
        tx.send(frames)
        assert recv_n(rx, 4) == frames
        t0 = time.monotonic()
        assert len(rx.recv(timeout=0)) == 0
        assert time.monotonic() - t0 < 0.5


def test_cli_bench_txonly_json(veth: Veth, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import json

    from xdpkt import _cli_bench

    parser = argparse.ArgumentParser(prog="xdpkt")
    sub = parser.add_subparsers(dest="command")
    _cli_bench.register(sub)
    args = parser.parse_args(
        ["bench", "txonly", veth.if_a, "--seconds", "0.3", "--size", "128", "--json", "--netns", veth.ns_a]
    )
    assert args.func(args) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mode"] == "txonly" and r["packets"] > 0 and r["bytes"] == r["packets"] * 128
    assert r["mpps"] > 0 and 0.25 < r["seconds"] < 5


def test_send_while_another_thread_waits_in_recv(veth: Veth) -> None:
    with (
        xdpkt.Socket(veth.if_a, netns=veth.ns_a, frames=256, ring_size=128) as a,
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128) as b,
    ):
        got: list[bytes] = []

        def waiter() -> None:
            with b.recv(64, timeout=None) as batch:
                got.extend(batch.to_bytes())

        th = threading.Thread(target=waiter)
        th.start()
        time.sleep(0.2)
        # b is blocked in recv: sending on b must not wait for it.
        t0 = time.monotonic()
        out = [udp_frame(64, i) for i in range(8)]
        assert b.send(out) == 8
        assert time.monotonic() - t0 < 1.0
        assert recv_n(a, 8) == out
        back = [udp_frame(90, 100)]
        a.send(back)
        th.join(5)
        assert not th.is_alive()
        assert got == back
        assert_places(b)


def test_auto_fallback_is_logged(veth: Veth, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="xdpkt"):
        with xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128) as s:
            assert s.mode == "copy"  # veth has no zero-copy support
            assert any("zerocopy mode refused" in n for n in s.notes())
    assert any("zerocopy mode refused" in r.getMessage() for r in caplog.records)


def test_interface_gone_is_reported(veth: Veth) -> None:
    s = xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128)
    subprocess.run(["ip", "-n", veth.ns_a, "link", "del", veth.if_a], check=True, timeout=20)
    with pytest.raises(OSError) as ei:
        s.recv(timeout=2.0)
    assert ei.value.errno == errno.ENXIO and veth.if_b in str(ei.value)
    with pytest.raises(OSError):
        s.stats()
    assert s.closed


_MEMLOCK_CHILD = """
import resource, sys, xdpkt
try:
    s = xdpkt.Socket(sys.argv[1], netns=sys.argv[2], frames=256, frame_size=4096, ring_size=128)
except OSError as e:
    print("ERR", e.errno, e.strerror)
else:
    soft = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
    print("OK", "unlimited" if soft == resource.RLIM_INFINITY else soft)
    s.close()
"""


def _memlock_hard_ceiling() -> int:
    """A hard RLIMIT_MEMLOCK a child can be given: this process's hard limit (a root
    without CAP_SYS_RESOURCE, as in many containers, cannot go above it), at most 8 MiB."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
    return 8 << 20 if hard == resource.RLIM_INFINITY else min(hard, 8 << 20)


@pytest.mark.parametrize("case", ["raised", "refused"])
def test_memlock_limit_without_cap_ipc_lock(veth: Veth, case: str) -> None:
    """Without CAP_IPC_LOCK the kernel charges the UMEM (1 MiB here) to RLIMIT_MEMLOCK.
    raised: the soft limit is too low, the hard one high enough: raised to it for us.
    refused: both too low: nothing we may do, a named error with both amounts."""
    import sys

    if case == "raised":
        hard = _memlock_hard_ceiling()
        if hard < 2 << 20:
            pytest.skip(f"hard RLIMIT_MEMLOCK {hard} bytes leaves no room for a 1 MiB UMEM")
        limits, want = f"65536:{hard}", f"OK {hard}"
    else:
        limits, want = "65536:65536", "ERR"

    cmd = ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock"]
    cmd += ["prlimit", f"--memlock={limits}", sys.executable, "-c", _MEMLOCK_CHILD, veth.if_b, veth.ns_b]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    if want == "ERR":
        assert line.startswith(f"ERR {errno.ENOBUFS} ")
        assert "RLIMIT_MEMLOCK is 65536 bytes but the UMEM needs 1048576 " in line, line
    else:
        assert line == want, (line, out.stderr)
    assert not veth.has_xdp(veth.ns_b, veth.if_b)  # nothing left behind either way


def test_program_detached_after_sigkill(veth: Veth) -> None:
    import signal
    import sys

    code = (
        "import sys, time, xdpkt\n"
        "s = xdpkt.Socket(sys.argv[1], netns=sys.argv[2], frames=256, ring_size=128)\n"
        "print('READY', flush=True)\n"
        "time.sleep(30)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, veth.if_b, veth.ns_b], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY"
        assert veth.has_xdp(veth.ns_b, veth.if_b)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    end = time.monotonic() + 5
    while veth.has_xdp(veth.ns_b, veth.if_b) and time.monotonic() < end:
        time.sleep(0.02)
    assert not veth.has_xdp(veth.ns_b, veth.if_b)
    # The queue is free again.
    with xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128) as s:
        assert_places(s)


def test_multi_buffer_jumbo_frames(veth: Veth) -> None:
    for ns, dev in ((veth.ns_a, veth.if_a), (veth.ns_b, veth.if_b)):
        veth._ip("-n", ns, "link", "set", dev, "mtu", "9000")
    kw = {"frames": 512, "ring_size": 256, "multi_buffer": True}
    with (
        xdpkt.Socket(veth.if_b, netns=veth.ns_b, **kw) as rx,  # type: ignore[arg-type]
        xdpkt.Socket(veth.if_a, netns=veth.ns_a, **kw) as tx,  # type: ignore[arg-type]
    ):
        frames = [udp_frame(n, i) for i, n in enumerate((60, 4000, 9014))]
        assert tx.send(frames) == 3
        got = recv_n(rx, 3)
        assert got == frames
        tx.send(frames[2:])
        with rx.recv(8, timeout=2.0) as b:
            assert b.lengths() == [9014]
            with pytest.raises(BufferError, match="several UMEM frames"):
                memoryview(b[0])
            assert bytes(b[0]) == frames[2]
        assert_places(rx)
        with pytest.raises(ValueError, match="does not fit"):
            tx.send([bytes(100_000)])


@needs_root
def test_cli_bench_unknown_interface_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from xdpkt.cli import main

    assert main(["bench", "rxdrop", "xdpkt-nope0", "--seconds", "0.1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xdpkt bench: error: no interface named") and err.count("\n") == 1


@pytest.fixture
def two_ports() -> Iterator[tuple[Veth, Veth]]:
    """gen A <-> port A and gen B <-> port B, both ports in ``p1.ns_b`` (a two-port forwarder)."""
    if not _ROOT:
        pytest.skip("needs root (CAP_NET_RAW, CAP_BPF, CAP_NET_ADMIN)")
    p1 = Veth()
    try:
        p2 = Veth()
        try:
            Veth._ip("-n", p2.ns_b, "link", "set", p2.if_b, "netns", p1.ns_b)
            Veth._ip("-n", p1.ns_b, "link", "set", p2.if_b, "up")
            yield p1, p2
        finally:
            p2.close()
    finally:
        p1.close()


def test_shared_umem_moves_batch_between_ports(two_ports: tuple[Veth, Veth]) -> None:
    """Port A's Batch is sent on port B (another interface, same UMEM): frames move, no copy."""
    p1, p2 = two_ports
    frames = [udp_frame(60 + (i * 37) % 1455, i) for i in range(200)]
    with (
        xdpkt.Socket(p1.if_a, netns=p1.ns_a, frames=512, ring_size=256) as gen_a,
        xdpkt.Socket(p2.if_a, netns=p2.ns_a, frames=512, ring_size=256) as gen_b,
        xdpkt.Socket(p1.if_b, netns=p1.ns_b, frames=1024, ring_size=256) as port_a,
        # mode/frames given here are ignored: a shared socket inherits the UMEM owner's.
        xdpkt.Socket(p2.if_b, netns=p1.ns_b, mode="zerocopy", frames=64, shared_umem=port_a) as port_b,
    ):
        assert port_b.mode == port_a.mode
        assert port_b.stats()["frames_total"] == port_a.stats()["frames_total"] == 1024
        assert gen_a.send(frames) == len(frames)
        moved = 0
        end = time.monotonic() + 5
        while moved < len(frames) and time.monotonic() < end:
            batch = port_a.recv(64, timeout=0.1)
            n = len(batch)
            if n:
                assert port_b.send(batch) == n
                # Zero copy: the frames left with the send; the Batch is consumed.
                assert batch.closed and len(batch) == 0
                assert batch.to_bytes() == []
                moved += n
        assert moved == len(frames)
        assert recv_n(gen_b, len(frames)) == frames
        sa, sb = port_a.stats(), port_b.stats()
        assert sa["rx_packets"] == sb["tx_packets"] == len(frames)
        assert sb["frames_user"] == sb["frames_tx"] == sb["frames_completion"] == 0
        assert_places(port_a)
        assert_places(port_b)
        # A Batch can be sent once: sending the consumed one again sends nothing.
        assert port_b.send(batch) == 0


def test_port_gone_before_send_returns_the_batch_frames(two_ports: tuple[Veth, Veth]) -> None:
    """Port B's interface vanishes while port A holds a received Batch meant for it: the
    send raises (ENXIO), port B is closed, and the Batch's frames go back to the shared
    UMEM; port A keeps working and its frame places still add up."""
    p1, p2 = two_ports
    frames = [udp_frame(200, i) for i in range(32)]
    with (
        xdpkt.Socket(p1.if_a, netns=p1.ns_a, frames=256, ring_size=128) as gen_a,
        xdpkt.Socket(p1.if_b, netns=p1.ns_b, frames=512, ring_size=128) as port_a,
    ):
        port_b = xdpkt.Socket(p2.if_b, netns=p1.ns_b, shared_umem=port_a)
        assert gen_a.send(frames) == len(frames)
        held: list[xdpkt.Batch] = []
        got = 0
        end = time.monotonic() + 5
        while got < len(frames) and time.monotonic() < end:
            b = port_a.recv(64, timeout=0.2)
            got += len(b)
            held.append(b)
        assert got == len(frames)
        assert port_a.stats()["frames_user"] == got
        Veth._ip("-n", p2.ns_a, "link", "del", p2.if_a)  # takes port B's end with it
        with pytest.raises(OSError) as ei:
            for b in held:
                port_b.send(b)
        assert ei.value.errno == errno.ENXIO
        assert port_b.closed
        for b in held:
            b.close()  # frames of batches never handed to send go back too
        st = port_a.stats()
        assert st["frames_user"] == 0 and st["frames_tx"] == 0, st
        assert_places(port_a)
        # Port A is unaffected: traffic still flows.
        assert gen_a.send(frames[:4]) == 4
        assert recv_n(port_a, 4) == frames[:4]
        assert_places(port_a)


def test_shared_umem_needs_an_open_socket(veth: Veth) -> None:
    s = xdpkt.Socket(veth.if_b, netns=veth.ns_b, frames=256, ring_size=128)
    s.close()
    with pytest.raises(OSError) as e:
        xdpkt.Socket(veth.if_a, netns=veth.ns_a, shared_umem=s)
    assert e.value.errno == errno.EBADF


def test_cli_bench_l2fwd_two_ports(two_ports: tuple[Veth, Veth], capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import json

    from xdpkt import _cli_bench

    p1, p2 = two_ports
    parser = argparse.ArgumentParser(prog="xdpkt")
    sub = parser.add_subparsers(dest="command")
    _cli_bench.register(sub)
    argv = ["bench", "l2fwd", p1.if_b, "--peer", p2.if_b, "--seconds", "0.3", "--json", "--netns", p1.ns_b]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mode"] == "l2fwd" and r["packets"] == 0 and 0.25 < r["seconds"] < 5
    argv = ["bench", "l2fwd", p1.if_b, "--peer", "nosuch0", "--seconds", "0.3", "--netns", p1.ns_b]
    args = parser.parse_args(argv)
    assert args.func(args) == 1
    assert "nosuch0" in capsys.readouterr().err
