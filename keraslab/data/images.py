"""Images a user hands to a model: read from files, and validated before anything reaches the
model.

Users hand keraslab raw pixels on the 0–255 scale (as TF Serving clients do); normalization to
the model's input happens after these checks. The checks are about shape, dtype and values, with
one message that says what to change. Files are NumPy arrays (never unpickled) or images
TensorFlow decodes (imported only when such a file is read).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keraslab.errors import CorruptDataError, DatasetNotFoundError, InputSpecError

__all__ = ["check_images", "read_image_files"]


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


def read_image_files(paths: Sequence[str], channels: int) -> tuple[np.ndarray, list[str]]:
    """Images from ``.npy`` arrays (one image or a batch) and PNG/JPEG/BMP/GIF files, stacked,
    and a label per image (``file``, or ``file[k]`` for the k-th image of a batch).

    Args:
        paths: the files, in order.
        channels: the model's channel count; decoded images are converted to it, and a 3-D
            array is a batch of grayscale images when it is 1 and the last axis is not.

    Returns:
        ``(images, labels)``: the images as stored (pass them to :func:`check_images`) and one
        label per image.

    Raises:
        DatasetNotFoundError: a file does not exist.
        CorruptDataError: a file is neither a plain NumPy array nor a decodable image.
        InputSpecError: the images have different shapes.
    """
    images: list[Any] = []
    labels: list[str] = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise DatasetNotFoundError(f"image file {path} does not exist")
        if path.suffix.lower() == ".npy":
            try:
                arr = np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise CorruptDataError(f"{path} is not a plain NumPy array file: {exc}") from exc
            # A 4-D array, or a 3-D one that cannot be one image (grayscale (N, H, W)), is a
            # batch; anything else is one image. check_images then validates the shapes.
            is_batch = arr.ndim == 4 or (arr.ndim == 3 and channels == 1 and arr.shape[-1] != 1)
            images.extend(list(arr) if is_batch else [arr])
            labels.extend([f"{name}[{k}]" for k in range(len(arr))] if is_batch else [name])
            continue
        import tensorflow as tf

        try:
            image = tf.io.decode_image(
                path.read_bytes(), channels=channels, expand_animations=False
            )
        except tf.errors.InvalidArgumentError as exc:
            raise CorruptDataError(
                f"{path} is not a PNG, JPEG, BMP or GIF image TensorFlow can decode"
            ) from exc
        images.append(image.numpy())
        labels.append(name)
    images = [im[..., None] if np.ndim(im) == 2 else im for im in images]
    shapes = {np.shape(im) for im in images}
    if len(shapes) > 1:
        raise InputSpecError(f"the images have different shapes {sorted(shapes)}; pass one size")
    return np.stack(images), labels
