"""Validating images a user hands to a model, before anything reaches TensorFlow.

Users hand keraslab raw pixels on the 0–255 scale (as TF Serving clients do); normalization to
the model's input happens after these checks. The checks are about shape, dtype and values, with
one message that says what to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keraslab.errors import InputSpecError

__all__ = ["check_images"]


def _expected_text(expected_shape: Sequence[int]) -> str:
    return "(N, " + ", ".join(str(d) for d in expected_shape) + ")"


def check_images(x: Any, expected_shape: Sequence[int], *, name: str = "images") -> np.ndarray:
    """Check a batch of images for a model whose input is ``(H, W, C)`` and return it as float32.

    Accepted: shape ``(N, H, W, C)``, or ``(N, H, W)`` when ``C == 1``; dtype ``uint8``, any
    integer type with values in ``[0, 255]``, or any float type with finite values in
    ``[0, 255]``. Floats are taken as raw pixels on the 0–255 scale, like integers; a float batch
    whose maximum is in ``(0, 1]`` is rejected as already scaled to ``[0, 1]``.

    Args:
        x: array-like (NumPy array, nested lists, eager tensor).
        expected_shape: the model's input shape ``(H, W, C)`` without the batch axis.
        name: what to call ``x`` in error messages.

    Returns:
        float32 array of shape ``(N, H, W, C)``.

    Raises:
        InputSpecError: wrong rank or shape, unsupported dtype, values outside ``[0, 255]``,
            floats that look scaled to ``[0, 1]``, or NaN/infinite values.
    """
    expected = tuple(int(d) for d in expected_shape)
    if len(expected) != 3:
        raise ValueError(f"expected_shape must be (H, W, C), got {expected_shape!r}")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise InputSpecError(
            f"{name} could not be turned into an array ({e}): pass a NumPy array of shape "
            f"{_expected_text(expected)}"
        ) from e

    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise InputSpecError(
            f"{name} have dtype {arr.dtype}; pass uint8 pixels 0–255 or floats "
            f"(raw pixels on the 0–255 scale)"
        )

    if arr.ndim == 3 and expected[2] == 1 and arr.shape[1:] == expected[:2]:
        arr = arr[..., np.newaxis]
    if arr.ndim != 4 or arr.shape[1:] != expected:
        hint = "resize the images or pick a model built for this input"
        if arr.shape == expected or (expected[2] == 1 and arr.shape == expected[:2]):
            hint = f"add a batch axis ({name}[None]) for a single image"
        raise InputSpecError(
            f"{name} have shape {arr.shape} but the model expects {_expected_text(expected)}: "
            f"{hint}"
        )

    if arr.size:
        if np.issubdtype(arr.dtype, np.integer):
            low, high = arr.min(), arr.max()
            if low < 0 or high > 255:
                raise InputSpecError(
                    f"{name} have integer values from {low} to {high}, outside the pixel range "
                    f"[0, 255]: pass uint8 pixels, or floats if they were rescaled"
                )
        elif not np.isfinite(arr).all():
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            kinds = [k for k, f in (("NaN", np.isnan), ("infinite", np.isinf)) if f(arr).any()]
            raise InputSpecError(
                f"{name} contain {bad} {' and '.join(kinds)} value(s): replace them with "
                f"valid pixels before calling the model"
            )
        else:
            low, high = float(arr.min()), float(arr.max())
            if low < 0 or high > 255:
                raise InputSpecError(
                    f"{name} have float values from {low:g} to {high:g}, outside the pixel range "
                    "[0, 255]: pass raw pixels, not normalized images"
                )
            if 0 < high <= 1:
                # The classic mistake: images already divided by 255. Normalizing them again
                # would feed the model near-black images and silently wrong predictions.
                raise InputSpecError(
                    f"{name} are floats with maximum {high:g}: they look scaled to [0, 1], but "
                    "raw pixels on the 0–255 scale are expected; multiply by 255"
                )
    return arr.astype(np.float32, copy=False)
