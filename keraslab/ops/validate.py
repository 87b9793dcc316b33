"""Argument checks shared by training and analysis, so the same mistake gets the same message
wherever it is made.

Each check returns the value it accepts, converted (``integer(2.0, ...)`` is ``2``), and raises
``ValueError`` naming the argument, the rule and the value otherwise. Imports neither
TensorFlow nor Keras: checking an argument costs nothing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["finite", "integer", "number", "one_of", "static_image_shape"]


def integer(value: Any, name: str, minimum: int) -> int:
    """An integer ≥ ``minimum``; integral floats (``3.0``) are accepted, booleans are not."""
    whole = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def number(value: Any, name: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    """A real number ≥ ``minimum`` (> with ``strict=True``); NaN is rejected."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and (value > minimum if strict else value >= minimum)
    if not ok:
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return float(value)


def one_of(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """One of ``choices`` (a tuple, shown as such in the message)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def finite(array: np.ndarray, name: str) -> np.ndarray:
    """An array without NaN or infinite entries."""
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array


def static_image_shape(images: Any) -> tuple[int, int, int]:
    """``(height, width, channels)`` of a ``(batch, height, width, channels)`` tensor whose
    last three sizes are static (a resampling grid is built from them)."""
    shape = images.shape
    if shape.rank != 4 or None in shape[1:]:
        raise ValueError(
            f"expected a batch of images (batch, height, width, channels) with static "
            f"height, width and channels, got shape {shape}"
        )
    return int(shape[1]), int(shape[2]), int(shape[3])
