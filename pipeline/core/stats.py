"""The one quantile and the one bootstrap the intervals in results use (linear interpolation between order
statistics; resampling with a fixed seed, so the same data give the same interval)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
RESAMPLES = 2000


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of already sorted values; NaN when there are none."""
    if not ordered:
        return float("nan")
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap_interval(units: Sequence[T], statistic: Callable[[list[T]], float], resamples: int = RESAMPLES,
                       seed: int = 0) -> tuple[float, float]:
    """The 95 % interval of `statistic`, resampling `units` (items, prompts: whatever varies independently) with
    replacement; (nan, nan) with no units."""
    if not units:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    size = len(units)
    values = sorted(statistic([units[rng.randrange(size)] for _ in range(size)]) for _ in range(resamples))
    return quantile(values, 0.025), quantile(values, 0.975)
