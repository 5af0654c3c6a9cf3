"""A config value as the number it means.

PyYAML follows YAML 1.1, where a float needs a dot: `learning_rate: 1e-5` arrives as the string "1e-5", while
Axolotl's pydantic schema reads that string as the number 0.00001. Every check that compares or bounds a
config's number reads it through `as_number`, so it judges the value Axolotl will train with.
"""

from __future__ import annotations

import math


def as_number(value: object) -> float | None:
    """The finite number a YAML or JSON value means (a numeric string included), or None when it means none.

    Booleans are not numbers here, although Python counts them as ints: `lora_dropout: true` is a mistake to
    report, not 1.0. Nor are `.inf` and `.nan`: no setting means them, and range checks would pass them.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
