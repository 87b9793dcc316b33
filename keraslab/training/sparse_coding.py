"""Training unrolled sparse coders (LISTA and its variants): stage-wise and end to end.

**Stage-wise** (Chen, Liu, Wang & Yin, NeurIPS 2018, after Borgerding, Schniter & Rangan,
2017): for layers ``t = 1 … T`` of a :func:`keraslab.models.lista` network built with
``return_all=True``, train on the loss ``E‖z_t − z*‖²`` of layer ``t``'s output

1. the parameters new in layer ``t`` alone, at the rate ``lr``;
2. every layer up to ``t``, at ``0.2·lr``;
3. every layer up to ``t``, at ``0.02·lr``;

each stage with a fresh Adam, until the validation NMSE of layer ``t`` has not improved for
``patience`` steps (at most ``max_steps``), keeping its best weights. A tied network (one cell
for every layer) trains all its parameters in every stage.

**End to end**: every parameter on the loss of the last layer, or on the sum of every layer's
loss (``per_layer=True``), with the same early stopping.

Progress is shown per stage (a ``tqdm`` bar with the layer and its validation NMSE) and every
stage is logged in the result. NMSE is :func:`keraslab.models.lista.nmse_db`,
``10·log10(Σ‖ẑ − z‖² / Σ‖z‖²)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keraslab.errors import InputSpecError, KeraslabError
from keraslab.files import atomic_path, atomic_write_text
from keraslab.models.lista import nmse_db

__all__ = [
    "STAGES",
    "SparseCodingTraining",
    "StagewiseSchedule",
    "fit_sparse_coder",
    "per_layer_nmse",
    "train_end_to_end",
    "train_stagewise",
]

#: (what trains, learning-rate factor) of the three stages of each layer (Chen et al., 2018).
STAGES = (("new", 1.0), ("all", 0.2), ("all", 0.02))


@dataclasses.dataclass(frozen=True)
class StagewiseSchedule:
    """How long and how fast each stage trains.

    Args:
        learning_rate: Adam's rate for a layer's new parameters (the authors' 5e-4).
        max_steps: most steps per stage.
        patience: stop a stage after this many steps without a better validation NMSE.
        validate_every: steps between validations.
        jit_compile: compile the step with XLA (about 2× faster for 16-layer networks on CPU).
        batch_size: examples per step (fresh ones every step); used by :func:`fit_sparse_coder`.
    """

    learning_rate: float = 5e-4
    max_steps: int = 4000
    patience: int = 500
    validate_every: int = 50
    jit_compile: bool = True
    batch_size: int = 64

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise InputSpecError(f"learning_rate must be positive, got {self.learning_rate}")
        for name in ("max_steps", "patience", "validate_every", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputSpecError(f"{name} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> StagewiseSchedule:
        """A copy with ``changes``; ``None`` values keep the current setting (CLI overrides)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclasses.dataclass
class SparseCodingTraining:
    """What :func:`train_stagewise` and :func:`train_end_to_end` return.

    Attributes:
        nmse_db_per_layer: validation NMSE (dB) of every layer's estimate after training.
        initial_nmse_db_per_layer: the same before training.
        stages: one record per stage: layer, stage, learning rate, steps, best step, NMSE.
        train_seconds: wall time of the training.
    """

    nmse_db_per_layer: list[float]
    initial_nmse_db_per_layer: list[float]
    stages: list[dict[str, Any]]
    train_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_model(model: keras.Model) -> int:
    if not isinstance(model, keras.Model) or len(model.outputs) < 1:
        raise InputSpecError(f"expected a functional keras.Model, got {type(model).__name__}")
    names = [layer.name for layer in model.layers]
    if not any(n == "lista_cell" or n.startswith("layer_") for n in names):
        raise InputSpecError(
            f"{model.name!r} is not a keraslab.models.lista network (no layer_1 … layer_T or "
            "lista_cell layers); build it with keraslab.models.lista(A, T, variant, ...)"
        )
    return len(model.outputs)


def _cell(model: keras.Model, t: int) -> keras.layers.Layer:
    names = {layer.name for layer in model.layers}
    return model.get_layer("lista_cell" if "lista_cell" in names else f"layer_{t}")


def per_layer_nmse(model: keras.Model, x: np.ndarray, z: np.ndarray) -> list[float]:
    """NMSE(ẑ_t, z) = 10 log₁₀(‖ẑ_t − z‖² / ‖z‖²) in dB of every layer's estimate ẑ_t (one value
    when the network returns only its last layer), evaluated in inference mode."""
    outputs = model(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [float(nmse_db(z_hat, z)) for z_hat in outputs]


class _Trainer:
    """One Adam over a sub-network's variables; ``mask`` (0/1 per variable) freezes some of
    them without retracing: a reset Adam given zero gradients keeps its moments, and the
    update, at zero."""

    def __init__(self, outputs_of, variables, schedule: StagewiseSchedule):
        self.variables = variables
        self.optimizer = keras.optimizers.Adam(schedule.learning_rate)
        self.optimizer.build(variables)  # slots made eagerly, not inside the compiled step
        self.schedule = schedule

        @tf.function(jit_compile=schedule.jit_compile)
        def step(x, z, mask):
            with tf.GradientTape() as tape:
                estimates = outputs_of(x)
                loss = tf.add_n(
                    [tf.reduce_mean(tf.reduce_sum(tf.square(e - z), axis=-1)) for e in estimates]
                )
            # None: a variable the loss does not reach (the tied W at t = 1 multiplies z_0 = 0).
            grads = tape.gradient(loss, variables)
            grads = [
                tf.zeros(v.shape, v.dtype) if g is None else g * mask[i]
                for i, (g, v) in enumerate(zip(grads, variables, strict=True))
            ]
            self.optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss

        self.step = step
        self.predict = tf.function(lambda x: outputs_of(x)[-1], jit_compile=schedule.jit_compile)

    def reset(self, learning_rate: float) -> None:
        # A fresh Adam: moments and step count 0, so bias correction restarts.
        for v in self.optimizer.variables:
            if not v.path.endswith("learning_rate"):
                v.assign(tf.zeros(v.shape, v.dtype))
        self.optimizer.learning_rate = learning_rate

    def run_stage(self, mask, stream: Iterator, x_val, z_val) -> dict[str, Any]:
        """Train until the validation NMSE stalls for ``patience`` steps; keep the best."""
        s = self.schedule
        best, best_step = float(nmse_db(self.predict(x_val), z_val)), 0
        snapshot = [v.numpy() for v in self.variables]
        steps = 0
        for steps in range(1, s.max_steps + 1):
            x, z = next(stream)
            self.step(x, z, mask)
            if steps % s.validate_every == 0:
                current = float(nmse_db(self.predict(x_val), z_val))
                if current < best:
                    best, best_step = current, steps
                    snapshot = [v.numpy() for v in self.variables]
                elif steps - best_step >= s.patience:
                    break
        for v, value in zip(self.variables, snapshot, strict=True):
            v.assign(value)
        return {"steps": steps, "best_step": best_step, "val_nmse_db": best}


class _RetracingWarningFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _one_trace_per_layer_is_intended() -> Iterator[None]:
    """Silence TensorFlow's "frequent retracing" warning while training stage-wise: each layer
    gets its own compiled step for its own sub-network, which TensorFlow's detector (keyed on
    the Python code, shared by every layer's step) mistakes for accidental retracing."""
    logger = tf.get_logger()
    quiet = _RetracingWarningFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _start(model: keras.Model, train_data: Any, validation: tuple[np.ndarray, np.ndarray]):
    """``(x_val, z_val, batch iterator, initial NMSE per layer)``: what both trainings start
    from (a ``tf.data.Dataset`` is repeated as needed)."""
    x_val, z_val = validation
    if isinstance(train_data, tf.data.Dataset):
        stream = iter(train_data.repeat())
    else:
        stream = iter(train_data)
    return x_val, z_val, stream, per_layer_nmse(model, x_val, z_val)


def train_stagewise(
    model: keras.Model,
    train_data: Any,
    validation: tuple[np.ndarray, np.ndarray],
    *,
    schedule: StagewiseSchedule | None = None,
    progress: bool = True,
) -> SparseCodingTraining:
    """Stage-wise training of a LISTA-family network (module docstring), in place.

    Args:
        model: a :func:`keraslab.models.lista` network built with ``return_all=True``.
        train_data: ``(x, z)`` batches: a ``tf.data.Dataset`` (repeated as needed, e.g.
            ``SparseCodingProblem.dataset(64)``) or an iterator.
        validation: ``(x, z)`` arrays; each stage keeps the weights best on them.
        schedule: rates, patience and step limits (default :class:`StagewiseSchedule`).
        progress: show a progress bar over the ``3·T`` stages.

    Raises:
        InputSpecError: not a LISTA network built with ``return_all=True``.
    """
    schedule = schedule or StagewiseSchedule()
    T = _check_model(model)
    cells = sum(layer.name.startswith("layer_") for layer in model.layers)
    if cells > 1 and cells != T:
        raise InputSpecError(
            "stage-wise training needs every layer's estimate: build the network with "
            "keraslab.models.lista(..., return_all=True)"
        )
    x_val, z_val, stream, initial = _start(model, train_data, validation)
    log: list[dict[str, Any]] = []
    from tqdm.auto import tqdm

    start = time.perf_counter()
    with (
        _one_trace_per_layer_is_intended(),
        tqdm(total=T * len(STAGES), unit="stage", disable=not progress, leave=False) as bar,
    ):
        for t in range(1, T + 1):
            sub = keras.Model(model.input, model.outputs[t - 1])
            variables = list(sub.trainable_variables)
            new = {id(v) for v in _cell(model, t).trainable_variables}
            trainer = _Trainer(lambda x, sub=sub: [sub(x)], variables, schedule)
            for stage, factor in STAGES:
                mask = [1.0 if stage == "all" or id(v) in new else 0.0 for v in variables]
                if any(mask):
                    trainer.reset(schedule.learning_rate * factor)
                    record = trainer.run_stage(tf.constant(mask), stream, x_val, z_val)
                    log.append(
                        {
                            "layer": t,
                            "stage": stage,
                            "learning_rate": schedule.learning_rate * factor,
                            **record,
                        }
                    )
                    bar.set_postfix(layer=t, val_nmse_db=f"{record['val_nmse_db']:.1f}")
                bar.update(1)
    seconds = time.perf_counter() - start
    return SparseCodingTraining(per_layer_nmse(model, x_val, z_val), initial, log, seconds)


def train_end_to_end(
    model: keras.Model,
    train_data: Any,
    validation: tuple[np.ndarray, np.ndarray],
    *,
    per_layer: bool = False,
    schedule: StagewiseSchedule | None = None,
    progress: bool = True,
) -> SparseCodingTraining:
    """End-to-end training of a LISTA-family network, in place: every parameter at once on
    the last layer's loss, or on the sum of every layer's (``per_layer=True``; the network must
    be built with ``return_all=True``), with :func:`train_stagewise`'s early stopping."""
    schedule = schedule or StagewiseSchedule()
    T = _check_model(model)
    if per_layer and T < 2:
        raise InputSpecError(
            "per_layer=True needs every layer's estimate: build the network with "
            "keraslab.models.lista(..., return_all=True)"
        )
    x_val, z_val, stream, initial = _start(model, train_data, validation)

    def outputs_of(x):
        outputs = model(x)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return outputs if per_layer else outputs[-1:]

    trainer = _Trainer(outputs_of, list(model.trainable_variables), schedule)
    mask = tf.ones([len(trainer.variables)])
    from tqdm.auto import tqdm

    start = time.perf_counter()
    with tqdm(total=1, unit="stage", disable=not progress, leave=False) as bar:
        record = trainer.run_stage(mask, stream, x_val, z_val)
        bar.set_postfix(val_nmse_db=f"{record['val_nmse_db']:.1f}")
        bar.update(1)
    seconds = time.perf_counter() - start
    log = [{"layer": T, "stage": "end_to_end", "learning_rate": schedule.learning_rate, **record}]
    return SparseCodingTraining(per_layer_nmse(model, x_val, z_val), initial, log, seconds)


#: Where :func:`fit_sparse_coder` keeps the trained weights inside its output directory (the
#: same place :func:`keraslab.training.fit` keeps a classifier's last checkpoint).
WEIGHTS_PATH = ("checkpoints", "last.weights.h5")


def fit_sparse_coder(
    model: keras.Model,
    train_data: Any,
    validation: tuple[np.ndarray, np.ndarray],
    *,
    schedule: StagewiseSchedule | None = None,
    out_dir: str | os.PathLike,
    overwrite: bool = False,
    extra_run_info: dict[str, Any] | None = None,
    progress: bool = True,
) -> SparseCodingTraining:
    """Stage-wise training of ``model`` (:func:`train_stagewise`), written out as a run.

    Writes ``out_dir/checkpoints/last.weights.h5`` and ``out_dir/run.json`` (schedule, the
    per-stage log, NMSE per layer, wall time, machine), each atomically, so an interrupted run
    leaves no half-written file. A run takes minutes, so it restarts rather than resumes.

    Args:
        model: a :func:`keraslab.models.lista` network built with ``return_all=True``.
        train_data: ``(x, z)`` batches, e.g. ``problem.dataset(schedule.batch_size, seed=…)``
            of a :class:`keraslab.data.SparseCodingProblem` (``keraslab train`` uses
            ``seed = PROBLEM_SEEDS["train"] + --seed``).
        validation: ``(x, z)`` arrays each stage keeps the best weights on.
        schedule: rates, step limits and batch size (default :class:`StagewiseSchedule`).
        out_dir: where the weights and ``run.json`` go.
        overwrite: replace a finished run in ``out_dir``.
        extra_run_info: merged into ``run.json``.

    Raises:
        KeraslabError: ``out_dir`` holds a finished run and ``overwrite`` is false.
    """
    from keraslab.training.fit import machine_description

    schedule = schedule or StagewiseSchedule()
    out = Path(out_dir)
    if (out / "run.json").exists() and not overwrite:
        raise KeraslabError(
            f"{out} already holds a finished run (run.json); choose another output directory "
            "or pass overwrite=True (CLI: --overwrite)"
        )
    weights = out.joinpath(*WEIGHTS_PATH)
    weights.parent.mkdir(parents=True, exist_ok=True)
    (out / "run.json").unlink(missing_ok=True)
    result = train_stagewise(model, train_data, validation, schedule=schedule, progress=progress)
    with atomic_path(weights) as tmp:
        model.save_weights(tmp)
    run = {
        "recipe": schedule.to_dict(),
        "network": model.name,
        "parameters": int(model.count_params()),
        "wall_time_s": round(result.train_seconds, 2),
        "training": result.to_dict(),
        "machine": machine_description(),
        **(extra_run_info or {}),
    }
    atomic_write_text(out / "run.json", json.dumps(run, indent=1))
    return result
