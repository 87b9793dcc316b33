"""Image transformations T as TensorFlow ops on channels-last batches, for the invariance
penalty and test-time averaging.

Every transformation is a deformation L_τ x(u) = x(u − τ(u)) with a displacement field τ
(Mallat 2012; Bruna & Mallat 2013), so translations, rotations and elastic deformations share
one sampler, :func:`keraslab.ops.warp` (bilinear, zero outside the image), which the stability
measurements of :mod:`keraslab.analysis.stability` use too: it runs under ``tf.function``, XLA
and ``tf.distribute``, and is differentiable with respect to the image. Flips are exact index
reversals.

Unlike ``keraslab.data.augment`` (per-image ops on raw pixels inside ``tf.data``, seeded for
reproducible pipelines), these act on whole batches of normalized images inside a model or a
training step; zero is then the dataset mean, not black. The random ones draw from TensorFlow's
global generator (``keras.utils.set_random_seed`` makes a run reproducible).

A :class:`Transform` is a small serializable callable ``images -> images``: deterministic
(:class:`Shift`, :class:`Rotate`, :class:`FlipLeftRight`, :class:`Identity`) or random per
sample (:class:`RandomShift`, :class:`RandomRotate`, :class:`ElasticDeformation`).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from keraslab.errors import InputSpecError, UnknownNameError
from keraslab.ops.validate import integer, number, static_image_shape
from keraslab.ops.warping import warp

__all__ = [
    "ElasticDeformation",
    "FlipLeftRight",
    "Identity",
    "RandomRotate",
    "RandomShift",
    "Rotate",
    "Shift",
    "Transform",
    "elastic_displacement",
    "get_transform",
    "rotation_displacement",
]


def rotation_displacement(height: int, width: int, degrees: tf.Tensor) -> tf.Tensor:
    """The displacement field τ of a rotation by ``degrees`` (counter-clockwise as displayed,
    rows downwards) about the image centre, for :func:`keraslab.ops.warp` (L_τ x(u) =
    x(u − τ(u))); ``degrees`` scalar or ``(B,)``, result ``(…, H, W, 2)``."""
    theta = tf.cast(degrees, tf.float32) * (math.pi / 180.0)
    theta = tf.reshape(theta, tf.concat([tf.shape(theta), [1, 1]], axis=0))
    rows, cols = tf.meshgrid(
        tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij"
    )
    ci, cj = (height - 1) / 2.0, (width - 1) / 2.0
    di, dj = rows - ci, cols - cj
    cos, sin = tf.cos(theta), tf.sin(theta)
    # Output pixel p takes the input at R(−θ)(p − c) + c, written in (row, column) indices.
    src_i = ci + dj * sin + di * cos
    src_j = cj + dj * cos - di * sin
    # τ = p − source, so that p − τ is the source exactly (IEEE subtraction is antisymmetric).
    return tf.stack([rows - src_i, cols - src_j], axis=-1)


def elastic_displacement(
    batch: tf.Tensor, height: int, width: int, magnitude: float, smoothness: float
) -> tf.Tensor:
    """Random smooth displacement fields τ ``(B, H, W, 2)`` for :func:`keraslab.ops.warp`
    (Simard, Steinkraus & Platt 2003, "Best practices for convolutional neural networks applied
    to visual document analysis"):
    uniform noise in [−1, 1] smoothed by a Gaussian of standard deviation ``smoothness``
    pixels, then scaled so each field's root-mean-square displacement is ``magnitude`` pixels
    (Simard et al. scale by a fixed α instead; an RMS size in pixels reads directly)."""
    noise = tf.random.uniform(tf.stack([batch, height, width, 2]), -1.0, 1.0)
    radius = max(1, int(math.ceil(3 * smoothness)))
    t = tf.range(-radius, radius + 1, dtype=tf.float32)
    g = tf.exp(-0.5 * tf.square(t / smoothness))
    g = g / tf.reduce_sum(g)
    # Separable Gaussian: one depthwise pass along the rows, one along the columns.
    field = tf.nn.depthwise_conv2d(
        noise, tf.tile(tf.reshape(g, [-1, 1, 1, 1]), [1, 1, 2, 1]), [1, 1, 1, 1], "SAME"
    )
    field = tf.nn.depthwise_conv2d(
        field, tf.tile(tf.reshape(g, [1, -1, 1, 1]), [1, 1, 2, 1]), [1, 1, 1, 1], "SAME"
    )
    rms = tf.sqrt(tf.reduce_mean(tf.square(field), axis=[1, 2, 3], keepdims=True))
    # Negated: the noise is symmetric, so the distribution is the same, and a seed gives the
    # deformation it gave when the warp sampled x(u + τ).
    return -field * (magnitude / tf.maximum(rms, 1e-12))


@keras.saving.register_keras_serializable(package="keraslab")
class Transform:
    """A transformation T of a batch of images ``(B, H, W, C) -> (B, H, W, C)``."""

    #: whether two calls on the same images give the same result
    deterministic = True

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Transform:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


@keras.saving.register_keras_serializable(package="keraslab")
class Identity(Transform):
    """T x = x."""

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        return tf.convert_to_tensor(images)


@keras.saving.register_keras_serializable(package="keraslab")
class Shift(Transform):
    """Translation of the content by ``(dy, dx)`` pixels (down, right); zero fill. Whole pixels
    are exact; fractional ones are bilinear."""

    def __init__(self, dy: float = 0.0, dx: float = 0.0) -> None:
        self.dy, self.dx = float(dy), float(dx)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        return warp(images, tf.constant([self.dy, self.dx], tf.float32))

    def get_config(self) -> dict[str, Any]:
        return {"dy": self.dy, "dx": self.dx}


@keras.saving.register_keras_serializable(package="keraslab")
class RandomShift(Transform):
    """Translation of each image by its own whole-pixel shift in ``[-max_shift, max_shift]``
    along each axis; zero fill."""

    deterministic = False

    def __init__(self, max_shift: int = 2) -> None:
        self.max_shift = integer(max_shift, "max_shift", 0)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        images = tf.convert_to_tensor(images)
        shape = tf.stack([tf.shape(images)[0], 1, 1, 2])
        shifts = tf.random.uniform(shape, -self.max_shift, self.max_shift + 1, dtype=tf.int32)
        return warp(images, tf.cast(shifts, tf.float32))

    def get_config(self) -> dict[str, Any]:
        return {"max_shift": self.max_shift}


@keras.saving.register_keras_serializable(package="keraslab")
class Rotate(Transform):
    """Rotation by ``degrees`` about the image centre (counter-clockwise as displayed);
    bilinear, zero fill. ``Rotate(90)`` on a square image is ``np.rot90`` exactly."""

    def __init__(self, degrees: float) -> None:
        self.degrees = float(degrees)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        h, w, _ = static_image_shape(tf.convert_to_tensor(images))
        return warp(images, rotation_displacement(h, w, self.degrees))

    def get_config(self) -> dict[str, Any]:
        return {"degrees": self.degrees}


@keras.saving.register_keras_serializable(package="keraslab")
class RandomRotate(Transform):
    """Rotation of each image by its own angle, uniform in ``[-max_degrees, max_degrees]``."""

    deterministic = False

    def __init__(self, max_degrees: float = 10.0) -> None:
        self.max_degrees = number(max_degrees, "max_degrees", minimum=0)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        images = tf.convert_to_tensor(images)
        h, w, _ = static_image_shape(images)
        angles = tf.random.uniform(
            tf.shape(images)[:1], -self.max_degrees, self.max_degrees, dtype=tf.float32
        )
        return warp(images, rotation_displacement(h, w, angles))

    def get_config(self) -> dict[str, Any]:
        return {"max_degrees": self.max_degrees}


@keras.saving.register_keras_serializable(package="keraslab")
class FlipLeftRight(Transform):
    """Mirror image along the width axis."""

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        return tf.reverse(tf.convert_to_tensor(images), axis=[2])


@keras.saving.register_keras_serializable(package="keraslab")
class ElasticDeformation(Transform):
    """A small random elastic deformation per image (see :func:`elastic_displacement`):
    displacement fields smooth over ``smoothness`` pixels with an RMS size of ``magnitude``
    pixels."""

    deterministic = False

    def __init__(self, magnitude: float = 1.0, smoothness: float = 4.0) -> None:
        if not magnitude >= 0 or not smoothness > 0:
            raise ValueError(
                f"magnitude must be >= 0 and smoothness > 0, got {magnitude!r}, {smoothness!r}"
            )
        self.magnitude, self.smoothness = float(magnitude), float(smoothness)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        images = tf.convert_to_tensor(images)
        h, w, _ = static_image_shape(images)
        field = elastic_displacement(tf.shape(images)[0], h, w, self.magnitude, self.smoothness)
        return warp(images, field)

    def get_config(self) -> dict[str, Any]:
        return {"magnitude": self.magnitude, "smoothness": self.smoothness}


_SPECS = {
    "identity": (Identity, 0),
    "shift": (RandomShift, 1),
    "rotate": (RandomRotate, 1),
    "flip": (FlipLeftRight, 0),
    "elastic": (ElasticDeformation, 2),
}


def get_transform(spec: str | Transform) -> Transform:
    """A transform from a short spec (the CLI's syntax): ``"shift:2"`` (random whole-pixel
    shifts up to ±2), ``"rotate:10"`` (random rotations up to ±10°), ``"flip"``,
    ``"elastic:1:4"`` (RMS magnitude 1 px, smoothness 4 px), ``"identity"``. Numbers after
    the name are optional (the defaults above apply). A :class:`Transform` is returned as is."""
    if isinstance(spec, Transform):
        return spec
    name, *args = str(spec).strip().split(":")
    if name not in _SPECS:
        raise UnknownNameError(
            f"unknown transform {name!r} in {spec!r}; valid names: {', '.join(sorted(_SPECS))}"
        )
    cls, max_args = _SPECS[name]
    if len(args) > max_args:
        raise UnknownNameError(f"transform {name!r} takes at most {max_args} numbers: {spec!r}")
    try:
        values = [float(a) for a in args]
        if cls is RandomShift and values and values[0] == int(values[0]):
            values[0] = int(values[0])
        return cls(*values)
    except ValueError as e:
        raise InputSpecError(f"bad transform {spec!r}: {e}") from None
