"""Pixel normalisation and the standard data augmentations, as TensorFlow ops for ``tf.data``.

Augmentations act on one channels-last image ``(H, W, C)`` of raw pixels, before normalisation,
so the padding they introduce is a black (zero) pixel, as in the usual recipes. They use
stateless random ops driven by an explicit ``seed`` (a shape-``[2]`` integer tensor), so a
pipeline that derives one seed per element from a fixed base seed is reproducible run to run.

* MNIST family: random translation by up to ±2 pixels (zero-padded), the shift augmentation of
  Simard et al. (2003) in its simplest form.
* CIFAR-10: random crop of the 4-pixel zero-padded image plus a random horizontal flip
  (He et al., 2016, "Deep Residual Learning for Image Recognition").
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from keraslab.data.catalog import DatasetSpec

__all__ = ["normalize", "random_translate", "cifar_crop_flip", "augmentation_for"]

MNIST_MAX_SHIFT = 2
CIFAR_PAD = 4


def normalize(images: tf.Tensor, spec: DatasetSpec) -> tf.Tensor:
    """Standardise raw pixels per channel: ``(x / 255 - mean) / std`` in float32.

    Args:
        images: uint8 (or float, on the 0–255 scale) tensor whose last axis is the channels,
            e.g. one image ``(H, W, C)`` or a batch ``(B, H, W, C)``.
        spec: the dataset whose ``mean``/``std`` (on the ``[0, 1]`` scale) to use.
    """
    x = tf.cast(images, tf.float32) / 255.0
    mean = tf.constant(spec.mean, dtype=tf.float32)
    std = tf.constant(spec.std, dtype=tf.float32)
    return (x - mean) / std


def _pad_and_crop(image: tf.Tensor, pad: int, seed: tf.Tensor) -> tf.Tensor:
    image = tf.convert_to_tensor(image)
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    # A crop of the original size out of the padded image is a shift by up to ±pad pixels.
    cropped = tf.image.stateless_random_crop(padded, tf.shape(image), seed=seed)
    return tf.ensure_shape(cropped, image.shape)


def random_translate(
    image: tf.Tensor, max_shift: int = MNIST_MAX_SHIFT, *, seed: tf.Tensor
) -> tf.Tensor:
    """Shift one image ``(H, W, C)`` by a random number of pixels in ``[-max_shift, max_shift]``.

    Each axis gets its own whole-pixel shift; pixels moved in from outside the image are zero.

    Args:
        image: one image, raw pixels.
        max_shift: the largest shift in pixels.
        seed: shape-``[2]`` int32/int64 tensor; the same seed gives the same shift.
    """
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    return _pad_and_crop(image, max_shift, seed)


def cifar_crop_flip(image: tf.Tensor, pad: int = CIFAR_PAD, *, seed: tf.Tensor) -> tf.Tensor:
    """Random crop of the ``pad``-pixel zero-padded image, then a random horizontal flip.

    Args:
        image: one image ``(H, W, C)``, raw pixels.
        pad: zero padding on each side before cropping back to ``H × W``.
        seed: shape-``[2]`` int32/int64 tensor; the same seed gives the same crop and flip.
    """
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    image = _pad_and_crop(image, pad, crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


def augmentation_for(spec: DatasetSpec) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The standard augmentation of a dataset as ``fn(image, seed) -> image``."""
    if spec.file_format == "cifar10_binary":
        return lambda image, seed: cifar_crop_flip(image, CIFAR_PAD, seed=seed)
    return lambda image, seed: random_translate(image, MNIST_MAX_SHIFT, seed=seed)
