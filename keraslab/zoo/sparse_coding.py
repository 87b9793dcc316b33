"""Sparse coding: zoo entries that map signals to sparse codes (LISTA and its variants).

An entry's "dataset" is a named synthetic problem (:data:`keraslab.data.PROBLEMS`: the matrix
``A`` and the code and noise distributions) and its builder takes ``A``. It trains stage-wise
(Chen et al. 2018) with :func:`keraslab.training.fit_sparse_coder` and its
:class:`~keraslab.training.StagewiseSchedule` — a run takes minutes, so it restarts rather than
resumes — on the problem's fixed streams (:data:`keraslab.data.PROBLEM_SEEDS`), is evaluated
with :func:`keraslab.evaluation.evaluate_sparse_coder`, and exports as a signal → code
SavedModel with its dictionary (:func:`keraslab.export.saved_sparse_coder`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras

from keraslab import data, export, training
from keraslab.evaluation import BASELINE_LAMBDA, evaluate_sparse_coder
from keraslab.zoo.task import Task, TrainedRun, TrainOptions, VerifiedExport

__all__ = ["SPARSE_CODING", "SparseCoding"]

#: Examples in the fixed validation set every stage keeps its best weights on.
VALIDATION_EXAMPLES = 1000
#: Test signals an export is verified on.
VERIFY_SIGNALS = 64


class SparseCoding(Task):
    """Sparse coders (``task="sparse_coding"``)."""

    name = "sparse_coding"
    recipe_type = training.StagewiseSchedule
    classifies_images = False
    metric = "test_nmse_db"
    metric_label = "test NMSE"
    # XLA is the schedule's choice (StagewiseSchedule.jit_compile), not a flag.
    train_flags = (
        "--dataset",
        "--max-steps",
        "--batch-size",
        "--lr",
        "--seed",
        "--out",
        "--overwrite",
    )

    def format_metric(self, value: float) -> str:
        return f"{value:.1f} dB"

    def refuse_flags(self, name: str, flags: Sequence[str]) -> str:
        takes = ", ".join(self.train_flags).replace("--dataset", "--dataset PROBLEM")
        return (
            f"{name} is a sparse coder trained stage-wise on a synthetic problem; "
            f"{', '.join(flags)} does not apply (it takes {takes})"
        )

    def build(
        self, builder: Callable[..., keras.Model], dataset: str, **config: Any
    ) -> keras.Model:
        return builder(data.get_problem(dataset).A, **config)

    def train(
        self,
        name: str,
        recipe: Any,
        build: Callable[[], keras.Model],
        dataset: str,
        options: TrainOptions,
    ) -> TrainedRun:
        self.check_options(name, options)
        problem = data.get_problem(dataset)
        keras.utils.set_random_seed(options.seed)
        network = build()
        schedule = recipe.replace(
            batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            max_steps=options.max_steps,
        )
        out = options.run_dir(name, dataset)
        result = training.fit_sparse_coder(
            network,
            problem.dataset(schedule.batch_size, seed=data.PROBLEM_SEEDS["train"] + options.seed),
            problem.sample(VALIDATION_EXAMPLES, seed=data.PROBLEM_SEEDS["validation"]),
            schedule=schedule,
            out_dir=out,
            overwrite=options.overwrite,
            extra_run_info={
                "zoo_name": name,
                "dataset": dataset,
                "command": options.command,
                "seed": options.seed,
            },
        )
        metrics = evaluate_sparse_coder(network, problem)
        training.record_run_info(out, test=metrics)
        base = metrics["baselines_nmse_db"]
        summary = (
            f"{self.describe(metrics)} after {len(result.stages)} stages in "
            f"{result.train_seconds:.0f} s (ISTA 1000 iterations at λ = {BASELINE_LAMBDA}: "
            f"{base['ista_1000']:.1f} dB, FISTA: {base['fista_1000']:.1f} dB)"
        )
        return TrainedRun(name, dataset, network, out, metrics, summary)

    def evaluate(
        self,
        model: keras.Model,
        dataset: str,
        *,
        data_dir: str | None = None,
        robustness: bool = False,
    ) -> dict[str, Any]:
        # The problem's test set is generated, so there is no data_dir, and the robustness
        # protocol is a classifier's.
        return evaluate_sparse_coder(model, dataset)

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
        return export.saved_sparse_coder(
            model,
            base_dir,
            export_name or name,
            version,
            dictionary=data.get_problem(dataset).A,
            metadata={"zoo_name": name, "dataset": dataset, "test": test},
        )

    def verify_export(
        self,
        path: str | os.PathLike,
        model: keras.Model,
        *,
        dataset: str,
        data_dir: str | None = None,
    ) -> VerifiedExport:
        signals, _ = data.get_problem(dataset).sample(
            VERIFY_SIGNALS, seed=data.PROBLEM_SEEDS["test"]
        )
        report = export.verify_sparse_coder(path, model, signals)
        diffs = ", ".join(f"max |Δ {k}| {v:.2g}" for k, v in report.max_abs_diff.items())
        summary = (
            f"verified in a TensorFlow-only process: signatures {sorted(report.signatures)}, "
            f"dictionary SHA-256 matches, {diffs}"
        )
        return VerifiedExport(report, summary)


#: The sparse-coding task.
SPARSE_CODING = SparseCoding()
