"""Training: the one GradientTape step, penalties, recipes, callbacks and ``fit``.

``fit`` trains classifiers with the sparse categorical cross-entropy, or any network with the
loss it is given (``loss=``, ``loss_weights=``, ``metrics=``): the masked cross-entropy of
semi-supervised training, one loss per output of a multi-output network.

Penalties (the interface in :mod:`~keraslab.training.penalty`; by name through the registry
:mod:`~keraslab.training.penalties`, ``get_penalty`` / ``parse_penalty``): weight decay;
Jacobian Frobenius norm, exact or by random projections, and spectral norm
(:mod:`~keraslab.training.jacobian`); input-gradient (double backprop); invariance to
transformations (:mod:`~keraslab.training.invariance`, :mod:`~keraslab.training.transforms`);
reconstruction and prediction entropy for semi-supervised training
(:mod:`~keraslab.training.semisupervised`). Test-time averaging over transformations
(:mod:`~keraslab.training.averaging`) and post-training Jacobian fine-tuning
(:mod:`~keraslab.training.finetune`) complete them; transfer learning to a new set of classes
(a new head, frozen then unfrozen backbone) is :mod:`~keraslab.training.transfer`. Unrolled
sparse coders (LISTA) train stage-wise or end to end with :mod:`~keraslab.training.sparse_coding`.
"""

from keraslab.training.averaging import (
    TransformAverage,
    TransformStack,
    default_averaging_transforms,
    with_test_time_averaging,
)
from keraslab.training.callbacks import AtomicCheckpoint, JsonHistory, StopOnNaN, default_callbacks
from keraslab.training.finetune import jacobian_finetune
from keraslab.training.fit import TrainResult, fit, machine_description, record_run_info
from keraslab.training.invariance import (
    Invariance,
    default_invariance_transforms,
    feature_extractor,
)
from keraslab.training.jacobian import InputGradient, JacobianFrobenius, JacobianSpectral
from keraslab.training.penalties import PENALTY_NAMES, get_penalty, parse_penalty
from keraslab.training.penalty import Penalty, WeightDecay
from keraslab.training.recipes import Recipe, build_optimizer, learning_rate_schedule
from keraslab.training.semisupervised import (
    MaskedSparseCategoricalCrossentropy,
    PredictionEntropy,
    Reconstruction,
    SemiSupervisedObjective,
    semi_supervised,
)
from keraslab.training.sparse_coding import (
    SparseCodingTraining,
    StagewiseSchedule,
    fit_sparse_coder,
    per_layer_nmse,
    train_end_to_end,
    train_stagewise,
)
from keraslab.training.step import TrainingModel
from keraslab.training.transfer import (
    FinetunePhases,
    classifier_head,
    copy_backbone_weights,
    freeze_backbone,
    two_phase_finetune,
    unfreeze_backbone,
)
from keraslab.training.transforms import get_transform

__all__ = [
    "PENALTY_NAMES",
    "AtomicCheckpoint",
    "FinetunePhases",
    "InputGradient",
    "Invariance",
    "JacobianFrobenius",
    "JacobianSpectral",
    "JsonHistory",
    "MaskedSparseCategoricalCrossentropy",
    "Penalty",
    "PredictionEntropy",
    "Recipe",
    "Reconstruction",
    "SemiSupervisedObjective",
    "SparseCodingTraining",
    "StagewiseSchedule",
    "StopOnNaN",
    "TrainResult",
    "TrainingModel",
    "TransformAverage",
    "TransformStack",
    "WeightDecay",
    "build_optimizer",
    "classifier_head",
    "copy_backbone_weights",
    "default_averaging_transforms",
    "default_callbacks",
    "default_invariance_transforms",
    "feature_extractor",
    "fit",
    "freeze_backbone",
    "fit_sparse_coder",
    "get_penalty",
    "get_transform",
    "jacobian_finetune",
    "learning_rate_schedule",
    "machine_description",
    "parse_penalty",
    "per_layer_nmse",
    "record_run_info",
    "semi_supervised",
    "train_end_to_end",
    "train_stagewise",
    "two_phase_finetune",
    "unfreeze_backbone",
    "with_test_time_averaging",
]
