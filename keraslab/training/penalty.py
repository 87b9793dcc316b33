"""The interface every training penalty of keraslab plugs into, and its simplest instance.

A penalty is a weighted scalar R(f, x, y) added to the data loss inside the one training step
(``keraslab.training.step.TrainingModel``):

    L(θ) = E[ℓ(f_θ(x), y)] + Σ_k w_k · R_k(f_θ, x, y).

Penalties are training-only: the exported model is the plain network. Concrete penalties
subclass :class:`Penalty`; besides :class:`WeightDecay` here they live in sibling modules
(``jacobian``: Jacobian Frobenius / spectral norms and double backprop; ``invariance``;
``semisupervised``: reconstruction and entropy), and :mod:`keraslab.training.penalties` names
them all.
"""

from __future__ import annotations

import re
from typing import Any

import keras

_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class Penalty:
    """Base class of a training penalty ``weight · value(network, x, y, y_pred)``.

    Subclasses implement :meth:`value`, which runs inside the training step's
    ``tf.GradientTape`` (so it may open an inner tape on ``x`` to differentiate the network with
    respect to its input) and must return a scalar tensor: the batch mean, not yet weighted.

    Args:
        weight: the non-negative multiplier w_k.
        name: metric name under which the (unweighted) value is logged; lowercase snake case.
    """

    default_name = "penalty"

    def __init__(self, weight: float = 1.0, name: str | None = None) -> None:
        weight = float(weight)
        if not weight >= 0.0:  # also rejects NaN
            raise ValueError(f"penalty weight must be a non-negative number, got {weight}")
        name = name or self.default_name
        if not _NAME_PATTERN.match(name):
            raise ValueError(
                f"penalty name {name!r} must be lowercase snake case (it becomes a metric name)"
            )
        self.weight = weight
        self.name = name

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        """The unweighted penalty, a scalar tensor (batch mean)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"weight": self.weight, "name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(weight={self.weight}, name={self.name!r})"


class WeightDecay(Penalty):
    """Weight decay R = ½ Σ_l ‖W_l‖_F² over the kernels of the network (biases and batch-norm
    parameters excluded), the classical baseline of the large-margin regularizers (Sokolić et
    al. 2017). Here mostly as the simplest working example of the interface."""

    default_name = "weight_decay"

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        kernels = [v for v in network.trainable_weights if v.path.endswith("kernel")]
        if not kernels:
            return keras.ops.zeros((), dtype="float32")
        return 0.5 * keras.ops.sum(
            keras.ops.stack(
                [keras.ops.sum(keras.ops.square(keras.ops.cast(k, "float32"))) for k in kernels]
            )
        )


__all__ = ["Penalty", "WeightDecay"]
