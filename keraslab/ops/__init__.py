"""The low layer shared by training and analysis: products with a network's input Jacobian
(:mod:`~keraslab.ops.autodiff`), the one bilinear warp L_τ x(u) = x(u − τ(u))
(:mod:`~keraslab.ops.warping`), and argument checks (:mod:`~keraslab.ops.validate`).

It imports TensorFlow, Keras, NumPy and nothing of keraslab but itself, so both
:mod:`keraslab.training` and :mod:`keraslab.analysis` build on it without importing each other.
"""

from keraslab.ops.autodiff import (
    input_jacobian,
    input_jvp,
    input_vjp,
    network_outputs,
    num_outputs,
    per_sample_sum,
    unit_directions,
)
from keraslab.ops.warping import warp

__all__ = [
    "input_jacobian",
    "input_jvp",
    "input_vjp",
    "network_outputs",
    "num_outputs",
    "per_sample_sum",
    "unit_directions",
    "warp",
]
