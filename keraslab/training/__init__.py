"""Training: the one GradientTape step, penalties, recipes, callbacks and ``fit``."""

from keraslab.training.callbacks import AtomicCheckpoint, JsonHistory, StopOnNaN, default_callbacks
from keraslab.training.fit import TrainResult, fit, machine_description, record_run_info
from keraslab.training.penalties import Penalty, WeightDecay
from keraslab.training.recipes import Recipe, build_optimizer, learning_rate_schedule
from keraslab.training.step import TrainingModel

__all__ = [
    "AtomicCheckpoint",
    "JsonHistory",
    "Penalty",
    "Recipe",
    "StopOnNaN",
    "TrainResult",
    "TrainingModel",
    "WeightDecay",
    "build_optimizer",
    "default_callbacks",
    "fit",
    "learning_rate_schedule",
    "machine_description",
    "record_run_info",
]
