"""Classifying raw images with a zoo model, as the exported ``serving_default`` does."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from keraslab.data import check_images, get_spec
from keraslab.errors import UnknownNameError
from keraslab.export.saved_model import Preprocessing
from keraslab.zoo.registry import get
from keraslab.zoo.shipped import load

__all__ = ["Prediction", "predict"]


@dataclasses.dataclass
class Prediction:
    """What :func:`predict` returns for N images."""

    class_ids: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]

    @property
    def labels(self) -> list[str]:
        return [self.class_names[i] for i in self.class_ids]


def predict(
    name: str,
    images: Any,
    *,
    model: keras.Model | None = None,
    dataset: str | None = None,
    batch_size: int = 256,
) -> Prediction:
    """Classify raw images with a zoo model.

    Args:
        name: zoo entry.
        images: raw pixels on the 0–255 scale, ``(N, H, W, C)`` (or ``(N, H, W)`` for one
            channel), uint8 or float — checked by :func:`keraslab.data.check_images`.
        model: the network to use (default: :func:`load` ``(name)``, the shipped weights).
        dataset: whose normalization and class names apply (default: the entry's dataset).

    Raises:
        InputSpecError: images of the wrong shape, dtype or values, with the fix.
    """
    entry = get(name)
    if not entry.task.classifies_images:
        raise UnknownNameError(
            f"zoo model {name!r} is a sparse coder, not a classifier: call "
            f"keraslab.zoo.load({name!r})(signals) or its SavedModel's sparse_code signature"
        )
    spec = get_spec(dataset or entry.dataset)
    pixels = check_images(images, spec.image_shape)
    model = model if model is not None else load(name)
    # The very formula the exported serving signature bakes in, so predict() and TF Serving
    # agree by construction.
    x = Preprocessing(spec.mean, spec.std).apply(pixels)
    logits = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    return Prediction(logits.argmax(axis=1), probabilities, list(spec.class_names))
