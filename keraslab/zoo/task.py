"""What a zoo entry does, as an object: how an entry of that kind is built, trained, evaluated,
exported and verified, and which ``keraslab train`` options apply to it.

:class:`Task` is the interface; :mod:`keraslab.zoo.classification` and
:mod:`keraslab.zoo.sparse_coding` implement it. Code that handles any entry (the CLI,
:mod:`keraslab.zoo.protocols`, publishing) calls ``entry.task`` instead of branching on the
kind of entry.
"""

from __future__ import annotations

import abc
import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import keras

from keraslab.export import VerificationReport

__all__ = ["Task", "TrainOptions", "TrainedRun", "VerifiedExport", "run_weights"]


def run_weights(run_dir: str | os.PathLike) -> Path:
    """Where a finished training run (:func:`keraslab.training.fit` or
    :func:`~keraslab.training.fit_sparse_coder`) keeps its last weights."""
    return Path(run_dir) / "checkpoints" / "last.weights.h5"


def _flag(flag: str | None = None) -> dict[str, Any]:
    return {"flag": flag}


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """What a caller of :func:`keraslab.zoo.train` (or ``keraslab train``) may change about an
    entry's training. ``None`` (or ``()``, ``False``) keeps the entry's own setting.

    Each field but ``command`` and ``verbose`` is a ``keraslab train`` flag (the field's
    ``metadata["flag"]``); a task refuses the flags that do not apply to it
    (:meth:`Task.check_options`).

    Attributes:
        dataset: the dataset (sparse coding: the synthetic problem); default the entry's.
        out_dir: the run directory; default ``runs/NAME-DATASET``.
        seed: seeds the initial weights and the data order.
        overwrite: replace a finished run in ``out_dir``.
        batch_size, learning_rate: recipe overrides.
        max_steps: most steps per stage (stage-wise sparse coding).
        epochs: recipe override (classification).
        penalties: penalty specs added after the recipe's own (classification).
        limit: use only the first N examples of each split (not shippable).
        robustness: also run the robustness protocol on the test set after training.
        data_dir: the directory holding the dataset's original files.
        jit_compile: compile the train step with XLA.
        command: the command line recorded in ``run.json`` (how to reproduce the run).
        verbose: Keras's progress display during training.
    """

    dataset: str | None = dataclasses.field(default=None, metadata=_flag("--dataset"))
    out_dir: str | os.PathLike | None = dataclasses.field(default=None, metadata=_flag("--out"))
    seed: int = dataclasses.field(default=0, metadata=_flag("--seed"))
    overwrite: bool = dataclasses.field(default=False, metadata=_flag("--overwrite"))
    batch_size: int | None = dataclasses.field(default=None, metadata=_flag("--batch-size"))
    learning_rate: float | None = dataclasses.field(default=None, metadata=_flag("--lr"))
    max_steps: int | None = dataclasses.field(default=None, metadata=_flag("--max-steps"))
    # The flags from here on were refused by sparse coders in this order before tasks existed;
    # the field order keeps their refusal's wording.
    epochs: int | None = dataclasses.field(default=None, metadata=_flag("--epochs"))
    penalties: Sequence[str] = dataclasses.field(default=(), metadata=_flag("--penalty"))
    limit: int | None = dataclasses.field(default=None, metadata=_flag("--limit"))
    robustness: bool = dataclasses.field(default=False, metadata=_flag("--robustness"))
    data_dir: str | None = dataclasses.field(default=None, metadata=_flag("--data-dir"))
    jit_compile: bool = dataclasses.field(default=False, metadata=_flag("--jit"))
    command: str | None = dataclasses.field(default=None, metadata=_flag())
    verbose: int | str = dataclasses.field(default="auto", metadata=_flag())

    def __post_init__(self) -> None:
        object.__setattr__(self, "penalties", tuple(self.penalties or ()))

    def given(self) -> list[str]:
        """The flags of the options set away from their defaults, in field order."""
        return [
            f.metadata["flag"]
            for f in dataclasses.fields(self)
            if f.metadata["flag"] and getattr(self, f.name) != f.default
        ]

    def run_dir(self, name: str, dataset: str) -> Path:
        """``out_dir``, or ``runs/NAME-DATASET`` (relative to the working directory)."""
        return Path(self.out_dir or f"runs/{name}-{dataset}")


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """What :meth:`Task.train` returns.

    Attributes:
        name: the zoo entry.
        dataset: what it was trained on.
        network: the trained network.
        out_dir: the run directory (``run.json``, checkpoints).
        metrics: the test metrics recorded in ``run.json`` (``run["test"]``).
        summary: one line: the headline metric and how long training took.
    """

    name: str
    dataset: str
    network: keras.Model
    out_dir: Path
    metrics: dict[str, Any]
    summary: str

    @property
    def weights(self) -> Path:
        """The trained weights (``out_dir/checkpoints/last.weights.h5``)."""
        return run_weights(self.out_dir)


@dataclasses.dataclass(frozen=True)
class VerifiedExport:
    """What :meth:`Task.verify_export` returns: the verifier's report and one line saying what
    was checked."""

    report: VerificationReport
    summary: str


class Task(abc.ABC):
    """The kind of a zoo entry. One instance per kind; entries hold it as ``entry.task``.

    Attributes:
        name: what manifests, ``run.json`` and :meth:`ZooEntry.summary` call it.
        recipe_type: the class of an entry's recipe.
        classifies_images: ``keraslab predict`` and :func:`keraslab.zoo.predict` apply.
        metric: the headline metric's key (``zoo list``, publishing, ``evaluate --record``).
        metric_label: how messages name it.
        train_flags: the ``keraslab train`` flags that apply.
    """

    name: ClassVar[str]
    recipe_type: ClassVar[type]
    classifies_images: ClassVar[bool]
    metric: ClassVar[str]
    metric_label: ClassVar[str]
    train_flags: ClassVar[tuple[str, ...]]

    def __repr__(self) -> str:
        return f"<zoo task {self.name}>"

    @abc.abstractmethod
    def format_metric(self, value: float) -> str:
        """The headline metric as ``zoo list`` shows it."""

    def describe(self, metrics: dict[str, Any]) -> str:
        """The headline metric with its name, e.g. ``test accuracy 91.23%``."""
        return f"{self.metric_label} {self.format_metric(metrics[self.metric])}"

    def check_options(self, name: str, options: TrainOptions) -> None:
        """Raise ``ValueError`` naming the given options that do not apply to this task."""
        unused = [flag for flag in options.given() if flag not in self.train_flags]
        if unused:
            raise ValueError(self.refuse_flags(name, unused))

    @abc.abstractmethod
    def refuse_flags(self, name: str, flags: Sequence[str]) -> str:
        """Why ``flags`` do not apply to entry ``name``, and what to use instead."""

    @abc.abstractmethod
    def build(
        self, builder: Callable[..., keras.Model], dataset: str, **config: Any
    ) -> keras.Model:
        """A fresh model for ``dataset`` from an entry's builder and config."""

    @abc.abstractmethod
    def train(
        self,
        name: str,
        recipe: Any,
        build: Callable[[], keras.Model],
        dataset: str,
        options: TrainOptions,
    ) -> TrainedRun:
        """Train a fresh network from ``build()`` (called after seeding) on ``dataset`` with
        ``recipe`` and ``options``, evaluate it with :meth:`evaluate` and record the test
        metrics in the run's ``run.json``."""

    @abc.abstractmethod
    def evaluate(
        self,
        model: keras.Model,
        dataset: str,
        *,
        data_dir: str | None = None,
        robustness: bool = False,
    ) -> dict[str, Any]:
        """The task's evaluation protocol (:mod:`keraslab.evaluation`) on ``dataset``'s test set."""

    @abc.abstractmethod
    def export(
        self,
        name: str,
        model: keras.Model,
        base_dir: str | os.PathLike,
        *,
        dataset: str,
        export_name: str | None = None,
        version: int | None = None,
        test: dict[str, Any] | None = None,
    ) -> Path:
        """Write a new SavedModel version for TF Serving; returns its directory."""

    @abc.abstractmethod
    def verify_export(
        self,
        path: str | os.PathLike,
        model: keras.Model,
        *,
        dataset: str,
        data_dir: str | None = None,
    ) -> VerifiedExport:
        """Reload ``path`` in a TensorFlow-only process and compare it with ``model``."""
