"""The zoo's registry: :class:`ZooEntry` (name → builder, config, datasets, recipe, task), and
looking entries up and building them.

The entries themselves are registered by :mod:`keraslab.zoo.entries`.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable
from typing import Any

import keras

from keraslab.errors import UnknownNameError
from keraslab.training.recipes import Recipe
from keraslab.training.sparse_coding import StagewiseSchedule
from keraslab.zoo.classification import CLASSIFICATION
from keraslab.zoo.sparse_coding import SPARSE_CODING
from keraslab.zoo.task import Task

__all__ = ["TASKS", "ZooEntry", "build", "get", "get_task", "list", "names", "register"]

_TASKS: dict[str, Task] = {task.name: task for task in (CLASSIFICATION, SPARSE_CODING)}
#: The names of the tasks an entry can have: classify images, or map signals to sparse codes.
TASKS = tuple(_TASKS)


def get_task(name: str) -> Task:
    """The task called ``name``, one of :data:`TASKS`."""
    try:
        return _TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"task must be one of {TASKS}, got {name!r}") from None


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One zoo model.

    Attributes:
        name: registry name (also the SavedModel directory name).
        builder: classification: ``builder(input_shape=…, num_classes=…, **config)``;
            sparse coding: ``builder(A, **config)``; either returns a ``keras.Model``.
        dataset: the dataset (sparse coding: the synthetic problem) it is trained on by default.
        datasets: every dataset whose images (or problem whose signals) it accepts.
        recipe: the training recipe (sparse coding: a ``StagewiseSchedule``), an instance of
            ``task.recipe_type``.
        description: one line.
        reference: the paper it follows.
        config: extra builder arguments.
        task: what the entry does (:class:`~keraslab.zoo.task.Task`), or its name, one of
            :data:`TASKS`; always the object once the entry exists.
    """

    name: str
    builder: Callable[..., keras.Model]
    dataset: str
    datasets: tuple[str, ...]
    recipe: Recipe | StagewiseSchedule
    description: str
    reference: str
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    task: Task = CLASSIFICATION

    def __post_init__(self) -> None:
        if not isinstance(self.task, Task):
            object.__setattr__(self, "task", get_task(self.task))
        expected = self.task.recipe_type
        if not isinstance(self.recipe, expected):
            raise TypeError(f"a {self.task.name} entry's recipe is a {expected.__name__}")

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task.name,
            "dataset": self.dataset,
            "datasets": builtins.list(self.datasets),
            "description": self.description,
            "reference": self.reference,
            "config": dict(self.config),
            "recipe": self.recipe.to_dict(),
        }


_REGISTRY: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    """Add an entry (names are unique)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"zoo entry {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def list() -> builtins.list[ZooEntry]:  # noqa: A001 - the public name the design promises
    """Every zoo entry, in registration order."""
    return builtins.list(_REGISTRY.values())


def names() -> builtins.list[str]:
    return builtins.list(_REGISTRY)


def get(name: str) -> ZooEntry:
    """The entry called ``name`` (raises :class:`UnknownNameError` listing the known ones)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown zoo model {name!r}; known models: {', '.join(_REGISTRY)} "
            "(see `keraslab zoo list`)"
        ) from None


def build(name: str, *, dataset: str | None = None, **overrides: Any) -> keras.Model:
    """A fresh, untrained model from the entry's config, shaped for ``dataset``.

    Args:
        name: zoo entry name.
        dataset: dataset whose image shape and class count to use (default: the entry's);
            for a sparse coder, the problem whose matrix ``A`` it is built from.
        **overrides: builder arguments replacing the entry's config.
    """
    entry = get(name)
    dataset = dataset or entry.dataset
    if dataset not in entry.datasets:
        raise UnknownNameError(
            f"zoo model {name!r} takes {', '.join(entry.datasets)}, not {dataset!r}"
        )
    return entry.task.build(entry.builder, dataset, **{**entry.config, **overrides})
