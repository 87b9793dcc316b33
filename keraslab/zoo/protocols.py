"""Train, evaluate, export and verify a zoo entry by name, with the protocol of its task.

These are what ``keraslab train|evaluate|export`` run; a lab, a benchmark or a user calling
them gets the same runs, metrics and exports.

>>> run = keraslab.zoo.train("lenet", dataset="fashion_mnist_sample", epochs=1, out_dir="r")
>>> keraslab.zoo.evaluate("lenet", run.network, dataset="fashion_mnist_sample")
>>> path = keraslab.zoo.export("lenet", run.network, "savedmodels", dataset="fashion_mnist")
>>> keraslab.zoo.verify_export("lenet", path, run.network, dataset="fashion_mnist").summary
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras

from keraslab.zoo.registry import build, get
from keraslab.zoo.task import TrainedRun, TrainOptions, VerifiedExport

__all__ = ["evaluate", "export", "train", "verify_export"]


def train(name: str, **options: Any) -> TrainedRun:
    """Train a fresh ``name`` with its recipe and record the test metrics in its ``run.json``.

    Args:
        name: the zoo entry.
        **options: the fields of :class:`~keraslab.zoo.task.TrainOptions` (dataset, out_dir,
            seed, recipe overrides, …); those that do not apply to the entry's task are refused.

    Raises:
        ValueError: an option that does not apply, or a bad override.
    """
    entry = get(name)
    opts = TrainOptions(**options)
    dataset = opts.dataset or entry.dataset
    return entry.task.train(name, entry.recipe, lambda: build(name, dataset=dataset), dataset, opts)


def evaluate(
    name: str,
    model: keras.Model,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    robustness: bool = False,
) -> dict[str, Any]:
    """The metrics ``keraslab evaluate`` reports for ``model``, an instance of entry ``name``,
    on ``dataset``'s test set (default the entry's); see :mod:`keraslab.evaluation`."""
    entry = get(name)
    return entry.task.evaluate(
        model, dataset or entry.dataset, data_dir=data_dir, robustness=robustness
    )


def export(
    name: str,
    model: keras.Model,
    base_dir: str | os.PathLike,
    *,
    dataset: str | None = None,
    export_name: str | None = None,
    version: int | None = None,
    test: dict[str, Any] | None = None,
) -> Path:
    """Export ``model`` (entry ``name``) as ``base_dir/EXPORT_NAME/VERSION`` for TF Serving.

    Args:
        dataset: whose preprocessing and class names (sparse coder: whose dictionary) the
            export carries; default the entry's.
        export_name: the directory name (default ``name``).
        version: default the next free one; an existing version is never overwritten.
        test: test metrics stored in the export's ``keraslab.json``.
    """
    entry = get(name)
    return entry.task.export(
        name,
        model,
        base_dir,
        dataset=dataset or entry.dataset,
        export_name=export_name,
        version=version,
        test=test,
    )


def verify_export(
    name: str,
    path: str | os.PathLike,
    model: keras.Model,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
) -> VerifiedExport:
    """Reload an export of :func:`export` in a TensorFlow-only process and check every
    signature against ``model`` (:mod:`keraslab.export.verify`).

    Raises:
        ExportVerificationError: naming the first mismatch.
    """
    entry = get(name)
    return entry.task.verify_export(
        path, model, dataset=dataset or entry.dataset, data_dir=data_dir
    )
