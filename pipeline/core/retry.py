"""Exponential backoff, for the two things haha retries: Hub calls and results pushes that lost a race."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """`tries` attempts in all; the wait after the n-th failure is `first` x 2^(n-1), at most `cap` seconds."""

    tries: int = 4
    first: float = 2.0
    cap: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.first * 2 ** (attempt - 1), self.cap))
