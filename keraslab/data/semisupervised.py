"""Labelled and unlabelled images in one stream of batches, for semi-supervised training.

Each batch holds ``labelled_per_batch`` labelled images followed by ``unlabelled_per_batch``
unlabelled ones, whose label is :data:`UNLABELLED` (−1): the convention of the masked
cross-entropy of :mod:`keraslab.training.semisupervised` (Balestriero, Roger, Glotin & Baraniuk
2017), which ignores those samples while the reconstruction and entropy penalties use all of
them. The few labelled images are cycled (repeated, then shuffled with a buffer of all of them);
one epoch is one pass over the unlabelled pool, reshuffled each epoch.

TensorFlow is imported here, so :mod:`keraslab.data` imports this module on first use only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from keraslab.errors import InputSpecError

__all__ = ["UNLABELLED", "SemiSupervisedBatches", "semi_supervised_batches"]

#: The label of an unlabelled image (what ``MaskedSparseCategoricalCrossentropy`` ignores).
UNLABELLED = -1


@dataclasses.dataclass(frozen=True)
class SemiSupervisedBatches:
    """What :func:`semi_supervised_batches` returns.

    Attributes:
        mixed: ``steps`` batches of ``(images, labels)``: the labelled images first, then the
            unlabelled ones with label ``UNLABELLED``.
        labelled: the labelled part of the same stream alone, ``steps`` batches of
            ``labelled_per_batch``: what a supervised-only baseline trains on, for as many
            steps. Both datasets draw from *one* seeded shuffle of the labelled images, whose
            order moves on with every pass over either (tf.data's seeded reshuffling): a
            program that trains on them in a fixed order gets the same numbers every run.
        steps: batches per epoch, ``max(1, len(unlabelled) // unlabelled_per_batch)``.
    """

    mixed: tf.data.Dataset
    labelled: tf.data.Dataset
    steps: int


def semi_supervised_batches(
    images: np.ndarray,
    labels: np.ndarray,
    unlabelled: np.ndarray,
    *,
    labelled_per_batch: int = 16,
    unlabelled_per_batch: int = 48,
    seed: int = 0,
) -> SemiSupervisedBatches:
    """Batches mixing a few labelled images with a pool of unlabelled ones (module docstring).

    Args:
        images: the labelled images, as the model takes them (e.g.
            ``spec.normalize(train.images[few])``).
        labels: their integer labels ``(len(images),)``.
        unlabelled: the unlabelled images, in the same format.
        labelled_per_batch: labelled images per batch.
        unlabelled_per_batch: unlabelled images per batch (an incomplete last batch is dropped).
        seed: seed of both shuffles.

    Raises:
        InputSpecError: counts that do not match, a non-positive batch share, or fewer
            unlabelled images than one batch needs.

    Example:
        >>> few = data.balanced_subset(train.labels, 50, seed=0)
        >>> pool = data.balanced_subset(train.labels, 2000, seed=10_000, exclude=few)
        >>> batches = data.semi_supervised_batches(
        ...     spec.normalize(train.images[few]), train.labels[few],
        ...     spec.normalize(train.images[pool]), seed=0)
        >>> objective = training.semi_supervised()
        >>> training.fit(net, batches.mixed, recipe=recipe, loss=objective.loss,
        ...              loss_weights=objective.loss_weight, penalties=objective.penalties)
    """
    images, unlabelled = np.asarray(images), np.asarray(unlabelled)
    labels = np.asarray(labels)
    if len(images) != len(labels) or len(images) == 0:
        raise InputSpecError(
            f"images and labels must be non-empty and of the same length, got {len(images)} "
            f"images and {len(labels)} labels"
        )
    if images.shape[1:] != unlabelled.shape[1:]:
        raise InputSpecError(
            f"labelled and unlabelled images differ in shape: {images.shape[1:]} vs "
            f"{unlabelled.shape[1:]}"
        )
    for name, value in (
        ("labelled_per_batch", labelled_per_batch),
        ("unlabelled_per_batch", unlabelled_per_batch),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputSpecError(f"{name} must be a positive integer, got {value!r}")
    if len(unlabelled) < unlabelled_per_batch:
        raise InputSpecError(
            f"{len(unlabelled)} unlabelled images do not fill one batch of "
            f"unlabelled_per_batch={unlabelled_per_batch}"
        )
    steps = max(1, len(unlabelled) // unlabelled_per_batch)
    labelled = (
        tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
        .repeat()
        .shuffle(len(labels), seed=seed)
        .batch(labelled_per_batch)
    )
    pool = (
        tf.data.Dataset.from_tensor_slices(unlabelled)
        .shuffle(len(unlabelled), seed=seed, reshuffle_each_iteration=True)
        .batch(unlabelled_per_batch, drop_remainder=True)
    )

    def concatenate(labelled_batch, unlabelled_batch):
        x, y = labelled_batch
        missing = tf.fill(tf.shape(unlabelled_batch)[:1], tf.constant(UNLABELLED, tf.int32))
        return tf.concat([x, unlabelled_batch], 0), tf.concat([y, missing], 0)

    mixed = tf.data.Dataset.zip((labelled, pool)).map(concatenate).take(steps)
    return SemiSupervisedBatches(mixed=mixed, labelled=labelled.take(steps), steps=steps)
