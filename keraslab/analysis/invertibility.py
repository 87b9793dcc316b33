"""How exactly an invertible network inverts: the reconstruction error ``Φ⁻¹(Φ(x)) − x``.

An i-RevNet (Jacobsen, Smeulders & Oyallon, 2018, "i-RevNet: Deep Invertible Networks", ICLR)
loses no information about its input, so ``x`` can be recovered from its representation
``Φ(x)``. In exact arithmetic ``Φ⁻¹(Φ(x)) = x``; in float32 each block's inverse
``x1 = S⁻¹(y2 − F(x2))`` subtracts two nearly equal numbers, so round-off accumulates with
depth. :func:`reconstruction_report` measures it over a dataset, for the whole map and,
optionally, for each invertible layer on its own, with

    e(x) = ‖x̂ − x‖₂ / ‖x‖₂,        x̂ = Φ⁻¹(Φ(x))          (per example)

and reports its maximum and mean over the data (and per batch), plus the largest absolute
entry error ``max |x̂ − x|`` and the relative ℓ∞ error ``max |x̂ − x| / max |x|`` used by the
model tests.

It works with any object that has ``features(x)`` and ``inverse(z)`` methods (an
:class:`~keraslab.models.irevnet.IRevNet`, or your own); the per-layer report needs a stack of
invertible layers (``model.invertible_layers``, each with ``inverse``, as in
:mod:`keraslab.layers.invertible`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "BlockReconstruction",
    "ReconstructionReport",
    "reconstruction_report",
    "relative_errors",
]

_TINY = 1e-30


def relative_errors(x: Any, x_hat: Any) -> np.ndarray:
    """Per-example relative error ``‖x̂_i − x_i‖₂ / ‖x_i‖₂`` in float64, shape ``(batch,)``.

    An all-zero example gets its absolute error ``‖x̂_i‖₂`` (its norm is floored at 1e-30
    only to avoid dividing by zero when both are zero).

    Raises:
        ValueError: ``x`` and ``x_hat`` differ in shape.
    """
    a = np.asarray(x, np.float64)
    b = np.asarray(x_hat, np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"relative_errors: the reconstruction has shape {b.shape} but the input has shape "
            f"{a.shape}; the inverse must return arrays shaped like the input."
        )
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    norms = np.linalg.norm(a, axis=1)
    diff = np.linalg.norm(b - a, axis=1)
    return np.where(norms > 0, diff / np.maximum(norms, _TINY), diff)


@dataclasses.dataclass
class BlockReconstruction:
    """The error of one invertible layer's own inverse, ``f⁻¹(f(h)) − h``, on its inputs ``h``.

    Attributes:
        name: the layer's name.
        max_relative_error: ``max_i ‖ĥ_i − h_i‖₂ / ‖h_i‖₂`` over the data.
        mean_relative_error: the mean of the same over the data.
    """

    name: str
    max_relative_error: float
    mean_relative_error: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ReconstructionReport:
    """What :func:`reconstruction_report` measured.

    Attributes:
        num_examples: examples measured.
        max_relative_error: ``max_i ‖x̂_i − x_i‖₂ / ‖x_i‖₂`` with ``x̂ = Φ⁻¹(Φ(x))``.
        mean_relative_error: the mean of the same.
        max_abs_error: ``max |x̂ − x|`` over every entry.
        linf_relative_error: ``max |x̂ − x| / max |x|`` over the whole data.
        batch_max_relative_error: ``max_i`` of the per-example error, one value per batch.
        batch_mean_relative_error: the per-batch mean, one value per batch.
        blocks: one :class:`BlockReconstruction` per invertible layer (``per_block=True``),
            else empty.
    """

    num_examples: int
    max_relative_error: float
    mean_relative_error: float
    max_abs_error: float
    linf_relative_error: float
    batch_max_relative_error: list[float]
    batch_mean_relative_error: list[float]
    blocks: list[BlockReconstruction] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python data (JSON-serializable) for ``results.json``."""
        d = dataclasses.asdict(self)
        d["blocks"] = [b.to_dict() for b in self.blocks]
        return d


def _batches(data: Any, batch_size: int, max_batches: int | None) -> Iterable[np.ndarray]:
    """Image batches from an array, a ``tf.data.Dataset`` or an iterable of batches.

    Dataset/iterable elements may be images or ``(images, labels, …)`` tuples.
    """
    if isinstance(data, np.ndarray | tf.Tensor):
        arr = np.asarray(data)
        if arr.ndim == 0 or len(arr) == 0:
            raise ValueError(
                f"reconstruction_report: no images to measure (got an array of shape "
                f"{arr.shape}); pass a batch (batch, height, width, channels)."
            )
        source: Iterable[Any] = (arr[i : i + batch_size] for i in range(0, len(arr), batch_size))
    else:
        source = data
    for count, element in enumerate(source):
        if max_batches is not None and count >= max_batches:
            return
        if isinstance(element, tuple | list):
            element = element[0]
        if isinstance(element, dict):
            raise ValueError(
                "reconstruction_report: dataset elements must be images or (images, labels) "
                "tuples, not dicts; map the dataset to (images, labels) first."
            )
        yield np.asarray(element)


def _layers_of(model: Any, layers: Sequence[Any] | None) -> list[Any]:
    stack = list(layers) if layers is not None else getattr(model, "invertible_layers", None)
    if not stack:
        raise ValueError(
            f"reconstruction_report(per_block=True) needs the stack of invertible layers: "
            f"{type(model).__name__} has no `invertible_layers`; pass layers=[...] (each with "
            f"`inverse`), or per_block=False."
        )
    missing = [
        getattr(layer, "name", repr(layer)) for layer in stack if not hasattr(layer, "inverse")
    ]
    if missing:
        raise ValueError(
            f"reconstruction_report: layers without an `inverse` method: {', '.join(missing)}."
        )
    return stack


def reconstruction_report(
    model: Any,
    data: Any,
    *,
    batch_size: int = 256,
    max_batches: int | None = None,
    per_block: bool = False,
    layers: Sequence[Any] | None = None,
    training: bool = False,
) -> ReconstructionReport:
    """Measure ``Φ⁻¹(Φ(x)) − x`` over a dataset (Jacobsen et al., 2018, §3).

    Args:
        model: has ``features(x, training=…)`` (``Φ``) and ``inverse(z, training=…)``
            (``Φ⁻¹``), such as :class:`~keraslab.models.irevnet.IRevNet`.
        data: images in the model's input format: an array ``(N, H, W, C)`` (split into
            batches of ``batch_size``), a ``tf.data.Dataset`` or any iterable of batches, whose
            elements are image batches or ``(images, labels)`` tuples.
        batch_size: batch size used to split an array.
        max_batches: stop after this many batches (``None``: all).
        per_block: also measure each invertible layer's own inverse on its own input
            (``f⁻¹(f(h))`` against ``h``), which shows where round-off enters.
        layers: the invertible layers for ``per_block`` (default ``model.invertible_layers``).
        training: the mode of both maps. ``True`` (batch-norm batch statistics) is exact only
            for whole batches and without dropout.

    Returns:
        A :class:`ReconstructionReport`.

    Raises:
        ValueError: ``model`` has no ``features``/``inverse``, the data is empty, or the
            reconstruction's shape differs from the input's.
    """
    for method in ("features", "inverse"):
        if not callable(getattr(model, method, None)):
            raise ValueError(
                f"reconstruction_report needs a model with features(x) and inverse(z) methods "
                f"(an invertible network such as keraslab.models.irevnet.IRevNet); "
                f"{type(model).__name__} has no {method}()."
            )
    if batch_size < 1:
        raise ValueError(f"reconstruction_report: batch_size must be >= 1, got {batch_size}.")
    stack = _layers_of(model, layers) if per_block else []
    errors: list[np.ndarray] = []
    batch_max: list[float] = []
    batch_mean: list[float] = []
    max_abs = 0.0
    max_input = 0.0
    block_errors: list[list[np.ndarray]] = [[] for _ in stack]
    for x in _batches(data, batch_size, max_batches):
        x = x.astype(np.float32, copy=False)
        x_hat = np.asarray(model.inverse(model.features(x, training=training), training=training))
        e = relative_errors(x, x_hat)
        errors.append(e)
        batch_max.append(float(e.max()))
        batch_mean.append(float(e.mean()))
        max_abs = max(max_abs, float(np.abs(x_hat.astype(np.float64) - x).max()))
        max_input = max(max_input, float(np.abs(x).max()))
        h = tf.convert_to_tensor(x)
        for k, layer in enumerate(stack):
            y = layer(h, training=training)
            block_errors[k].append(relative_errors(h, layer.inverse(y, training=training)))
            h = y
    if not errors:
        raise ValueError("reconstruction_report: the data gave no batches to measure.")
    all_errors = np.concatenate(errors)
    blocks = [
        BlockReconstruction(
            name=getattr(layer, "name", f"layer{k}"),
            max_relative_error=float(np.concatenate(block_errors[k]).max()),
            mean_relative_error=float(np.concatenate(block_errors[k]).mean()),
        )
        for k, layer in enumerate(stack)
    ]
    return ReconstructionReport(
        num_examples=int(all_errors.size),
        max_relative_error=float(all_errors.max()),
        mean_relative_error=float(all_errors.mean()),
        max_abs_error=max_abs,
        linf_relative_error=max_abs / max_input if max_input > 0 else max_abs,
        batch_max_relative_error=batch_max,
        batch_mean_relative_error=batch_mean,
        blocks=blocks,
    )
