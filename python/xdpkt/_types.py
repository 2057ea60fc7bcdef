"""Typed shapes of the dictionaries the extension module returns."""

from __future__ import annotations

from typing import TypedDict

__all__ = ["GroStatsDict", "JobSummary"]


class GroStatsDict(TypedDict):
    """``Gro.stats()``: counters since the engine was created."""

    packets_in: int
    packets_out: int
    merged: int
    aggregates: int
    evicted: int
    passthrough: int
    held: int
    reasons: dict[str, int]


class BadRecord(TypedDict):
    """Where a whole-file job's input went bad: the reader's message and the record's byte offset."""

    message: str
    offset: int


class JobSummary(TypedDict):
    """What a whole-file job (``gso_file`` / ``gro_file``) did."""

    frames_in: int
    frames_out: int
    bytes_in: int
    bytes_out: int
    flows: int
    aggregates: int
    segments: int
    errors: int
    passthrough: dict[str, int]
    bad_record: BadRecord | None
