"""Products with the input–output Jacobian J_f(x) = ∂f(x)/∂x of a network, for the penalties
that train on it and the analyses that measure it.

For a network with C outputs and D input values, J_f(x) is C × D per sample. Nothing here forms
it by C sequential backward passes:

* vector–Jacobian products vᵀJ for n directions at once (:func:`input_vjp`): the batch is tiled
  n times and one backward pass with a different cotangent per copy gives all n products; the
  exact Jacobian (:func:`input_jacobian`) is the n = C case with the one-hot directions e_c;
* Jacobian–vector products J u in forward mode (:func:`input_jvp`,
  ``tf.autodiff.ForwardAccumulator``).

The network always runs in inference mode (``training=False``): each sample's outputs then
depend on its own input only, so the gradient of a sum over the batch holds every sample's
product in its own row, and no batch-norm statistic or dropout mask changes. Outputs are cast to
float32 whatever the dtype policy: under mixed_float16 the products and squared norms would
overflow or lose precision in float16. Everything is recorded by an enclosing
``tf.GradientTape``, so a penalty built on these products is differentiable with respect to
the weights (double backprop, Drucker & LeCun 1992).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

__all__ = [
    "input_jacobian",
    "input_jvp",
    "input_vjp",
    "network_outputs",
    "num_outputs",
    "per_sample_sum",
    "unit_directions",
]


def per_sample_sum(t: tf.Tensor) -> tf.Tensor:
    """Σ over every axis but the first: ``(B, ...) -> (B,)``."""
    return tf.reduce_sum(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)


def network_outputs(network: keras.Model, x: tf.Tensor) -> tf.Tensor:
    """f(x) in inference mode, as float32."""
    return tf.cast(network(x, training=False), tf.float32)


def num_outputs(network: keras.Model, x: Any) -> int:
    """C, the size of the network's last output axis, without running it."""
    try:
        outputs = network.outputs
    except (AttributeError, ValueError):  # subclassed, or a Sequential not yet built
        outputs = None
    if outputs:
        if len(outputs) != 1:
            raise ValueError(
                f"Jacobian penalties need a single-output network; {network.name} has "
                f"{len(outputs)} outputs"
            )
        shape = outputs[0].shape
    else:  # subclassed model: trace it symbolically
        shape = network.compute_output_spec(keras.KerasTensor(x.shape, x.dtype)).shape
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"Jacobian penalties need outputs of shape (batch, classes); {network.name} "
            f"returns {tuple(shape)}"
        )
    return int(shape[-1])


def unit_directions(shape: Any) -> tf.Tensor:
    """Independent random vectors uniform on the unit sphere along the last axis of ``shape``
    (normalized Gaussians)."""
    g = tf.random.normal(shape, dtype=tf.float32)
    return g * tf.math.rsqrt(tf.reduce_sum(tf.square(g), axis=-1, keepdims=True))


def input_vjp(
    network: keras.Model,
    x: tf.Tensor,
    directions: tf.Tensor | Callable[[tf.Tensor], tf.Tensor],
) -> tf.Tensor:
    """The vector–Jacobian products vᵀ J_f(x_b) for n directions per sample, in one backward pass.

    Args:
        network: maps ``x`` (batch first) to outputs ``(B, C)``; evaluated with
            ``training=False``.
        x: input batch ``(B, ...)``.
        directions: ``(n, B, C)``, the cotangents v_{k,b}; or a function of the outputs,
            ``f(x) (B, C) -> v (B, C)``, for one direction per sample that depends on the
            prediction (n = 1, e.g. v = softmax(f(x))), held constant (``stop_gradient``).

    Returns:
        ``(n, B, ...)``: entry ``[k, b]`` is ``directions[k, b] ᵀ J_f(x)[b]``, shaped like
        ``x[b]``. Differentiable with respect to the network's weights (recorded by any
        enclosing tape), so it can be penalized.
    """
    x = tf.convert_to_tensor(x)
    n = 1 if callable(directions) else directions.shape[0]
    if n is None:
        raise ValueError("the number of directions must be static")
    # n copies of the batch: each copy gets its own cotangent, so one backward pass gives all
    # n products. Unlike pfor'd batch_jacobian this is plain large-batch ops, which XLA
    # compiles once (batch_jacobian under jit_compile took ~50 s per step on an MLP).
    xt = x if n == 1 else tf.tile(x, [n] + [1] * (x.shape.rank - 1))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = network_outputs(network, xt)
        if callable(directions):
            v = tf.stop_gradient(directions(y))
        else:
            v = tf.reshape(directions, tf.shape(y))
        projected = tf.reduce_sum(y * v)
    g = tape.gradient(projected, xt)
    return tf.reshape(g, tf.concat([[n], tf.shape(x)], axis=0))


def input_jacobian(network: keras.Model, x: tf.Tensor, classes: int | None = None) -> tf.Tensor:
    """The exact Jacobian J_f(x_b) of every sample, row by row: ``(C, B, ...)``, entry
    ``[c, b]`` = ∇_x f_c(x_b), shaped like ``x[b]``.

    The C rows are the vector–Jacobian products with the one-hot directions e_c, all in one
    backward pass of the C-times tiled batch (:func:`input_vjp`): memory grows with C·B.
    ``classes`` is C when the caller knows it (default: :func:`num_outputs`).
    """
    x = tf.convert_to_tensor(x)
    c = num_outputs(network, x) if classes is None else int(classes)
    batch = tf.shape(x)[0]
    directions = tf.broadcast_to(tf.eye(c)[:, None, :], tf.stack([c, batch, c]))
    return input_vjp(network, x, directions)


def input_jvp(network: keras.Model, x: tf.Tensor, tangents: tf.Tensor) -> tf.Tensor:
    """The Jacobian–vector products J_f(x_b) u_b in forward mode, ``(B, C)``.

    ``tangents`` has the shape of ``x``. One forward pass carrying tangents
    (``tf.autodiff.ForwardAccumulator``). Differentiable with respect to the weights, but
    differentiating it under XLA compiles very slowly for convolution + max-pooling networks
    (over a minute for LeNet); the spectral-norm penalty only differentiates VJPs.
    """
    x = tf.convert_to_tensor(x)
    with tf.autodiff.ForwardAccumulator(primals=x, tangents=tf.cast(tangents, x.dtype)) as acc:
        y = network_outputs(network, x)
    return acc.jvp(y)
