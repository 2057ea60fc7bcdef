"""The `xdpkt` command line and the whole-file jobs, end to end on generated captures."""

from __future__ import annotations

import io
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import frames as F
import pytest
import xdpkt
from xdpkt import _xdpkt
from xdpkt.cli import main
from xdpkt.commands._progress import ProgressBar

SUPER = [F.tcp4(F.pattern(5000), seq=1, ident=10), F.tcp6(F.pattern(3000), seq=1)]
SMALL = F.tcp4(F.pattern(100), sport=9)
JUNK = F.eth(0x0806) + bytes(28)


def test_help_lists_the_commands() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "xdpkt.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "gso" in r.stdout and "gro" in r.stdout
    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "xdpkt"]
    assert ep.value == "xdpkt.cli:main"


def test_gso_pcap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    F.write_pcap(src, [*SUPER, SMALL, JUNK])
    assert main(["gso", "--mss", "1448", str(src), str(dst)]) == 0
    out = capsys.readouterr().out
    assert (
        "frames in 4, out 9, flows 3, 2 super-frames cut into 7 segments, passed through 1, errors 1" in out
    )
    assert "passed through unchanged: not_ip 1" in out
    per_sec, recs = F.read_pcap(dst)
    assert per_sec == 10**6
    want = [*xdpkt.gso.segment(SUPER[0], mss=1448), *xdpkt.gso.segment(SUPER[1], mss=1448), SMALL, JUNK]
    assert [f for _, f in recs] == want
    t0 = 1_700_000_000_000_000
    # Every segment takes its super-frame's timestamp.
    assert [t for t, _ in recs] == [t0] * 4 + [t0 + 1000] * 3 + [t0 + 2000, t0 + 3000]


def test_gro_pcapng(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = F.tcp_flow(4, 1000, sport=1), F.tcp_flow(4, 1000, sport=2)
    frames = [x for t in zip(a, b, strict=True) for x in t] + [JUNK]
    src, dst = tmp_path / "in.pcapng", tmp_path / "out.pcap"
    F.write_pcapng(src, frames)
    assert main(["gro", str(src), str(dst)]) == 0
    out = capsys.readouterr().out
    assert "frames in 9, out 3, flows 2, 2 aggregates from 8 segments, passed through 1, errors 1" in out
    per_sec, recs = F.read_pcap(dst)
    assert per_sec == 10**9  # nanosecond input keeps nanoseconds
    t0 = 1_700_000_000 * 10**9
    # The junk frame leaves at once; each aggregate takes its first segment's timestamp.
    assert [t for t, _ in recs] == [t0 + 8000, t0, t0 + 1000]
    assert [f[54:] for _, f in recs[1:]] == [b"".join(s[54:] for s in a), b"".join(s[54:] for s in b)]
    # And back: gso on the coalesced capture gives the original segments.
    back = tmp_path / "back.pcap"
    assert main(["gso", "--mss", "1000", str(dst), str(back)]) == 0
    assert sorted(f for _, f in F.read_pcap(back)[1]) == sorted(frames)


def test_gro_options_and_flush_timeout(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    # 200 frames of one flow, 1 ms apart: polls of 64 frames split the flow without a timeout.
    F.write_pcap(src, F.tcp_flow(200, 100))
    s = _xdpkt.gro_file(src, dst, max_size=65535)
    assert (s["frames_in"], s["frames_out"], s["aggregates"]) == (200, 4, 4)
    s = _xdpkt.gro_file(src, dst, flush_usecs=10**9)
    assert (s["frames_out"], s["aggregates"], s["segments"]) == (1, 1, 200)
    # 40 bytes of headers + 10 segments of 100 bytes fill an L3 length of 1040.
    s = _xdpkt.gro_file(src, dst, max_size=1040, flush_usecs=10**9)
    assert (s["frames_out"], s["aggregates"]) == (20, 20)
    udp = [F.udp4(F.pattern(500), ident=i) for i in range(3)]
    F.write_pcap(src, udp)
    assert _xdpkt.gro_file(src, dst)["frames_out"] == 3
    assert _xdpkt.gro_file(src, dst, udp=True)["frames_out"] == 1


def test_progress_callback(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    F.write_pcap(src, F.tcp_flow(300, 100))
    calls: list[tuple[int, int, int]] = []
    s = _xdpkt.gso_file(src, dst, 50, progress=lambda *a: calls.append(a))
    assert calls and calls[-1] == (300, src.stat().st_size, src.stat().st_size)
    assert s["segments"] == 600

    def stop(frames: int, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _xdpkt.gro_file(src, dst, progress=stop)


def test_progress_bar_draws_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = ProgressBar("gso", tty)
    bar(10, 500, 1000)
    bar.close()
    assert "[###############...............]  50.0%" in tty.getvalue() and tty.getvalue().endswith("\n")
    plain = io.StringIO()
    bar = ProgressBar("gso", plain)
    bar(10, 500, 1000)
    bar.close()
    assert plain.getvalue() == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"GIF89a not a capture at all", "not a pcap or pcapng file"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "file truncated in file header"),
        (None, "No such file or directory"),
    ],
)
def test_bad_input_exits_1_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    src = tmp_path / "in.pcap"
    if content is not None:
        src.write_bytes(content)
    assert main(["gro", str(src), str(tmp_path / "out.pcap")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xdpkt gro: error: ") and message in err and "Traceback" not in err


def test_other_linktype_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.pcapng"
    F.write_pcapng(src, [SMALL], linktype=101)
    assert main(["gso", "--mss", "100", str(src), str(tmp_path / "o.pcap")]) == 1
    assert "link type 101 is not supported (only Ethernet" in capsys.readouterr().err


def test_unwritable_output_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.pcap"
    F.write_pcap(src, [SMALL])
    assert main(["gro", str(src), str(tmp_path / "no" / "such" / "dir.pcap")]) == 1
    assert "No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["gso", "a", "b"],
        ["gso", "--mss", "0", "a", "b"],
        ["gro", "--max-size", "70000", "a", "b"],
        ["nope"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 2
    assert "usage: xdpkt" in capsys.readouterr().err


def test_truncated_capture_records_keep_their_wire_length(tmp_path: Path) -> None:
    # A record cut at snaplen cannot be parsed as a whole packet: it passes through as captured.
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    F.write_pcap(src, [SUPER[0][:1000]], snaplen=1000)
    s = _xdpkt.gso_file(src, dst, 500)
    assert (s["frames_out"], s["errors"]) == (1, 1)
    assert F.read_pcap(dst)[1][0][1] == SUPER[0][:1000]


@pytest.mark.parametrize("cmd", ["gro", "gso"])
@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cmd: str, how: str
) -> None:
    """`xdpkt gro IN IN` (or OUT a link to IN) would truncate the capture being read: refused, IN intact."""
    src = tmp_path / "in.pcap"
    F.write_pcap(src, F.tcp_flow(20, 1000))
    before = src.read_bytes()
    out = src
    if how == "symlink":
        out = tmp_path / "out.pcap"
        out.symlink_to(src.name)
    elif how == "hardlink":
        out = tmp_path / "out.pcap"
        out.hardlink_to(src)
    args = [cmd, str(src), str(out)] + (["--mss", "500"] if cmd == "gso" else [])
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "the output is the input file itself" in err, err
    assert src.read_bytes() == before


@pytest.mark.parametrize("cmd", ["gro", "gso"])
def test_truncated_capture_keeps_every_complete_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cmd: str
) -> None:
    """A capture cut inside a record: every complete record is processed (held aggregates flushed)
    and written to a valid file, the summary printed, the file and offset named, exit 1; --skip-bad: 0."""
    frames = F.tcp_flow(20, 1000)
    full = tmp_path / "full.pcap"
    F.write_pcap(full, frames)
    data = full.read_bytes()
    # Cut 100 bytes into the 15th record: 14 complete records (24-byte file header, 16 + 1054 per record).
    rec = 16 + len(frames[0])
    cut_at = 24 + 14 * rec + 100
    src = tmp_path / "cut.pcap"
    src.write_bytes(data[:cut_at])
    out = tmp_path / "out.pcap"
    extra = ["--mss", "500"] if cmd == "gso" else []
    assert main([cmd, *extra, str(src), str(out)]) == 1
    cap = capsys.readouterr()
    assert "frames in 14" in cap.out
    assert str(src) in cap.err and f"record at byte {24 + 14 * rec}" in cap.err, cap.err
    _, got = F.read_pcap(out)
    payload = b"".join(f[54:] for _, f in got)
    assert payload == b"".join(f[54:] for f in frames[:14])  # nothing lost, nothing held back
    assert main([cmd, *extra, "--skip-bad", str(src), str(out)]) == 0
    assert "warning" in capsys.readouterr().err
