"""The ``tf.data`` input pipeline: one call from a dataset name to batches a model can train on."""

from __future__ import annotations

import os

import tensorflow as tf

from keraslab.data import augment as _augment
from keraslab.data.catalog import get_spec
from keraslab.data.sources import load_arrays

__all__ = ["load"]


def load(
    name: str,
    split: str,
    *,
    batch_size: int = 128,
    shuffle: bool | None = None,
    augment: bool = False,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    normalize: bool = True,
    limit: int | None = None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Load a dataset split as a batched, prefetching ``tf.data.Dataset``.

    The images are read once into memory (all supported datasets fit easily), then shuffled,
    augmented per image, batched and normalised per batch.

    Args:
        name: ``mnist``, ``fashion_mnist``, ``cifar10`` or ``fashion_mnist_sample``.
        split: ``"train"`` or ``"test"``.
        batch_size: examples per batch.
        shuffle: reshuffle every epoch; defaults to ``True`` for ``train`` and ``False`` otherwise.
        augment: apply the dataset's standard augmentation (CIFAR-10: 4-pixel pad, random crop
            and horizontal flip; MNIST family: random ±2 pixel translation).
        source: where to get the data; see :func:`keraslab.data.load_arrays`.
        data_dir: a directory holding the data; see :func:`keraslab.data.load_arrays`.
        seed: seeds shuffling and augmentation; the same seed gives the same batches, epoch by
            epoch (different epochs differ from each other).
        normalize: ``(x / 255 - mean) / std`` with the dataset's per-channel statistics; when
            ``False`` the images are float32 raw pixels in ``[0, 255]``.
        limit: keep only the first ``limit`` examples (in file order, not class-balanced), for
            quick runs.
        drop_remainder: drop the last batch when it is smaller than ``batch_size``.

    Returns:
        A dataset of ``(images, labels)``: float32 ``(B, H, W, C)`` and int32 ``(B,)``.

    Raises:
        UnknownNameError: unknown dataset, split or source.
        DatasetNotFoundError: no source has the data (the message says how to get it).
        CorruptDataError: a data file is damaged.
    """
    spec = get_spec(name)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    arrays = load_arrays(spec.name, split, source=source, data_dir=data_dir)
    images, labels = arrays.images, arrays.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    if shuffle is None:
        shuffle = split == "train"

    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    if augment:
        fn = _augment.augmentation_for(spec)
        # One stateless seed per element from a seeded stream that is rerandomised each epoch:
        # reproducible for a given `seed`, yet each epoch sees fresh augmentations.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda xy, s: (fn(xy[0], s), xy[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    if normalize:

        def finish(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return _augment.normalize(x, spec), y
    else:

        def finish(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return tf.cast(x, tf.float32), y

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
