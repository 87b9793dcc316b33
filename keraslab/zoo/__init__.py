"""The model zoo: names → builders, configs, datasets, recipes, tasks and shipped weights.

>>> import keraslab
>>> keraslab.zoo.list()                                   # every entry, with its dataset
>>> model = keraslab.zoo.build("lenet")                   # fresh, untrained, from its config
>>> model = keraslab.zoo.load("lenet")                    # with the shipped trained weights
>>> keraslab.zoo.get("lenet").recipe                      # how it was (or is to be) trained
>>> keraslab.zoo.evaluate("lenet", model)                 # the metrics `keraslab evaluate` reports

Each entry has a task (``entry.task``, a :class:`~keraslab.zoo.task.Task`) that knows how an
entry of its kind is built, trained, evaluated and exported. Most entries are image
classifiers (:data:`CLASSIFICATION`). Sparse coders (:data:`SPARSE_CODING`, e.g. ``alista16``)
map signals to sparse codes for a named synthetic problem (:data:`keraslab.data.PROBLEMS`),
which takes the place of a dataset; their recipe is a
:class:`~keraslab.training.StagewiseSchedule`.

Trained entries live in ``savedmodels/``: ``<name>/<version>/`` is the SavedModel TF Serving
loads, ``<name>/keras.weights.h5`` the Keras weights :func:`load` uses, and
``savedmodels/manifest.json`` records each entry's measured metrics and the exact command that
produced them (:func:`publish`, :func:`record_metrics`).

Modules: :mod:`~keraslab.zoo.task` (the task interface), :mod:`~keraslab.zoo.classification`
and :mod:`~keraslab.zoo.sparse_coding` (the tasks), :mod:`~keraslab.zoo.registry`
(:class:`ZooEntry`, lookup, :func:`build`), :mod:`~keraslab.zoo.entries` (the registered
models), :mod:`~keraslab.zoo.protocols` (train / evaluate / export by name),
:mod:`~keraslab.zoo.shipped` (``savedmodels/``, the manifest, :func:`load`),
:mod:`~keraslab.zoo.publishing` (shipping a run, recording later metrics),
:mod:`~keraslab.zoo.signatures` (model-specific serving signatures),
:mod:`~keraslab.zoo.finetuning` (:func:`finetune` a shipped classifier on your own images,
:func:`export_finetuned` under its new name, to ``exports/`` by default) and
:mod:`~keraslab.zoo.prediction` (:func:`predict`).
"""

from __future__ import annotations

from keraslab.zoo import entries as _entries  # noqa: F401 - registers every zoo model
from keraslab.zoo.classification import CLASSIFICATION, Classification
from keraslab.zoo.finetuning import (
    FINETUNED_EXPORTS,
    FineTunedRun,
    export_finetuned,
    finetune,
    finetuned_run,
    load_finetuned,
)
from keraslab.zoo.prediction import Prediction, predict
from keraslab.zoo.protocols import evaluate, export, train, verify_export
from keraslab.zoo.publishing import (
    RecordedMetrics,
    check_recordable,
    finished_run,
    publish,
    record_metrics,
)
from keraslab.zoo.registry import (
    TASKS,
    ZooEntry,
    build,
    get,
    get_task,
    list,
    names,
    register,
)
from keraslab.zoo.shipped import (
    MANIFEST,
    WEIGHTS_FILE,
    load,
    load_weights,
    manifest,
    savedmodels_dir,
    update_manifest,
)
from keraslab.zoo.signatures import serving_signatures
from keraslab.zoo.sparse_coding import SPARSE_CODING, SparseCoding
from keraslab.zoo.task import Task, TrainedRun, TrainOptions, VerifiedExport, run_weights

__all__ = [
    "CLASSIFICATION",
    "FINETUNED_EXPORTS",
    "MANIFEST",
    "SPARSE_CODING",
    "TASKS",
    "WEIGHTS_FILE",
    "Classification",
    "FineTunedRun",
    "Prediction",
    "RecordedMetrics",
    "SparseCoding",
    "Task",
    "TrainOptions",
    "TrainedRun",
    "VerifiedExport",
    "ZooEntry",
    "build",
    "check_recordable",
    "evaluate",
    "export",
    "export_finetuned",
    "finished_run",
    "finetune",
    "finetuned_run",
    "get",
    "get_task",
    "list",
    "load",
    "load_finetuned",
    "load_weights",
    "manifest",
    "names",
    "predict",
    "publish",
    "record_metrics",
    "register",
    "run_weights",
    "savedmodels_dir",
    "serving_signatures",
    "train",
    "update_manifest",
    "verify_export",
]
