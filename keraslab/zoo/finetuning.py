"""Fine-tune a shipped zoo classifier on a user's own labelled images, and export the result
under its new name.

:func:`finetune` loads the base entry's shipped weights, rebuilds the same architecture with a
new classifier head for the new classes (every weight but the head's copied), reads the images
at the base's input size and channel count, normalized with the *base's* dataset statistics
(:mod:`keraslab.data.folders`), and runs the two-phase transfer recipe of
:mod:`keraslab.training.transfer` (head only, then optionally everything but BatchNormalization
with a 10× lower learning rate).

The run directory ``OUT`` holds ``head/`` and ``full/`` (one :func:`keraslab.training.fit` run
per phase: history, TensorBoard, checkpoints, resume), the final weights in
``checkpoints/last.weights.h5`` and ``run.json``, which records what was fine-tuned from
(``finetuned_from``: base name, base version and dataset from the manifest), the data (folder,
file count, SHA-256 of the sorted relative file list), the class names and the validation
metrics.

:func:`export_finetuned` rebuilds that network from ``run.json``, exports it (raw-pixel
signatures with the base's preprocessing, the run's class names, the base's model-specific
signatures — i-RevNet's ``features``/``inverse`` still hold, since only the head changed),
verifies it in a TensorFlow-only process and records it in ``BASE_DIR/manifest.json`` under
``"finetuned"``. The default base dir is ``exports/`` (:data:`FINETUNED_EXPORTS`): the shipped
``savedmodels/`` is written only when it is named.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from keraslab import data, export, training
from keraslab.errors import DatasetNotFoundError, KeraslabError
from keraslab.evaluation import evaluate_classifier
from keraslab.files import atomic_path, atomic_write_text
from keraslab.zoo.classification import CLASSIFICATION
from keraslab.zoo.registry import build, get
from keraslab.zoo.shipped import (
    MANIFEST,
    WEIGHTS_FILE,
    load,
    load_weights,
    manifest,
    savedmodels_dir,
)
from keraslab.zoo.signatures import serving_signatures
from keraslab.zoo.task import VerifiedExport, run_weights

__all__ = [
    "FINETUNED_EXPORTS",
    "FineTunedRun",
    "export_finetuned",
    "finetune",
    "finetuned_run",
    "load_finetuned",
]

#: Where :func:`export_finetuned` writes unless told otherwise (never the shipped models).
FINETUNED_EXPORTS = "exports"

#: How much lower phase 2's learning rate is than phase 1's (the Keras guide's 1e-5 after a
#: head trained at 1e-3 is 100×; 10× lets a few epochs on a small folder still move).
FINE_TUNE_LR_FACTOR = 0.1


@dataclasses.dataclass(frozen=True)
class FineTunedRun:
    """What :func:`finetune` returns.

    Attributes:
        name: the fine-tuned model's name.
        base: the zoo entry it started from.
        network: the fine-tuned network (normalized images → logits over ``class_names``).
        class_names: label k's name.
        out_dir: the run directory.
        metrics: validation metrics (empty without a validation split).
        summary: one line for the CLI.
    """

    name: str
    base: str
    network: keras.Model
    class_names: tuple[str, ...]
    out_dir: Path
    metrics: dict[str, Any]
    summary: str

    @property
    def weights(self) -> Path:
        return run_weights(self.out_dir)


def _check_classifier(base: str) -> Any:
    entry = get(base)
    if not entry.task.classifies_images:
        raise ValueError(f"{base} is a sparse coder; only image classifiers can be fine-tuned")
    return entry


def _base_record(base: str, directory: str | os.PathLike | None) -> dict[str, Any]:
    record = manifest(directory).get("models", {}).get(base)
    if record is None:
        raise DatasetNotFoundError(
            f"zoo model {base!r} is not shipped in {directory or savedmodels_dir()}; fine-tuning "
            f"starts from shipped weights: train and export it first (`keraslab train {base}`)"
        )
    return record


def _images(
    images: Any,
    spec: data.DatasetSpec,
    *,
    validation_split: float,
    seed: int,
    batch_size: int,
    augment: bool,
) -> data.LabelledImages:
    if isinstance(images, data.LabelledImages):
        return images
    if isinstance(images, tuple) and len(images) == 2:
        return data.labelled_arrays(
            images[0],
            images[1],
            spec,
            validation_split=validation_split,
            seed=seed,
            batch_size=batch_size,
            augment=augment,
        )
    if isinstance(images, (str, os.PathLike)):
        return data.image_folder(
            images,
            spec,
            validation_split=validation_split,
            seed=seed,
            batch_size=batch_size,
            augment=augment,
        )
    raise TypeError(
        "images must be a folder path, an (images, labels) pair of arrays, or "
        "keraslab.data.LabelledImages (from data.labelled_dataset for a tf.data.Dataset)"
    )


def finetune(
    base: str,
    *,
    images: Any,
    name: str,
    out_dir: str | os.PathLike,
    epochs: int = 0,
    freeze_epochs: int = 5,
    learning_rate: float = 1e-3,
    fine_tune_learning_rate: float | None = None,
    batch_size: int = 32,
    validation_split: float = 0.2,
    augment: bool = False,
    penalties: Sequence[str] = (),
    seed: int = 0,
    overwrite: bool = False,
    base_dir: str | os.PathLike | None = None,
    command: str | None = None,
    verbose: int | str = "auto",
) -> FineTunedRun:
    """Fine-tune shipped zoo classifier ``base`` on new labelled images, as ``name``.

    Args:
        base: a zoo image classifier with shipped weights (``lenet``, ``irevnet_mnist``, …).
        images: a folder with one subfolder per class, an ``(images, labels)`` pair of raw
            pixel arrays, or :class:`keraslab.data.LabelledImages` (e.g. from
            :func:`keraslab.data.labelled_dataset` for a ``tf.data.Dataset``).
        name: the fine-tuned model's name (its export directory); not a zoo entry's.
        out_dir: the run directory.
        epochs: phase 2 epochs, everything but BatchNormalization trainable (0: head only).
        freeze_epochs: phase 1 epochs, only the new head trainable (≥ 1).
        learning_rate: phase 1's Adam learning rate.
        fine_tune_learning_rate: phase 2's (default ``learning_rate`` × 0.1).
        batch_size: images per batch.
        validation_split: fraction of a folder or arrays held out (Keras's seeded split);
            validation metrics go in ``run.json``.
        augment: the base dataset's standard augmentation during training.
        penalties: ``NAME:WEIGHT[:OPT=VAL]`` specs (``--penalty``), in both phases.
        seed: seeds the head's initial weights, the split, shuffling and augmentation.
        overwrite: replace a finished run in ``out_dir``.
        base_dir: where the base is shipped (default :func:`~keraslab.zoo.savedmodels_dir`).
        command: the command line recorded in ``run.json``.
        verbose: Keras's progress display.

    Raises:
        UnknownNameError: ``base`` is not a zoo entry.
        ValueError: ``base`` is a sparse coder, ``name`` is a zoo entry, bad epochs.
        DatasetNotFoundError: ``base`` is not shipped, or the image folder is missing.
        InputSpecError, CorruptDataError: see :func:`keraslab.data.image_folder`.
        KeraslabError: ``out_dir`` holds a finished run and ``overwrite`` is false.
    """
    entry = _check_classifier(base)
    if name in {e.name for e in _entries()}:
        raise ValueError(
            f"{name!r} is a zoo entry; give the fine-tuned model a new name (e.g. {name}_mine)"
        )
    if "/" in name or not name or name.startswith("."):
        raise ValueError(f"name {name!r} must be a plain directory name")
    if freeze_epochs < 1 or epochs < 0:
        raise ValueError(
            f"freeze_epochs must be >= 1 and epochs >= 0, got {freeze_epochs} and {epochs}"
        )
    out = Path(out_dir)
    if (out / "run.json").exists() and not overwrite:
        raise KeraslabError(
            f"{out} already holds a finished fine-tuning run (run.json); choose another output "
            "directory or pass overwrite=True (--overwrite) to replace it"
        )
    record = _base_record(base, base_dir)
    base_dataset = record.get("dataset", entry.dataset)
    spec = data.get_spec(base_dataset)
    labelled = _images(
        images,
        spec,
        validation_split=validation_split,
        seed=seed,
        batch_size=batch_size,
        augment=augment,
    )
    base_model = load(base, directory=base_dir)
    keras.utils.set_random_seed(seed)  # seeds the new head's initial weights
    network = build(base, dataset=base_dataset, num_classes=labelled.num_classes)
    training.copy_backbone_weights(base_model, network)
    head_recipe = training.Recipe(
        epochs=freeze_epochs,
        batch_size=batch_size,
        optimizer="adam",
        learning_rate=learning_rate,
        augment=augment,
        penalties=tuple(penalties),
    )
    full_recipe = (
        head_recipe.replace(
            epochs=epochs,
            learning_rate=fine_tune_learning_rate or learning_rate * FINE_TUNE_LR_FACTOR,
        )
        if epochs
        else None
    )
    if overwrite:
        (out / "run.json").unlink(missing_ok=True)
    finetuned_from = {
        "base": base,
        "base_version": record.get("version"),
        "base_dataset": base_dataset,
        "base_test_accuracy": record.get("metrics", {}).get("test_accuracy"),
    }
    info = {"finetune_name": name, "finetuned_from": finetuned_from, "data": labelled.source}
    phases = training.two_phase_finetune(
        network,
        labelled.train,
        head_recipe=head_recipe,
        full_recipe=full_recipe,
        out_dir=out,
        validation_data=labelled.validation,
        overwrite=overwrite,
        verbose=verbose,
        extra_run_info=info,
    )
    metrics: dict[str, Any] = {}
    if labelled.validation is not None:
        # The test protocol on the held-out split (its keys renamed: it is no test set).
        measured = evaluate_classifier(network, labelled.validation)
        metrics = {
            "validation_accuracy": measured["test_accuracy"],
            "validation_loss": measured["test_loss"],
            "validation_examples": labelled.validation_count,
        }
    phase_runs = {
        "head": json.loads((phases.head_dir / "run.json").read_text()),
        **(
            {"full": json.loads((phases.full_dir / "run.json").read_text())}
            if phases.full_dir is not None
            else {}
        ),
    }
    run = {
        **info,
        "class_names": list(labelled.class_names),
        "network": network.name,
        "parameters": int(network.count_params()),
        "recipe": {"head": head_recipe.to_dict(), "full": full_recipe and full_recipe.to_dict()},
        "epochs": {"head": freeze_epochs, "full": epochs},
        "wall_time_s": round(sum(r["wall_time_s"] for r in phase_runs.values()), 2),
        "machine": phase_runs["head"]["machine"],
        "validation": metrics,
        "train_examples": labelled.train_count,
        "phases": {k: str(Path(k)) for k in phase_runs},
        "weights": str(phases.weights.relative_to(out)),
        "command": command,
        "seed": seed,
    }
    atomic_write_text(out / "run.json", json.dumps(run, indent=1))
    accuracy = (
        f"validation accuracy {metrics['validation_accuracy']:.2%}" if metrics else "no validation"
    )
    summary = (
        f"{accuracy} on {labelled.num_classes} classes after {freeze_epochs} head + {epochs} "
        f"fine-tuning epochs in {run['wall_time_s']:.0f} s"
    )
    return FineTunedRun(name, base, network, labelled.class_names, out, metrics, summary)


def _entries() -> list[Any]:
    from keraslab.zoo.registry import list as zoo_list

    return zoo_list()


def finetuned_run(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The ``run.json`` of a finished :func:`finetune` run, or ``None`` when ``run_dir`` is
    not one (e.g. a ``keraslab train`` run)."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return None
    run = json.loads(path.read_text())
    return run if "finetuned_from" in run else None


def _rebuild(run: dict[str, Any], run_dir: str | os.PathLike) -> keras.Model:
    source = run["finetuned_from"]
    network = build(
        source["base"], dataset=source["base_dataset"], num_classes=len(run["class_names"])
    )
    return load_weights(network, Path(run_dir) / run["weights"])


def export_finetuned(
    run_dir: str | os.PathLike,
    base_dir: str | os.PathLike = FINETUNED_EXPORTS,
    *,
    name: str | None = None,
    version: int | None = None,
    verify: bool = True,
    command: str | None = None,
) -> tuple[Path, VerifiedExport | None]:
    """Export a finished :func:`finetune` run as ``base_dir/NAME/VERSION`` for TF Serving.

    The export carries the run's class names and the base's preprocessing and signatures; the
    weights are copied beside the versions (``base_dir/NAME/keras.weights.h5``,
    :func:`load_finetuned`), and ``base_dir/manifest.json``'s ``"finetuned"`` section records
    it with its provenance (``models.config`` is rewritten).

    Args:
        run_dir: the fine-tuning run.
        base_dir: default ``exports/``; the shipped ``savedmodels/`` only when named.
        name: default the run's ``finetune_name``.
        version: default the next free one (an existing version is never overwritten).
        verify: reload in a TensorFlow-only process and compare with Keras.
        command: recorded as the export command.

    Raises:
        ValueError: ``run_dir`` is not a finished fine-tuning run.
        ExportVerificationError: the export differs from the Keras model.
    """
    run = finetuned_run(run_dir)
    if run is None:
        raise ValueError(
            f"{run_dir} is not a finished `keraslab finetune` run (no run.json with "
            "finetuned_from); finish it by running the same finetune command again"
        )
    name = name or run["finetune_name"]
    source = run["finetuned_from"]
    model = _rebuild(run, run_dir)
    spec = data.get_spec(source["base_dataset"])
    preprocessing = export.Preprocessing(spec.mean, spec.std)
    path = export.saved_model(
        model,
        base_dir,
        name,
        version,
        preprocessing=preprocessing,
        extra_signatures=serving_signatures(model, preprocessing),
        class_names=run["class_names"],
        metadata={
            "finetune_name": name,
            "finetuned_from": source,
            "data": run["data"],
            "validation": run["validation"],
        },
    )
    verified = None
    if verify:
        verified = CLASSIFICATION.verify_export(path, model, dataset=source["base_dataset"])
    base = Path(base_dir)
    weights = path.parent / WEIGHTS_FILE
    with atomic_path(weights) as tmp:
        shutil.copyfile(Path(run_dir) / run["weights"], tmp)
    record = {
        "finetuned_from": source,
        "class_names": run["class_names"],
        "data": run["data"],
        "version": int(path.name),
        "savedmodel": str(path.relative_to(base)),
        "weights": str(weights.relative_to(base)),
        "signatures": sorted(verified.report.signatures) if verified else None,
        "metrics": run["validation"],
        "epochs": run["epochs"],
        "recipe": run["recipe"],
        "wall_time_s": run["wall_time_s"],
        "parameters": run["parameters"],
        "seed": run.get("seed"),
        "machine": run["machine"],
        "finetune_command": run.get("command"),
        "export_command": command,
    }
    contents = manifest(base)
    contents.setdefault("finetuned", {})[name] = record
    contents["finetuned"] = dict(sorted(contents["finetuned"].items()))
    atomic_write_text(base / MANIFEST, json.dumps(contents, indent=1) + "\n")
    export.write_models_config(base)
    return path, verified


def load_finetuned(name: str, base_dir: str | os.PathLike = FINETUNED_EXPORTS) -> keras.Model:
    """A fine-tuned model exported by :func:`export_finetuned`, with its weights, from its
    ``manifest.json`` record (its class names are ``record["class_names"]``).

    Raises:
        DatasetNotFoundError: no such fine-tuned export in ``base_dir``.
    """
    record = manifest(base_dir).get("finetuned", {}).get(name)
    if record is None:
        raise DatasetNotFoundError(
            f"no fine-tuned model {name!r} in {Path(base_dir) / MANIFEST}; export it with "
            f"`keraslab export {name} --run RUN --base-dir {base_dir}`"
        )
    source = record["finetuned_from"]
    network = build(
        source["base"], dataset=source["base_dataset"], num_classes=len(record["class_names"])
    )
    return load_weights(network, Path(base_dir) / record["weights"])
