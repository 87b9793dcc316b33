"""Semi-supervised training by network inversion: a masked cross-entropy on the labelled
samples, and a reconstruction and an entropy penalty on all of them.

Balestriero, Roger, Glotin & Baraniuk (2017, "Semi-supervised learning via new deep network
inversion", arXiv:1711.04313) train one classifier on labelled and unlabelled images with

    L = α · CE(f(x), y) · 1{x labelled} + (1 − α) · [β · R(x) + (1 − β) · E(x)],

α = 0.7, β = 0.5 by default here, where R is a reconstruction error of the input from the
network's own templates and E the entropy of its prediction. Unlabelled samples carry the label
−1 (a batch may mix both). :func:`semi_supervised` returns the pieces; the compiled loss gets
weight α (``loss_weights``), the two penalties (1 − α)β and (1 − α)(1 − β).

**The reconstruction, exactly.** A network built of affine maps, ReLUs and max-pooling is a
continuous piecewise-affine spline, f(x) = A[x] x + b[x] (Balestriero & Baraniuk 2018, "A spline
theory of deep networks", ICML; "Mad Max: affine spline insights into deep learning"), whose row
A[x]_c — the "template" of class c — is ∇_x f_c(x), i.e. A[x] = J_f(x). The inverse used for
semi-supervised learning reconstructs x from these templates. :class:`Reconstruction` implements

    x̂(x) = A[x]ᵀ w(x) = Σ_c w_c(x) ∇_x f_c(x),   R(x) = ‖x − x̂(x)‖²   (batch mean),

with w(x) = softmax(f(x)) (``template="softmax"``, default: the prediction-weighted mix of the
class templates) or w(x) = e_{argmax f(x)} (``template="argmax"``: the template of the predicted
class alone, the "winning" template). w is held constant (``stop_gradient``): the gradient
shapes the templates, not the class weights, which the entropy term already sharpens. x̂ costs
one vector–Jacobian product, its gradient a double backprop. (We could not retrieve the
equations of the paper's body to check its numbering; the formula above is what this code
computes, on any network — for networks that are not piecewise affine, A[x] = J_f(x) is the
local linearization.)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import tensorflow as tf

from keraslab.ops.autodiff import input_vjp, per_sample_sum
from keraslab.ops.validate import one_of
from keraslab.training.penalty import Penalty

__all__ = [
    "MaskedSparseCategoricalCrossentropy",
    "PredictionEntropy",
    "Reconstruction",
    "SemiSupervisedObjective",
    "semi_supervised",
]

UNLABELLED = -1
_TEMPLATES = ("softmax", "argmax")


@keras.saving.register_keras_serializable(package="keraslab")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy that ignores unlabelled samples (label < 0, −1 by
    convention):

        ℓ(x, y) = 1{y ≥ 0} · (−log softmax(f(x))_y).

    The reduction is Keras's usual one (``"sum_over_batch_size"``: divided by the *whole* batch
    size, labelled or not), which is the 1{labelled} weighting of Balestriero et al. (2017)
    literally, keeps the loss's scale independent of how a batch splits across replicas, and
    makes an all-unlabelled batch contribute 0 rather than NaN. (Keras's own
    ``SparseCategoricalCrossentropy(ignore_class=-1)`` averages over the labelled samples
    instead.)

    Args:
        from_logits: whether predictions are logits (keraslab's models output logits, so this
            defaults to ``True``, unlike Keras's loss).
        reduction, name, dtype: as for any ``keras.losses.Loss``.
    """

    def __init__(
        self,
        from_logits: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str = "masked_sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_pred = tf.convert_to_tensor(y_pred)
        labels = tf.reshape(tf.cast(y_true, tf.int32), tf.shape(y_pred)[:-1])
        ce = keras.losses.sparse_categorical_crossentropy(
            tf.maximum(labels, 0), y_pred, from_logits=self.from_logits
        )
        return ce * tf.cast(labels >= 0, ce.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}


class Reconstruction(Penalty):
    """Reconstruction of the input from the network's templates (Balestriero, Roger, Glotin &
    Baraniuk 2017):

        x̂ = A[x]ᵀ w(x) = J_f(x)ᵀ w(x),   R(x) = ‖x − x̂‖² / D   (per sample, batch mean),

    D the number of input entries (``reduction="mean"``, the default) — so R is on the scale of
    the cross-entropy and the entropy it is mixed with whatever the image size; with
    ``reduction="sum"`` R = ‖x − x̂‖² (on 28×28 images that is 784× larger, and with the default
    α, β it then dominated the semi-supervised loss and lowered accuracy in lab 05).

    w = softmax(f(x)) (``template="softmax"``) or the one-hot of the predicted class
    (``"argmax"``), held constant. See the module docstring for the derivation. Uses no label,
    so it applies to unlabelled samples too. The network runs in inference mode (no second
    batch-norm update, no dropout).

    Args:
        weight: the multiplier ((1 − α)β in the semi-supervised loss).
        template: ``"softmax"`` or ``"argmax"``.
        reduction: ``"mean"`` (over the input entries) or ``"sum"``.
        name: metric name, ``"reconstruction"`` by default.
    """

    default_name = "reconstruction"

    def __init__(
        self,
        weight: float = 1.0,
        template: str = "softmax",
        reduction: str = "mean",
        name: str | None = None,
    ):
        one_of(template, "template", _TEMPLATES)
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        super().__init__(weight, name)
        self.template = template
        self.reduction = reduction

    def reconstruct(self, network: keras.Model, x: Any) -> tf.Tensor:
        """x̂ = J_f(x)ᵀ w(x), shaped like ``x``: one vector–Jacobian product whose direction
        w(x) comes from the same forward pass."""
        return input_vjp(network, x, self._class_weights)[0]

    def _class_weights(self, out: tf.Tensor) -> tf.Tensor:
        if self.template == "softmax":
            return tf.nn.softmax(out, axis=-1)
        return tf.one_hot(tf.argmax(out, axis=-1), tf.shape(out)[-1])

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        x = tf.convert_to_tensor(x)
        x_hat = self.reconstruct(network, x)
        residual = tf.cast(x, tf.float32) - tf.cast(x_hat, tf.float32)
        per_sample = per_sample_sum(tf.square(residual))
        if self.reduction == "mean":
            per_sample = per_sample / tf.cast(tf.reduce_prod(tf.shape(x)[1:]), tf.float32)
        return tf.reduce_mean(per_sample)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "template": self.template, "reduction": self.reduction}


class PredictionEntropy(Penalty):
    """The Shannon entropy of the prediction, batch mean (entropy minimization, Grandvalet &
    Bengio 2005; the E term of Balestriero et al. 2017):

        E(x) = −Σ_c p_c log p_c,   p = softmax(f(x)).

    Computed from the training step's own predictions ``y_pred`` (no extra forward pass), in
    float32. Applies to every sample, labelled or not.

    Args:
        weight: the multiplier ((1 − α)(1 − β) in the semi-supervised loss).
        from_logits: whether ``y_pred`` holds logits (keraslab's convention) or probabilities.
        name: metric name, ``"entropy"`` by default.
    """

    default_name = "entropy"

    def __init__(self, weight: float = 1.0, from_logits: bool = True, name: str | None = None):
        super().__init__(weight, name)
        self.from_logits = bool(from_logits)

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        z = tf.cast(y_pred, tf.float32)
        if self.from_logits:
            log_p = tf.nn.log_softmax(z, axis=-1)
        else:
            log_p = tf.math.log(tf.maximum(z, 1e-12))
        return tf.reduce_mean(-tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}


@dataclasses.dataclass(frozen=True)
class SemiSupervisedObjective:
    """The three terms of L = α CE·1{labelled} + (1 − α)[β R + (1 − β) E].

    Attributes:
        loss: the masked cross-entropy, to compile with ``loss_weights=loss_weight``.
        loss_weight: α.
        penalties: ``[Reconstruction((1 − α)β), PredictionEntropy((1 − α)(1 − β))]``.
    """

    loss: MaskedSparseCategoricalCrossentropy
    loss_weight: float
    penalties: list[Penalty]


def semi_supervised(
    alpha: float = 0.7, beta: float = 0.5, *, template: str = "softmax"
) -> SemiSupervisedObjective:
    """The semi-supervised objective of Balestriero, Roger, Glotin & Baraniuk (2017).

    Args:
        alpha: weight of the supervised term, in [0, 1].
        beta: share of the reconstruction in the unsupervised term, in [0, 1].
        template: the reconstruction's class weighting (see :class:`Reconstruction`).

    Example:
        >>> obj = semi_supervised()                       # α = 0.7, β = 0.5
        >>> model = TrainingModel(net, obj.penalties)
        >>> model.compile(optimizer="adam", loss=obj.loss, loss_weights=obj.loss_weight)
        >>> model.fit(ds)       # labels −1 mark the unlabelled images
    """
    for label, v in (("alpha", alpha), ("beta", beta)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{label} must be in [0, 1], got {v}")
    alpha, beta = float(alpha), float(beta)
    return SemiSupervisedObjective(
        loss=MaskedSparseCategoricalCrossentropy(from_logits=True),
        loss_weight=alpha,
        penalties=[
            Reconstruction((1 - alpha) * beta, template=template),
            PredictionEntropy((1 - alpha) * (1 - beta)),
        ],
    )
