"""Shipping a trained run as a zoo model, and adding metrics measured later to its record.

A shipped model is its SavedModel version (``<base>/<name>/<version>/``), its Keras weights
beside the versions (``<base>/<name>/keras.weights.h5``, what :func:`~keraslab.zoo.load`
uses), its record in ``<base>/manifest.json`` (the measured metrics and the commands that
reproduce them) and the TF Serving ``models.config`` listing every export in ``<base>``.
Every file is written atomically (temporary sibling + rename).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from keraslab.export import write_models_config
from keraslab.files import atomic_path
from keraslab.zoo.registry import get
from keraslab.zoo.shipped import WEIGHTS_FILE, manifest, savedmodels_dir, update_manifest
from keraslab.zoo.task import run_weights

__all__ = ["RecordedMetrics", "check_recordable", "finished_run", "publish", "record_metrics"]

#: How far a re-measured headline metric may be from the recorded one before the shipped
#: weights and the manifest are taken to disagree.
RECORD_TOLERANCE = 1e-4


def finished_run(run_dir: str | os.PathLike, name: str) -> dict[str, Any]:
    """The ``run.json`` of a finished ``keraslab train NAME`` run that may be shipped.

    Raises:
        ValueError: the run trained another entry, has no test metrics yet, or used a
            ``limit`` (its test metrics are not on the whole test set).
        OSError: there is no ``run.json``.
    """
    run = json.loads((Path(run_dir) / "run.json").read_text())
    if run.get("zoo_name") != name or "test" not in run:
        raise ValueError(
            f"{run_dir} is not a finished `keraslab train {name}` run "
            f"(it trained {run.get('zoo_name')!r}; test metrics recorded: {'test' in run})"
        )
    if run.get("limit"):
        raise ValueError(
            f"{run_dir} used --limit {run['limit']}: its test accuracy is not on the whole "
            "test set, so it is not shipped; train without --limit"
        )
    return run


def publish(
    name: str,
    run: dict[str, Any],
    savedmodel: str | os.PathLike,
    *,
    run_dir: str | os.PathLike,
    signatures: Iterable[str] | None,
    export_command: str,
    note: str | None = None,
) -> Path:
    """Ship a finished run, exported to ``savedmodel`` (``<base>/<name>/<version>``), as zoo
    model ``name``: copy the run's last weights to ``<base>/<name>/keras.weights.h5``, set its
    manifest record and rewrite ``<base>/models.config``.

    Args:
        name: the zoo entry.
        run: the run's ``run.json`` (:func:`finished_run`).
        savedmodel: the exported version directory.
        run_dir: the run directory, whose ``checkpoints/last.weights.h5`` is shipped.
        signatures: the export's verified signatures (``None``: not verified).
        export_command: the command that exported it, recorded next to ``run["command"]``.
        note: a remark stored in the record.

    Returns:
        The manifest's path.
    """
    savedmodel = Path(savedmodel)
    base = savedmodel.parent.parent
    weights = savedmodel.parent / WEIGHTS_FILE
    with atomic_path(weights) as tmp:
        shutil.copyfile(run_weights(run_dir), tmp)
    record = {
        "dataset": run["dataset"],
        "version": int(savedmodel.name),
        "savedmodel": str(savedmodel.relative_to(base)),
        "weights": str(weights.relative_to(base)),
        "signatures": sorted(signatures) if signatures is not None else None,
        "metrics": run["test"],
        "epochs": run["recipe"].get("epochs"),
        "wall_time_s": run["wall_time_s"],
        "parameters": run["parameters"],
        "recipe": run["recipe"],
        "seed": run.get("seed"),
        "machine": run["machine"],
        "train_command": run["command"],
        "export_command": export_command,
    }
    if note:
        record["note"] = note
    path = update_manifest(name, record, directory=base)
    write_models_config(base)
    return path


def check_recordable(
    name: str,
    dataset: str,
    *,
    weights: str | os.PathLike | None = None,
    directory: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The manifest record that metrics of ``name`` measured on ``dataset`` may be added to.

    Only the shipped weights of a classifier, on the dataset they were measured on, may add
    metrics to their record (a sparse coder's record comes from its export). Call it before
    the evaluation, so a refusal comes before minutes of work.

    Args:
        weights: the weights file to be evaluated instead of the shipped ones (refused).
        directory: the shipped models' directory (default :func:`savedmodels_dir`).

    Raises:
        ValueError: ``cannot --record: …``, saying why.
    """
    entry = get(name)
    record = manifest(directory).get("models", {}).get(name)
    if not entry.task.classifies_images:
        problem = f"{name} is a sparse coder; its record comes from `keraslab export`"
    elif weights:
        problem = "--record measures the shipped weights: drop --weights"
    elif record is None:
        problem = f"no {name} is shipped in {directory or savedmodels_dir()}"
    elif record["dataset"] != dataset:
        problem = f"the shipped {name} was measured on {record['dataset']}, not {dataset}"
    else:
        return record
    raise ValueError(f"cannot --record: {problem}")


@dataclasses.dataclass(frozen=True)
class RecordedMetrics:
    """What :func:`record_metrics` did: the metric names added (empty: nothing new) and the
    manifest written (``None`` when nothing was)."""

    names: list[str]
    manifest: Path | None


def record_metrics(
    name: str,
    metrics: dict[str, Any],
    record: dict[str, Any],
    *,
    command: str,
    directory: str | os.PathLike | None = None,
) -> RecordedMetrics:
    """Add the metrics not yet in ``record`` (from :func:`check_recordable`) to the manifest.

    What was recorded stays as it was; the record also gets ``evaluate_command``. Nothing new:
    nothing is written (not even the command).

    Raises:
        ValueError: the headline metric (``entry.task.metric``) differs from the recorded one
            by more than :data:`RECORD_TOLERANCE` (the weights and the manifest disagree), or
            the record changed since ``record`` was read (evaluation takes minutes).
    """
    key = get(name).task.metric
    shipped = record["metrics"][key]
    if abs(metrics[key] - shipped) > RECORD_TOLERANCE:
        raise ValueError(
            f"the shipped {name} now scores {metrics[key]:.4f}, its record "
            f"says {shipped:.4f}: the weights and the manifest disagree; nothing recorded"
        )
    new = {k: v for k, v in metrics.items() if k not in record["metrics"]}
    if not new:
        return RecordedMetrics([], None)
    current = manifest(directory).get("models", {}).get(name)
    if current != record:
        raise ValueError(
            f"the manifest record of {name} changed while it was being evaluated; "
            "run the command again"
        )
    updated = {**record, "metrics": {**record["metrics"], **new}, "evaluate_command": command}
    return RecordedMetrics(list(new), update_manifest(name, updated, directory=directory))
