"""One bilinear warp for every transformation and deformation of an image batch.

The sign convention is that of the deformation operator of Mallat (2012, "Group invariant
scattering", CPAM 65(10), §2.3) and Bruna & Mallat (2013, "Invariant scattering convolution
networks", IEEE TPAMI 35(8)):

    L_τ x(u) = x(u − τ(u)),

so a constant field τ = a is the translation T_a x(u) = x(u − a), which moves the content *by*
a (down and right for a > 0, in (row, column) pixels). A displacement field is therefore "where
each output pixel u takes its content from u − τ(u)": the image transformations of training
(:mod:`keraslab.training.transforms`: shifts, rotations, elastic deformations) and the
deformations of the stability measurements (:mod:`keraslab.analysis.stability`) both hand their
fields to :func:`warp` in this form.

Bilinear interpolation, zero outside the image, built from ``gather`` and arithmetic only: it
runs under ``tf.function``, XLA and ``tf.distribute`` and is differentiable with respect to the
image.
"""

from __future__ import annotations

import tensorflow as tf

from keraslab.ops.validate import static_image_shape

__all__ = ["warp"]


def warp(images: tf.Tensor, tau: tf.Tensor) -> tf.Tensor:
    """L_τ x: bilinear resampling ``out[b, i, j] = images[b, i − τ_y, j − τ_x]``, zero outside.

    Args:
        images: ``(B, H, W, C)`` with static H, W, C.
        tau: τ(u) in pixels, last axis ``(τ_y, τ_x)`` (rows, columns); any shape that
            broadcasts to ``(B, H, W, 2)`` (``(H, W, 2)`` for one field, ``(B, 1, 1, 2)`` for a
            translation per sample).

    Returns:
        ``(B, H, W, C)``, the dtype of ``images``. Sample positions are computed in float64 for
        float64 images (what the NumPy stability measurements pass), in float32 otherwise.
    """
    images = tf.convert_to_tensor(images)
    h, w, c = static_image_shape(images)
    batch = tf.shape(images)[0]
    dtype = images.dtype
    grid = tf.float64 if dtype == tf.float64 else tf.float32
    # One pixel of zero padding: every sample point outside the image is clipped onto it.
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    hp, wp = h + 2, w + 2
    rows, cols = tf.meshgrid(tf.range(h, dtype=grid), tf.range(w, dtype=grid), indexing="ij")
    d = tf.broadcast_to(tf.cast(tau, grid), tf.stack([batch, h, w, 2]))
    y = tf.clip_by_value(rows - d[..., 0] + 1.0, 0.0, hp - 1.0)
    x = tf.clip_by_value(cols - d[..., 1] + 1.0, 0.0, wp - 1.0)
    y0, x0 = tf.floor(y), tf.floor(x)
    wy, wx = y - y0, x - x0
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    y1, x1 = tf.minimum(y0 + 1, hp - 1), tf.minimum(x0 + 1, wp - 1)
    flat = tf.reshape(padded, [-1, c])
    base = tf.reshape(tf.range(batch) * (hp * wp), [-1, 1, 1])

    def at(yy: tf.Tensor, xx: tf.Tensor) -> tf.Tensor:
        return tf.gather(flat, base + yy * wp + xx)

    wy, wx = tf.cast(wy, dtype)[..., None], tf.cast(wx, dtype)[..., None]
    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return top * (1 - wy) + bottom * wy
