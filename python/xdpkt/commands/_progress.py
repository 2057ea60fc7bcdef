"""A plain-text progress bar on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class ProgressBar:
    """Callable as ``(frames_done, bytes_done, total_bytes)``; draws when ``stream`` is a tty."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.width = width
        self.start = time.monotonic()
        self.drawn = False

    def __call__(self, frames_done: int, bytes_done: int, total_bytes: int) -> None:
        if not self.enabled:
            return
        frac = min(1.0, bytes_done / total_bytes) if total_bytes > 0 else 1.0
        fill = int(frac * self.width)
        rate = frames_done / max(time.monotonic() - self.start, 1e-9)
        line = (
            f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {frac * 100:5.1f}% "
            f"{_size(bytes_done)}/{_size(total_bytes)} {frames_done} frames ({rate:,.0f}/s)"
        )
        self.stream.write(line)
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Ends the bar's line so later output starts on a fresh one."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
