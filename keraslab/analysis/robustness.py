"""Robustness of a classifier: accuracy under the fast gradient sign attack, and the size of its
input–output Jacobian over a dataset.

* **FGSM** (Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing adversarial
  examples", ICLR): one step of size ε along the sign of the loss gradient, clipped to the
  valid pixel range,

      x' = clip_[0, 1]( x + ε · sign(∇_x ℓ(f(x), y)) ),   ℓ = cross-entropy of the logits,

  i.e. the worst case of the loss's linearization over the ℓ∞ ball of radius ε.
* **‖J_f(x)‖_F**, the Frobenius norm of the Jacobian of the logits with respect to the input,
  per sample: the quantity the Jacobian penalties of ``keraslab.training`` shrink. Small
  ‖J_f‖ near the data enlarges the input-space margin (Sokolić, Giryes, Sapiro & Rodrigues
  2017, "Robust large margin deep neural networks", IEEE TSP) and bounds the first-order
  change of the logits under a perturbation δ: ‖f(x + δ) − f(x)‖ ≈ ‖J δ‖ ≤ ‖J‖_F ‖δ‖
  (Jakubovitz & Giryes 2018, "Improving DNN robustness to adversarial attacks using Jacobian
  regularization", ECCV).

**Pixel units.** keraslab models take *normalized* images x_n = (x − μ)/σ (per channel,
``keraslab.data``), where x ∈ [0, 1] is the raw pixel value. Attack sizes here are always stated
in raw pixel units: ε = 8/255 means every pixel moves by at most 8 grey levels. Since
∂ℓ/∂x = (∂ℓ/∂x_n)/σ with σ > 0, the gradient signs agree, so in the model's input space the step
is x_n' = x_n + (ε/σ) · sign(∇_{x_n} ℓ), clipped to [−μ/σ, (1 − μ)/σ]. Pass the dataset's
``mean`` and ``std`` (``keraslab.data.get_spec(name).mean`` / ``.std``); the defaults (μ = 0,
σ = 1) mean the model takes raw pixels in [0, 1].

Jacobian norms are reported with respect to the model's input (normalized pixels, the space the
penalties act in) unless ``std`` is given: then with respect to raw pixels in [0, 1],
J_raw = J_n · diag(1/σ) (for one channel ‖J_raw‖_F = ‖J_n‖_F / σ).

Every function evaluates the network in inference mode (``training=False``) and returns plain
NumPy data in a small dataclass with a ``to_dict()`` for ``results.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keraslab.errors import InputSpecError
from keraslab.ops.autodiff import input_jacobian, network_outputs

__all__ = [
    "FGSMCurve",
    "JacobianNorms",
    "PixelRange",
    "fgsm",
    "fgsm_accuracy",
    "jacobian_frobenius_norms",
    "jacobian_norms",
]


# ---------------------------------------------------------------------------- pixel units


@dataclasses.dataclass(frozen=True)
class PixelRange:
    """The map between raw pixels x ∈ [0, 1] and the model's input x_n = (x − μ)/σ.

    Attributes:
        mean: μ per channel (or one value for all channels), on the [0, 1] scale.
        std: σ per channel (or one value), positive.
    """

    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        mean = tuple(float(m) for m in np.atleast_1d(self.mean))
        std = tuple(float(s) for s in np.atleast_1d(self.std))
        if not all(s > 0 for s in std):
            raise InputSpecError(f"std must be positive, got {std}")
        if not all(np.isfinite(mean)):
            raise InputSpecError(f"mean must be finite, got {mean}")
        if len(mean) != len(std) and 1 not in (len(mean), len(std)):
            raise InputSpecError(
                f"mean and std must have one value per channel (or one value), got {len(mean)} "
                f"and {len(std)}"
            )
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def step(self, epsilon: float) -> tf.Tensor:
        """ε raw pixel units in the model's input space: ε/σ per channel."""
        return tf.constant(epsilon, tf.float32) / tf.constant(self.std, tf.float32)

    def bounds(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The valid range [−μ/σ, (1 − μ)/σ] of a normalized pixel, per channel."""
        mean = tf.constant(self.mean, tf.float32)
        std = tf.constant(self.std, tf.float32)
        return (0.0 - mean) / std, (1.0 - mean) / std


def _pixel_range(mean: Any, std: Any) -> PixelRange:
    return PixelRange(
        (0.0,) if mean is None else tuple(np.atleast_1d(mean)),
        (1.0,) if std is None else tuple(np.atleast_1d(std)),
    )


def _check_epsilon(epsilon: float) -> float:
    epsilon = float(epsilon)
    if not 0.0 <= epsilon <= 1.0:
        raise InputSpecError(
            f"epsilon is in raw pixel units and must be in [0, 1], got {epsilon} "
            "(for a perturbation of k grey levels use k/255)"
        )
    return epsilon


def _batches(
    data: Any, batch_size: int, max_samples: int | None
) -> Iterable[tuple[tf.Tensor, tf.Tensor | None]]:
    """(x, y-or-None) batches from a tf.data dataset of (x, y) / x batches, a NumPy array of
    images, or an (images, labels) tuple of arrays; stops after ``max_samples`` samples."""
    if isinstance(data, tf.data.Dataset):
        iterator: Iterable[Any] = data
    else:
        if isinstance(data, tuple) and len(data) == 2:
            x, y = np.asarray(data[0]), np.asarray(data[1])
            if len(x) != len(y):
                raise InputSpecError(f"{len(x)} images but {len(y)} labels")
        else:
            x, y = np.asarray(data), None
        iterator = (
            (x[i : i + batch_size], None if y is None else y[i : i + batch_size])
            for i in range(0, len(x), batch_size)
        )
    seen = 0
    for item in iterator:
        if isinstance(item, (tuple, list)):
            bx, by = item[0], item[1] if len(item) > 1 else None
        else:
            bx, by = item, None
        bx = tf.convert_to_tensor(bx, tf.float32)
        if bx.shape.rank is None or bx.shape.rank < 2:
            raise InputSpecError(
                f"expected batches of images (batch, height, width, channels), got shape "
                f"{bx.shape}; batch a tf.data dataset before passing it"
            )
        if max_samples is not None:
            left = max_samples - seen
            if left <= 0:
                return
            bx = bx[:left]
            by = None if by is None else by[:left]
        seen += int(bx.shape[0])
        yield bx, (None if by is None else tf.reshape(tf.cast(by, tf.int32), [-1]))


# ----------------------------------------------------------------------------------- FGSM


def _loss_gradient(model: keras.Model, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(logits, ∇_x Σ_b ℓ(f(x_b), y_b)): row b of the gradient is ∇_x ℓ of sample b alone,
    since in inference mode each sample's logits depend on its own input only."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = network_outputs(model, x)
        loss = tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        )
    return logits, tape.gradient(loss, x)


def fgsm(
    model: keras.Model,
    x: Any,
    y: Any,
    epsilon: float,
    *,
    mean: Sequence[float] | float | None = None,
    std: Sequence[float] | float | None = None,
) -> tf.Tensor:
    """The fast gradient sign method of Goodfellow, Shlens & Szegedy (2015):

        x' = clip( x + ε · sign(∇_x ℓ(f(x), y)) ),   ℓ = softmax cross-entropy of the logits,

    with ε in raw pixel units and the clip to the valid pixel range, both converted to the
    model's normalized input space (module docstring): x_n' = clip(x_n + (ε/σ) sign(∇ℓ),
    −μ/σ, (1 − μ)/σ). Untargeted, one step, on the true labels.

    Args:
        model: maps normalized images ``(B, H, W, C)`` to logits ``(B, classes)``.
        x: a batch of normalized images (as ``keraslab.data.load`` yields them).
        y: integer labels ``(B,)``.
        epsilon: the ℓ∞ radius in raw pixel units, in [0, 1] (e.g. 8/255).
        mean, std: the normalization μ, σ (per channel or one value); default 0 and 1.

    Returns:
        The adversarial batch, normalized like ``x``, float32.
    """
    scale = _pixel_range(mean, std)
    epsilon = _check_epsilon(epsilon)
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.reshape(tf.cast(y, tf.int32), [-1])
    _, grad = _loss_gradient(model, x, y)
    low, high = scale.bounds()
    return tf.clip_by_value(x + scale.step(epsilon) * tf.sign(grad), low, high)


@dataclasses.dataclass(frozen=True)
class FGSMCurve:
    """Accuracy under FGSM as a function of ε.

    Attributes:
        epsilons: the attack sizes, raw pixel units.
        accuracy: the accuracy on the attacked images, one per ε (ε = 0: clean images).
        clean_accuracy: the accuracy on the unattacked images.
        samples: how many images were attacked.
    """

    epsilons: list[float]
    accuracy: list[float]
    clean_accuracy: float
    samples: int

    def at(self, epsilon: float) -> float:
        """The accuracy at one of the measured ε."""
        for e, a in zip(self.epsilons, self.accuracy, strict=True):
            if np.isclose(e, epsilon):
                return a
        raise KeyError(f"ε = {epsilon} was not measured; measured: {self.epsilons}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fgsm_accuracy(
    model: keras.Model,
    data: Any,
    epsilons: Sequence[float],
    *,
    mean: Sequence[float] | float | None = None,
    std: Sequence[float] | float | None = None,
    batch_size: int = 256,
    max_samples: int | None = None,
) -> FGSMCurve:
    """Accuracy of ``model`` on FGSM-attacked images (:func:`fgsm`) for each ε.

    One gradient per batch serves every ε (the FGSM direction does not depend on ε).

    Args:
        model: maps normalized images to logits.
        data: a batched ``tf.data`` dataset of ``(images, labels)`` (as ``keraslab.data.load``
            returns), or an ``(images, labels)`` tuple of arrays, images normalized.
        epsilons: attack sizes in raw pixel units, each in [0, 1].
        mean, std: the normalization μ, σ of the images; default 0 and 1 (raw pixels).
        batch_size: for arrays (a dataset keeps its own batches).
        max_samples: attack only the first so many samples.

    Returns:
        :class:`FGSMCurve`.
    """
    scale = _pixel_range(mean, std)
    eps = [_check_epsilon(e) for e in epsilons]
    if not eps:
        raise InputSpecError("epsilons is empty; pass at least one attack size, e.g. [0, 0.1]")
    low, high = scale.bounds()
    steps = tf.stack([tf.broadcast_to(scale.step(e), [len(scale.std)]) for e in eps])

    @tf.function(reduce_retracing=True)
    def correct(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        logits, grad = _loss_gradient(model, x, y)
        clean = tf.reduce_sum(tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == y, tf.int32))
        # Every ε at once: one forward pass of the E·B attacked images. steps is (E, channels),
        # broadcast over (E, B, ..., channels).
        per_eps = tf.reshape(steps, [len(eps)] + [1] * (x.shape.rank - 1) + [-1])
        attacked = tf.clip_by_value(x[None] + per_eps * tf.sign(grad)[None], low, high)
        inner = [d if d is not None else tf.shape(x)[i + 1] for i, d in enumerate(x.shape[1:])]
        pred = tf.argmax(network_outputs(model, tf.reshape(attacked, [-1, *inner])), -1, tf.int32)
        hits = tf.cast(tf.reshape(pred, [len(eps), -1]) == y[None], tf.int32)
        return clean, tf.reduce_sum(hits, axis=1)

    clean_total, totals, n = 0, np.zeros(len(eps), np.int64), 0
    for x, y in _batches(data, batch_size, max_samples):
        if y is None:
            raise InputSpecError("fgsm_accuracy needs labels: pass (images, labels) batches")
        clean, counts = correct(x, y)
        clean_total += int(clean)
        totals += counts.numpy()
        n += int(x.shape[0])
    if n == 0:
        raise InputSpecError("fgsm_accuracy got no samples")
    return FGSMCurve(
        epsilons=eps,
        accuracy=[float(t) / n for t in totals],
        clean_accuracy=clean_total / n,
        samples=n,
    )


# ------------------------------------------------------------------------ Jacobian norms


def jacobian_frobenius_norms(
    model: keras.Model, x: Any, *, std: Sequence[float] | float | None = None
) -> tf.Tensor:
    """Per-sample ‖J_f(x_b)‖_F of the logits with respect to the model's input, exactly:

        ‖J_f(x)‖_F² = Σ_c ‖∇_x f_c(x)‖²,   J_f(x) = ∂f(x)/∂x ∈ R^{C×D}.

    Vectorized (:func:`keraslab.ops.autodiff.input_jacobian`, the exact Jacobian penalty's
    computation): the batch is repeated C times and copy c is back-propagated with the one-hot
    cotangent e_c, so one backward pass of a C·B batch gives all C rows of every sample's
    Jacobian (in inference mode each sample's logits depend on its own input only). Memory
    grows with C·B; batch accordingly.

    Args:
        model: maps ``(B, ...)`` inputs to ``(B, C)`` logits.
        x: one batch of inputs.
        std: ``None``: with respect to the model's input. The normalization σ (per channel,
            last axis): with respect to raw pixels, ∂f/∂x_raw = (∂f/∂x_n) / σ.

    Returns:
        float32 ``(B,)``.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    batch = tf.shape(x)[0]
    logits_shape = network_outputs(model, x[:1]).shape
    if logits_shape.rank != 2 or logits_shape[-1] is None:
        raise InputSpecError(
            f"Jacobian norms need outputs of shape (batch, classes); the model returns "
            f"{tuple(logits_shape)}"
        )
    c = int(logits_shape[-1])
    rows = input_jacobian(model, x, c)  # (C, B, ...): [k, b] is ∇_x f_k(x_b)
    if std is not None:
        rows = rows / tf.constant(_pixel_range(None, std).std, tf.float32)
    squares = tf.reduce_sum(tf.reshape(tf.square(rows), [c, batch, -1]), axis=[0, 2])
    return tf.sqrt(squares)


@dataclasses.dataclass(frozen=True)
class JacobianNorms:
    """The distribution of per-sample ‖J_f(x)‖_F over a dataset.

    Attributes:
        norms: the per-sample values, ``(N,)``.
        wrt: ``"model input"`` (normalized pixels) or ``"raw pixels"`` ([0, 1] scale).
    """

    norms: np.ndarray
    wrt: str = "model input"

    @property
    def mean(self) -> float:
        return float(np.mean(self.norms))

    @property
    def rms(self) -> float:
        """√(mean ‖J‖_F²): the square root of the exact Jacobian penalty's value."""
        return float(np.sqrt(np.mean(np.square(self.norms))))

    def quantiles(self, qs: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> dict[str, float]:
        return {f"q{round(100 * q):02d}": float(np.quantile(self.norms, q)) for q in qs}

    def histogram(self, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """(counts, bin edges) of the per-sample norms."""
        return np.histogram(self.norms, bins=bins)

    def to_dict(self, values: bool = False) -> dict[str, Any]:
        """Summary statistics; ``values=True`` adds every per-sample norm."""
        d: dict[str, Any] = {
            "wrt": self.wrt,
            "samples": int(self.norms.size),
            "mean": self.mean,
            "std": float(np.std(self.norms)),
            "rms": self.rms,
            "min": float(np.min(self.norms)),
            "max": float(np.max(self.norms)),
            **self.quantiles(),
        }
        if values:
            d["values"] = self.norms.tolist()
        return d


def jacobian_norms(
    model: keras.Model,
    data: Any,
    *,
    std: Sequence[float] | float | None = None,
    batch_size: int = 128,
    max_samples: int | None = None,
) -> JacobianNorms:
    """Per-sample ‖J_f(x)‖_F of the logits over a dataset (:func:`jacobian_frobenius_norms`,
    exact).

    Args:
        model: maps normalized images to logits.
        data: a batched ``tf.data`` dataset (``(images, labels)`` or images), an
            ``(images, labels)`` tuple or an array of images.
        std: ``None``: the Jacobian with respect to the model's input. The dataset's σ (per
            channel): with respect to raw pixels in [0, 1], J_raw = J_n · diag(1/σ).
        batch_size: for arrays (each batch is run C times over, so keep it moderate).
        max_samples: only the first so many samples.

    Returns:
        :class:`JacobianNorms`.
    """
    std = None if std is None else _pixel_range(None, std).std
    fn = tf.function(lambda x: jacobian_frobenius_norms(model, x, std=std), reduce_retracing=True)
    norms = [fn(x).numpy() for x, _ in _batches(data, batch_size, max_samples)]
    if not norms:
        raise InputSpecError("jacobian_norms got no samples")
    return JacobianNorms(np.concatenate(norms), "model input" if std is None else "raw pixels")
