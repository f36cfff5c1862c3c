"""Feedback on long checks: the expected cost before, evaluations done and left with an ETA during.

Shown on stderr when stderr is a terminal and the check is expected to take more than about 2 s, or always
with ``progress=True`` (``--progress``); never with ``progress=False``. CI logs stay clean.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress", "LONG_CHECK_SECONDS"]

LONG_CHECK_SECONDS = 2.0
_EVERY = 0.5        # seconds between updates


def _count(n: float) -> str:
    return f"{n / 1000:.0f}k" if n >= 10_000 else f"{n:,.0f}"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


class Progress:
    """Counts forward evaluations against an estimate and reports them on ``stream``."""

    def __init__(self, label: str, elements: int, tensors: int, expected: float, fast_expected: float,
                 seconds_per_forward: float, mode: str, enabled: bool | None, stream: TextIO | None = None,
                 measured: bool = False) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.expected, self.per_forward = max(expected, 1.0), seconds_per_forward
        # a measured estimate already holds the ladder's later rounds: what the ladder announces only raises it
        # where the check has got further than it expected
        self.measured = measured
        long = expected * seconds_per_forward > LONG_CHECK_SECONDS
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.enabled = bool(enabled) if enabled is not None else (long and tty)
        self.done, self.start, self.last = 0, time.perf_counter(), 0.0
        if self.enabled:
            other = "" if mode == "fast" else \
                f"; --mode fast takes about {_duration(fast_expected * seconds_per_forward)}"
            self.stream.write(f"gradcheck {label}: {elements:,} elements in {tensors} tensor(s), about "
                              f"{_count(expected)} forwards, about {_duration(expected * seconds_per_forward)}"
                              f"{other}\n")
            self.stream.flush()

    def expect(self, count: float) -> None:
        """``count`` more forwards than a first round's are on the way (a smaller step, a re-check)."""
        if self.measured:
            self.expected = max(self.expected, self.done + count)
        else:
            self.expected += count

    def tick(self, count: int = 1) -> None:
        self.done += count
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last >= _EVERY:
            self.last = now
            elapsed = now - self.start
            left = max(self.expected - self.done, 0.0)
            eta = elapsed / self.done * left if self.done else left * self.per_forward
            self.stream.write(f"\r  {self.done:,} forwards done, about {_count(left)} left, ETA {_duration(eta)}   ")
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write(f"\r  {self.done:,} forwards in {_duration(time.perf_counter() - self.start)}"
                              + " " * 30 + "\n")
            self.stream.flush()
