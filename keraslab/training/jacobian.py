"""Penalties on the input–output Jacobian J_f(x) = ∂f(x)/∂x of a network, and the products with
J that compute them.

For a classifier with C logits and D input values, J_f(x) is C × D per sample. The penalties
here never form it by C sequential backward passes:

* vector–Jacobian products vᵀJ for n directions at once
  (:func:`keraslab.ops.autodiff.input_vjp`): the batch is tiled n times and one backward pass
  with a different cotangent per copy gives all n products (the exact Frobenius norm uses the
  C one-hot directions, :func:`~keraslab.ops.autodiff.input_jacobian`);
* Jacobian–vector products J u in forward mode (:func:`~keraslab.ops.autodiff.input_jvp`,
  ``tf.autodiff.ForwardAccumulator``), for the power iteration of the spectral norm.

Those products live in :mod:`keraslab.ops.autodiff`, shared with the Jacobian norms that
:mod:`keraslab.analysis.robustness` measures.

The penalties are built from VJPs computed inside the training step's ``GradientTape``, so
their gradient with respect to the weights is a second-order (double backprop) computation, as
in Drucker & LeCun (1992); the forward-mode products only steer the power iteration and are
never differentiated.

**Cost** (``benchmarks/penalty_cost.py``, batch 64, wall-time ratio to the plain training
step, 2 CPU cores): one projection 1.2× (MLP) and 3.2× (LeNet) under ``tf.function``; the exact
norm costs about C projections (5.6× MLP, 13× LeNet with C = 10). The double backward is most
of it; :class:`~keraslab.training.step.TrainingModel` computes it without the identically zero
second derivatives of ReLU and max-pooling (:mod:`keraslab.training.second_order`).

**Which forward pass.** The training step has already computed f(x) in training mode, but not
on a tape watching x, so the penalties run their own forward pass, in *inference* mode
(``training=False``). That is deliberate: a second training-mode pass would update batch-norm
moving statistics a second time per step and draw a fresh dropout mask, so the penalty would
regularize a different random network than the one the loss sees. In inference mode the penalty
is a deterministic function of (θ, x) — the Jacobian of the network that gets deployed, which is
what robustness and margin arguments are about — and touches no state. For networks without
batch norm or dropout the two modes are the same function. Its gradient still reaches every
trainable weight (batch-norm γ and β included, through the moving-statistics normalization).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from keraslab.ops.autodiff import (
    input_jacobian,
    input_jvp,
    input_vjp,
    network_outputs,
    num_outputs,
    per_sample_sum,
    unit_directions,
)
from keraslab.ops.validate import integer
from keraslab.training.penalty import Penalty

__all__ = ["InputGradient", "JacobianFrobenius", "JacobianSpectral"]


def _normalize_per_sample(t: tf.Tensor) -> tf.Tensor:
    norm2 = per_sample_sum(tf.square(t))
    shape = tf.concat([tf.shape(norm2), tf.ones([tf.rank(t) - 1], tf.int32)], axis=0)
    # A zero vector (e.g. a dead ReLU region, J = 0) stays zero instead of becoming NaN.
    return t * tf.reshape(tf.math.rsqrt(tf.maximum(norm2, 1e-30)), shape)


class JacobianFrobenius(Penalty):
    """The squared Frobenius norm of the input–output Jacobian, batch mean:

        R(x) = ‖J_f(x)‖_F² = Σ_c ‖∇_x f_c(x)‖²,    J_f(x) = ∂f(x)/∂x ∈ R^{C×D}.

    Small ‖J_f‖ over the training data enlarges the classification margin in input space
    (Sokolić, Giryes, Sapiro & Rodrigues 2017, "Robust large margin deep neural networks",
    IEEE TSP) and the robustness to adversarial perturbations (Jakubovitz & Giryes 2018; Hoffman,
    Roberts & Yaida 2019).

    * ``projections=None`` — exact: the C rows ∇_x f_c(x) as the vector–Jacobian products with
      the one-hot directions e_c, all in one batched backward pass
      (:func:`~keraslab.ops.autodiff.input_jacobian`). Costs
      about C one-projection penalties.
    * ``projections=n`` — the random-projection estimator of Hoffman, Roberts & Yaida (2019,
      "Robust learning with Jacobian regularization", arXiv:1908.02729):

          R̂(x) = (C / n) Σ_{k=1..n} ‖v_kᵀ J_f(x)‖²,   v_k i.i.d. uniform on the unit sphere S^{C−1}.

      It is unbiased: E[v vᵀ] = I / C for v uniform on S^{C−1}, so
      E‖vᵀJ‖² = tr(Jᵀ E[v vᵀ] J) = ‖J‖_F² / C; hence the factor C. Each sample draws its own
      directions every step. n = 1 costs one extra forward and backward pass (plus their
      derivative).

    No factor ½ (Hoffman et al. write λ_JR/2 · ‖J‖_F²; fold it into ``weight``).

    Args:
        weight: the multiplier λ.
        projections: ``None`` for the exact norm, or the number n ≥ 1 of random projections.
        name: metric name; ``"jacobian"`` (exact) or ``"jacobian_projection"`` by default.
    """

    default_name = "jacobian"

    def __init__(
        self, weight: float = 1.0, projections: int | None = None, name: str | None = None
    ) -> None:
        if projections is not None:
            if isinstance(projections, bool) or int(projections) != projections:
                raise ValueError(f"projections must be None or an integer, got {projections!r}")
            projections = int(projections)
            if projections < 1:
                raise ValueError(f"projections must be >= 1 (or None: exact), got {projections}")
        super().__init__(
            weight, name or ("jacobian" if projections is None else "jacobian_projection")
        )
        self.projections = projections

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        x = tf.convert_to_tensor(x)
        c = num_outputs(network, x)
        batch = tf.shape(x)[0]
        if self.projections is None:
            g = input_jacobian(network, x, c)  # (C, B, ...)
            scale = 1.0
        else:
            directions = unit_directions(tf.stack([self.projections, batch, c]))
            directions = tf.ensure_shape(directions, [self.projections, None, c])
            g = input_vjp(network, x, directions)  # (n, B, ...)
            scale = c / self.projections
        per_direction = tf.reduce_sum(tf.square(g), axis=list(range(2, g.shape.rank)))  # (n, B)
        return scale * tf.reduce_mean(tf.reduce_sum(per_direction, axis=0))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "projections": self.projections}


class JacobianSpectral(Penalty):
    """The squared spectral norm of the input–output Jacobian, batch mean:

        R(x) = ‖J_f(x)‖₂² = σ_max(J_f(x))²,

    the quantity that bounds the classification margin of Sokolić, Giryes, Sapiro & Rodrigues
    (2017, "Robust large margin deep neural networks", IEEE TSP: input-space margin ≥
    score-gap / (√2 · sup_x ‖J(x)‖₂)). (Sokolić et al. train with the cheaper Frobenius upper
    bound ‖J‖₂ ≤ ‖J‖_F; this is the tight version.)

    Computed per sample by power iteration on J Jᵀ, started in the small output space
    (v ∈ S^{C−1}, so a random start is far from orthogonal to the top singular vector):

        u ← Jᵀv / ‖Jᵀv‖   (vector–Jacobian product, reverse mode)
        v ← J u / ‖J u‖    (Jacobian–vector product, forward mode: ForwardAccumulator)

    repeated ``iterations`` times, then R = ‖Jᵀv‖², the Rayleigh quotient vᵀ J Jᵀ v.

    **Gradient convention.** The iterate v is a constant (``tf.stop_gradient``): only the final
    ‖J_θᵀ v‖² is differentiated with respect to θ (a double backprop, like the other Jacobian
    penalties). At convergence v is the top left singular vector v*, and since
    σ² = max_{‖v‖=1} ‖J_θᵀ v‖², the envelope theorem gives ∇_θ σ² = ∇_θ ‖J_θᵀ v‖² at v = v* —
    the convention of spectral normalization (Miyato et al. 2018). Before convergence the value
    is a lower bound on σ_max², and its gradient that of the Rayleigh quotient at the current
    iterate. (The forward-mode products are never differentiated: reverse-over-forward through
    convolution + max-pooling takes XLA minutes to compile, reverse-over-reverse seconds.)

    Args:
        weight: the multiplier.
        iterations: power-iteration steps (each one VJP and one JVP), ≥ 0.
        name: metric name, ``"jacobian_spectral"`` by default.
    """

    default_name = "jacobian_spectral"

    def __init__(self, weight: float = 1.0, iterations: int = 3, name: str | None = None) -> None:
        iterations = integer(iterations, "iterations", 0)
        super().__init__(weight, name)
        self.iterations = iterations

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        x = tf.convert_to_tensor(x)
        c = num_outputs(network, x)
        v = unit_directions(tf.stack([tf.shape(x)[0], c]))
        for _ in range(self.iterations):
            u = _normalize_per_sample(input_vjp(network, x, tf.stop_gradient(v)[None])[0])
            v = _normalize_per_sample(input_jvp(network, x, tf.stop_gradient(u)))
        g = input_vjp(network, x, tf.stop_gradient(v)[None])[0]
        return tf.reduce_mean(per_sample_sum(tf.square(g)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "iterations": self.iterations}


class InputGradient(Penalty):
    """Double backpropagation (Drucker & LeCun 1992, "Improving generalization performance
    using double backpropagation", IEEE TNN): the squared norm of the gradient of the loss with
    respect to the input, batch mean,

        R(x, y) = ‖∇_x ℓ(f(x), y)‖²,   ℓ = sparse categorical cross-entropy.

    Unlike the Jacobian penalties it depends on the label and vanishes where the network is
    confidently right (∇_x ℓ = J_fᵀ (softmax(f(x)) − e_y)). Samples labelled −1 (unlabelled,
    see :class:`~keraslab.training.semisupervised.MaskedSparseCategoricalCrossentropy`)
    contribute 0; the mean is over the whole batch.

    Args:
        weight: the multiplier.
        from_logits: whether the network outputs logits (the keraslab convention) or
            probabilities.
        name: metric name, ``"input_gradient"`` by default.
    """

    default_name = "input_gradient"

    def __init__(self, weight: float = 1.0, from_logits: bool = True, name: str | None = None):
        super().__init__(weight, name)
        self.from_logits = bool(from_logits)

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        x = tf.convert_to_tensor(x)
        labels = tf.reshape(tf.cast(y, tf.int32), [-1])
        labelled = tf.cast(labels >= 0, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = network_outputs(network, x)
            ce = keras.losses.sparse_categorical_crossentropy(
                tf.maximum(labels, 0), out, from_logits=self.from_logits
            )
            # Per-sample losses are independent (inference mode), so the gradient of their sum
            # has ∇_x ℓ(f(x_b), y_b) in row b.
            total = tf.reduce_sum(ce * labelled)
        g = tape.gradient(total, x)
        return tf.reduce_mean(per_sample_sum(tf.square(g)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}
