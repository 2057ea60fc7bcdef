"""CPU time from /proc, for the demo's figures, the benchmarks and the tests (Linux only)."""

from __future__ import annotations

import os

__all__ = ["machine_busy", "process_cpu", "threads_cpu"]


def _tick() -> int:
    return os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine spent not idle (all CPUs; idle and iowait excluded)."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    return (sum(vals[:8]) - vals[3] - vals[4]) / _tick()


def threads_cpu(prefix: str) -> float:
    """CPU seconds (user + system) of this process's threads whose name starts with ``prefix``."""
    total = 0.0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if not f.read().startswith(prefix):
                    continue
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _tick()
        except (OSError, IndexError, ValueError):
            continue  # the thread ended meanwhile
    return total


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _tick()
