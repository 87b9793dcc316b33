"""Class-balanced subsets of a labelled split: the few-labels setting of regularization and
semi-supervised experiments.

A subset of ``count`` images takes ``⌊count / K⌋`` of each of the ``K`` classes and one more of
each of the first ``count mod K`` classes, drawn uniformly without replacement by a seeded
``numpy.random.Generator``: the same seed gives the same indices on every machine.
"""

from __future__ import annotations

import numpy as np

from keraslab.errors import InputSpecError

__all__ = ["balanced_subset"]


def balanced_subset(
    labels: np.ndarray,
    count: int,
    *,
    seed: int,
    num_classes: int | None = None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of ``count`` examples, as many of each class as possible, drawn at random.

    Class ``c`` gets ``count // K + (c < count % K)`` examples (``K = num_classes``); a class
    with fewer available examples gives all it has, so the result can be shorter than
    ``count``. The indices are grouped by class (class 0's first); shuffle downstream.

    Args:
        labels: integer labels ``(N,)`` of the split, ``0 … K − 1``.
        count: how many examples to draw.
        seed: seed of the draw (``numpy.random.default_rng``).
        num_classes: ``K``; default ``labels.max() + 1``.
        exclude: indices that may not be drawn (e.g. the labelled subset, when drawing the
            unlabelled pool of a semi-supervised run).

    Returns:
        An ``int64`` index array into ``labels``.

    Raises:
        InputSpecError: ``labels`` is not a 1-D integer array, ``count`` is negative, or
            ``exclude`` holds an index outside ``labels``.

    Example:
        >>> train = keraslab.data.load_arrays("fashion_mnist_sample", "train")
        >>> few = balanced_subset(train.labels, 50, seed=0)           # 5 per class
        >>> pool = balanced_subset(train.labels, 2000, seed=1, exclude=few)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InputSpecError(
            f"labels must be a 1-D integer array, got shape {labels.shape} and dtype {labels.dtype}"
        )
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise InputSpecError(f"count must be a non-negative integer, got {count!r}")
    classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    rng = np.random.default_rng(seed)
    available = np.ones(len(labels), bool)
    if exclude is not None:
        exclude = np.asarray(exclude, np.int64)
        if exclude.size and (exclude.min() < 0 or exclude.max() >= len(labels)):
            raise InputSpecError(
                f"exclude holds indices outside 0 … {len(labels) - 1} "
                f"(min {exclude.min()}, max {exclude.max()})"
            )
        available[exclude] = False
    per_class = [rng.permutation(np.flatnonzero(available & (labels == c))) for c in range(classes)]
    take = [count // classes + (c < count % classes) for c in range(classes)]
    return np.concatenate([p[:k] for p, k in zip(per_class, take, strict=True)]).astype(np.int64)
