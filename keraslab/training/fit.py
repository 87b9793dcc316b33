"""``fit``: train a network with a recipe, penalties and the default callbacks.

This is the function the CLI, the zoo recipes and the labs call. It wires
:class:`~keraslab.training.step.TrainingModel`, :func:`~keraslab.training.recipes.build_optimizer`
and :func:`~keraslab.training.callbacks.default_callbacks` together, optionally under a
``tf.distribute`` strategy, and writes ``run.json`` (recipe, timings, final metrics) when done.

The loss is the classifiers' sparse categorical cross-entropy unless ``loss=`` says otherwise:
e.g. the masked cross-entropy of semi-supervised training, or one loss per output of a network
with several (lab 04's per-layer code error of a LISTA network). Either way it runs in the one
``TrainingModel`` step, with the same penalties, optimizer and callbacks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from keraslab.errors import KeraslabError, TrainingDivergedError
from keraslab.files import atomic_write_text
from keraslab.training.callbacks import StopOnNaN, default_callbacks
from keraslab.training.penalties import parse_penalty
from keraslab.training.penalty import Penalty
from keraslab.training.precompute import check_precompute_allowed, precompute, split_at
from keraslab.training.recipes import Recipe, build_optimizer
from keraslab.training.step import TrainingModel


@dataclasses.dataclass
class TrainResult:
    """What :func:`fit` returns.

    Attributes:
        network: the trained network (the plain model to evaluate and export).
        model: the :class:`TrainingModel` wrapper that was fitted.
        history: per-epoch metrics, ``{name: [value per epoch]}`` (this call's epochs only).
        wall_time_s: wall-clock seconds spent in ``model.fit``.
        out_dir: where logs and checkpoints went (``None`` if none were written).
    """

    network: keras.Model
    model: TrainingModel
    history: dict[str, list[float]]
    wall_time_s: float
    out_dir: Path | None


def machine_description() -> dict[str, Any]:
    """Where a result was measured: CPU, core count, devices and library versions."""
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpus": [g.name for g in gpus],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def _steps(dataset: Any) -> int:
    n = int(tf.data.experimental.cardinality(dataset))
    if n < 1:
        raise ValueError(
            "the training dataset must be finite with a known number of batches "
            "(do not .repeat() it; keraslab.data.load returns such a dataset)"
        )
    return n


def fit(
    network: keras.Model | Callable[[], keras.Model],
    train_data: tf.data.Dataset,
    *,
    recipe: Recipe,
    validation_data: tf.data.Dataset | None = None,
    out_dir: str | os.PathLike | None = None,
    penalties: Sequence[Penalty] = (),
    strategy: tf.distribute.Strategy | None = None,
    jit_compile: bool | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    tensorboard: bool = True,
    overwrite: bool = False,
    verbose: int | str = "auto",
    extra_run_info: dict[str, Any] | None = None,
    loss: Any = None,
    loss_weights: Any = None,
    metrics: Sequence[Any] | None = None,
) -> TrainResult:
    """Train ``network`` on batches of ``(image, label)`` with sparse categorical cross-entropy
    (or ``loss``).

    Args:
        network: the model, or a zero-argument builder. Under a ``strategy`` pass a builder (or
            a model built inside ``strategy.scope()``) so its variables are mirrored.
        train_data: batched, finite ``tf.data.Dataset`` (batch size is the dataset's; the
            recipe's ``batch_size`` is what ``keraslab.data.load`` should have been given).
        recipe: optimizer, schedule and epochs.
        validation_data: evaluated after each epoch; the best checkpoint tracks its accuracy.
        out_dir: logs, checkpoints and ``run.json`` go here; rerunning the same call after an
            interruption resumes from the last completed epoch. ``None``: keep nothing on disk.
        penalties: training-only penalties added to the loss, after the recipe's own
            (``recipe.penalties``).
        strategy: a ``tf.distribute`` strategy (``MirroredStrategy`` etc.).
        jit_compile: passed to ``Model.compile`` (XLA).
        callbacks: extra callbacks after the default ones.
        tensorboard: write TensorBoard logs under ``out_dir/tensorboard``.
        overwrite: allow training into an ``out_dir`` that holds a finished run: its run files
            (``run.json``, history, checkpoints, TensorBoard logs) are removed first and a new
            run starts. Without it that raises, so no result is lost by accident. An
            *unfinished* run in ``out_dir`` is always resumed, never overwritten.
        verbose: Keras's progress display (1 = progress bar).
        extra_run_info: merged into ``run.json`` (e.g. the dataset and its source).
        loss: what ``Model.compile`` takes as ``loss`` (a ``keras.losses.Loss``, a function
            ``(y_true, y_pred) → per-example loss``, or one per output); ``None``: the default,
            sparse categorical cross-entropy on logits, with the recipe's label smoothing.
            Its name (or its names) goes into ``run.json``.
        loss_weights: ``Model.compile``'s ``loss_weights`` (e.g. α of
            :func:`~keraslab.training.semi_supervised`).
        metrics: ``Model.compile``'s metrics; ``None``: accuracy with the default loss, none
            with a custom one (whose targets need not be class labels).

    Raises:
        TrainingDivergedError: the loss became NaN or infinite.
        KeraslabError: ``out_dir`` holds a finished run and ``overwrite`` is false, or an
            unfinished run of a different model or recipe.
        ValueError: a custom ``loss`` with ``recipe.label_smoothing`` (which only the default
            loss applies).
    """
    if loss is not None and recipe.label_smoothing:
        raise ValueError(
            f"recipe.label_smoothing={recipe.label_smoothing} applies to the default "
            "cross-entropy only; smooth the labels in the custom loss, or drop one of them"
        )
    loss_names = _loss_names(loss) if loss is not None else None
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and (out / "run.json").exists():
        if not overwrite:
            raise KeraslabError(
                f"{out} already holds a finished run (run.json); choose another output "
                "directory or pass overwrite=True (--overwrite) to replace it"
            )
        _remove_run_files(out)
    penalties = [*(parse_penalty(spec) for spec in recipe.penalties), *penalties]
    steps_per_epoch = _steps(train_data)

    def scope() -> contextlib.AbstractContextManager:
        # A strategy's scope is a one-shot context manager: make a fresh one per `with`.
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    with scope():
        net = network() if callable(network) and not isinstance(network, keras.Model) else network
        if out is not None:
            _check_or_write_run_config(out, net, recipe, penalties, steps_per_epoch, loss_names)
        trained, train_batches, validation_batches = net, train_data, validation_data
        if recipe.precompute is not None:
            check_precompute_allowed(recipe.augment, penalties)
            front, trained = split_at(net, recipe.precompute)
    precompute_time = None
    if recipe.precompute is not None:
        # Always through XLA: the front end is fixed, and compiled it runs ~2× faster on CPU.
        start = time.perf_counter()
        show = verbose != 0
        train_batches = precompute(
            front,
            train_data,
            shuffle=True,
            progress=show,
            description=f"{recipe.precompute} (train)",
        )
        if validation_data is not None:
            validation_batches = precompute(
                front,
                validation_data,
                shuffle=False,
                progress=show,
                description=f"{recipe.precompute} (validation)",
            )
        precompute_time = round(time.perf_counter() - start, 2)
    with scope():
        model = TrainingModel(trained, penalties)
        if loss is None:
            loss = (
                _smoothed_loss(recipe.label_smoothing)
                if recipe.label_smoothing
                else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            )
            if metrics is None:
                metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        model.compile(
            optimizer=build_optimizer(recipe, steps_per_epoch),
            loss=loss,
            loss_weights=loss_weights,
            metrics=list(metrics or []),
            jit_compile=jit_compile,
        )
    all_callbacks: list[keras.callbacks.Callback]
    if out is not None:
        all_callbacks = default_callbacks(out, network=net, tensorboard=tensorboard)
    else:
        all_callbacks = [StopOnNaN()]
    all_callbacks += list(callbacks)
    start = time.perf_counter()
    history = model.fit(
        train_batches,
        validation_data=validation_batches,
        epochs=recipe.epochs,
        callbacks=all_callbacks,
        verbose=verbose,
        shuffle=False,  # keraslab.data shuffles inside the tf.data pipeline
    )
    wall = time.perf_counter() - start
    nan_guard = next(c for c in all_callbacks if isinstance(c, StopOnNaN))
    if nan_guard.diverged_at is not None:
        where = nan_guard.diverged_at
        raise TrainingDivergedError(
            f"training diverged: the loss became {where['loss']} at epoch {where['epoch']}, "
            f"batch {where['batch']}. Lower the learning rate (now {recipe.learning_rate}), "
            "or check the inputs for NaN/inf values"
        )
    record = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if out is not None:
        epochs = json.loads((out / "history.json").read_text())
        run = {
            "recipe": recipe.to_dict(),
            "penalties": [dict(type=type(p).__name__, **p.get_config()) for p in penalties],
            "network": net.name,
            "parameters": int(net.count_params()),
            "steps_per_epoch": steps_per_epoch,
            "epochs_completed": len(epochs),
            # Summed over every session of a resumed run; fit/eval time of the epochs only.
            "wall_time_s": round(sum(e["epoch_time_s"] for e in epochs), 2),
            "final": {k: v for k, v in epochs[-1].items() if k not in ("epoch", "epoch_time_s")}
            if epochs
            else {},
            "machine": machine_description(),
            "replicas": strategy.num_replicas_in_sync if strategy is not None else 1,
        }
        if precompute_time is not None:
            run["precompute_time_s"] = precompute_time
        if loss_names is not None:
            run["loss"] = loss_names
            run["loss_weights"] = loss_weights
        run.update(extra_run_info or {})
        atomic_write_text(out / "run.json", json.dumps(run, indent=1))
    return TrainResult(net, model, record, wall, out)


def record_run_info(out_dir: str | os.PathLike, **info: Any) -> dict[str, Any]:
    """Merge ``info`` into a finished run's ``run.json`` (atomically) and return the result;
    used to add measurements made after training, such as the test metrics."""
    path = Path(out_dir) / "run.json"
    run = json.loads(path.read_text())
    run.update(info)
    atomic_write_text(path, json.dumps(run, indent=1))
    return run


_RUN_FILES = ("run.json", "run_config.json", "history.json", "history.csv")
_RUN_DIRS = ("checkpoints", "tensorboard", "backup")


def _remove_run_files(out: Path) -> None:
    # Only what fit itself writes; anything else the user keeps in out_dir stays.
    for name in _RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for name in _RUN_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)


def _check_or_write_run_config(
    out: Path,
    network: keras.Model,
    recipe: Recipe,
    penalties: Sequence[Penalty],
    steps_per_epoch: int,
    loss_names: Any = None,
) -> None:
    """Record what a run trains, and refuse to resume a run that trained something else."""
    config: dict[str, Any] = {
        # Weight shapes, not the model name: Keras numbers unnamed models differently in each
        # process, but resuming only needs the same variables.
        "weight_shapes": [list(w.shape) for w in network.weights],
        "recipe": recipe.to_dict(),
        "penalties": [dict(type=type(p).__name__, **p.get_config()) for p in penalties],
        "steps_per_epoch": steps_per_epoch,
    }
    if loss_names is not None:  # absent for the default loss, as in runs made before `loss=`
        config["loss"] = loss_names
    path = out / "run_config.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != config:
            changed = sorted(k for k in config if previous.get(k) != config[k])
            raise KeraslabError(
                f"{out} holds an unfinished run with a different {', '.join(changed)}; resume "
                "it with the same settings, or choose another output directory"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(config, indent=1))


def _loss_names(loss: Any) -> Any:
    """A JSON-able name of a loss, or of each loss in a list/tuple/dict of them."""
    if isinstance(loss, (list, tuple)):
        return [_loss_names(one) for one in loss]
    if isinstance(loss, dict):
        return {key: _loss_names(one) for key, one in loss.items()}
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__


def _smoothed_loss(label_smoothing: float) -> Callable[[Any, Any], Any]:
    def loss(y_true: Any, logits: Any) -> Any:
        classes = keras.ops.shape(logits)[-1]
        one_hot = keras.ops.one_hot(
            keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), classes
        )
        return keras.losses.categorical_crossentropy(
            one_hot, logits, from_logits=True, label_smoothing=label_smoothing
        )

    return loss


__all__ = ["TrainResult", "fit", "machine_description", "record_run_info"]
