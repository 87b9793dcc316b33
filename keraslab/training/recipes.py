"""Training recipes: optimizer, learning-rate schedule, epochs, batch size, augmentation.

A :class:`Recipe` is plain data (it round-trips through JSON, so zoo entries and ``run.json``
files record exactly how a model was trained); :func:`build_optimizer` turns it into a Keras
optimizer for a known number of steps per epoch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras

from keraslab.errors import UnknownNameError
from keraslab.training.penalties import parse_penalty

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "step")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train a model.

    Args:
        epochs: passes over the training set.
        batch_size: global batch size (split across replicas under a distribution strategy).
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (SGD uses Nesterov-free momentum).
        learning_rate: peak learning rate.
        momentum: SGD momentum.
        weight_decay: decoupled weight decay (Loshchilov & Hutter 2019) applied by the optimizer;
            for ``"sgd"`` it is the classical L2 step of the CIFAR ResNet recipes.
        schedule: ``"constant"``, ``"cosine"`` (cosine decay to 0 over training, Loshchilov &
            Hutter 2017) or ``"step"`` (multiply by ``step_factor`` at each fraction of training
            in ``step_boundaries``).
        step_boundaries: fractions of the total steps where the step schedule drops.
        step_factor: the step schedule's multiplier.
        warmup_epochs: linear warm-up length (0 = none).
        augment: apply the dataset's augmentation to training batches.
        label_smoothing: label smoothing of the cross-entropy.
        precompute: name of a layer up to which the network is fixed (no weights, no
            randomness, e.g. ``"scattering"``): its outputs are computed once, before the first
            epoch, and only the rest of the network runs each step
            (:mod:`keraslab.training.precompute`). Exact without augmentation.
        penalties: training penalties as ``NAME:WEIGHT[:OPTION=VALUE,...]`` specs (the
            ``keraslab train --penalty`` syntax, :func:`keraslab.training.parse_penalty`), e.g.
            ``("jacobian_projection:0.01",)``; ``fit`` adds them to the ones it is given.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_boundaries: tuple[float, ...] = (0.5, 0.75)
    step_factor: float = 0.1
    warmup_epochs: int = 0
    augment: bool = False
    label_smoothing: float = 0.0
    precompute: str | None = None
    penalties: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UnknownNameError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.schedule not in SCHEDULES:
            raise UnknownNameError(
                f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}"
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"epochs and batch_size must be positive, got {self.epochs} and {self.batch_size}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        object.__setattr__(self, "step_boundaries", tuple(float(b) for b in self.step_boundaries))
        if isinstance(self.penalties, str):
            raise ValueError(
                f"penalties is a sequence of specs, got the string {self.penalties!r}; "
                f"write penalties=({self.penalties!r},)"
            )
        object.__setattr__(self, "penalties", tuple(self.penalties))
        for spec in self.penalties:
            parse_penalty(spec)  # a bad spec fails here, with the fix, not epochs later
        if any(not 0 < b < 1 for b in self.step_boundaries):
            raise ValueError(f"step_boundaries are fractions in (0, 1), got {self.step_boundaries}")

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed; ``None`` values are ignored (handy for CLI flags)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise UnknownNameError(f"unknown recipe field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["step_boundaries"] = list(self.step_boundaries)
        d["penalties"] = list(self.penalties)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        return cls().replace(**d)


@keras.saving.register_keras_serializable(package="keraslab")
class WarmupThen(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to the wrapped schedule: lr(t) = after(0)·(t + 1)/T for t < T, then
    after(t − T) (Goyal et al. 2017, "Accurate, large minibatch SGD")."""

    def __init__(self, after: Any, warmup_steps: int) -> None:
        self.after = after
        self.warmup_steps = warmup_steps

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        ramp = (step + 1.0) / float(self.warmup_steps)
        base = self.after(keras.ops.maximum(step - self.warmup_steps, 0.0))
        return keras.ops.where(step < self.warmup_steps, base * ramp, base)

    def get_config(self) -> dict[str, Any]:
        return {
            "after": keras.saving.serialize_keras_object(self.after),
            "warmup_steps": self.warmup_steps,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> WarmupThen:
        after = keras.saving.deserialize_keras_object(config["after"])
        return cls(after, config["warmup_steps"])


def learning_rate_schedule(recipe: Recipe, steps_per_epoch: int) -> Any:
    """The learning rate as a float (constant) or a Keras ``LearningRateSchedule``."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}")
    warmup = recipe.warmup_epochs * steps_per_epoch
    decay_steps = max(recipe.epochs * steps_per_epoch - warmup, 1)
    lr: Any
    if recipe.schedule == "constant":
        lr = recipe.learning_rate
        if not warmup:
            return lr
        lr = keras.optimizers.schedules.PolynomialDecay(lr, decay_steps, lr)
    elif recipe.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps)
    else:
        boundaries = [int(math.ceil(b * decay_steps)) for b in recipe.step_boundaries]
        values = [recipe.learning_rate * recipe.step_factor**i for i in range(len(boundaries) + 1)]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    return WarmupThen(lr, warmup) if warmup else lr


def build_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The recipe's optimizer with its learning-rate schedule."""
    lr = learning_rate_schedule(recipe, steps_per_epoch)
    wd = recipe.weight_decay or None
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay)
    return keras.optimizers.SGD(lr, momentum=recipe.momentum, weight_decay=wd)


__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Recipe",
    "WarmupThen",
    "build_optimizer",
    "learning_rate_schedule",
]
