"""Image classification: the task of most zoo entries.

An entry's builder takes ``input_shape`` and ``num_classes`` (from the dataset's
:class:`~keraslab.data.DatasetSpec`) and returns logits for normalized images. It trains with
:func:`keraslab.training.fit` and its :class:`~keraslab.training.Recipe`, is evaluated with
:func:`keraslab.evaluation.evaluate_classifier`, and exports as a raw-pixel SavedModel
(:func:`keraslab.export.saved_model`) with the model-specific signatures of
:func:`~keraslab.zoo.signatures.serving_signatures`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keraslab import data, export, training
from keraslab.errors import KeraslabError
from keraslab.evaluation import evaluate_classifier
from keraslab.zoo.signatures import serving_signatures
from keraslab.zoo.task import Task, TrainedRun, TrainOptions, VerifiedExport

__all__ = ["CLASSIFICATION", "Classification"]

#: Test images an export is verified on (random pixels when the dataset is not available).
VERIFY_IMAGES = 64


class Classification(Task):
    """Image classifiers (``task="classification"``)."""

    name = "classification"
    recipe_type = training.Recipe
    classifies_images = True
    metric = "test_accuracy"
    metric_label = "test accuracy"
    train_flags = (
        "--dataset",
        "--out",
        "--seed",
        "--overwrite",
        "--batch-size",
        "--lr",
        "--epochs",
        "--penalty",
        "--limit",
        "--robustness",
        "--data-dir",
        "--jit",
    )

    def format_metric(self, value: float) -> str:
        return f"{value:.2%}"

    def refuse_flags(self, name: str, flags: Sequence[str]) -> str:
        # --max-steps is the only train flag a classifier does not take.
        return (
            f"{', '.join(flags)} applies to sparse coders (stage-wise training); {name} is "
            "trained by epochs: use --epochs"
        )

    def build(
        self, builder: Callable[..., keras.Model], dataset: str, **config: Any
    ) -> keras.Model:
        spec = data.get_spec(dataset)
        config.setdefault("input_shape", spec.image_shape)
        config.setdefault("num_classes", spec.num_classes)
        return builder(**config)

    def train(
        self,
        name: str,
        recipe: Any,
        build: Callable[[], keras.Model],
        dataset: str,
        options: TrainOptions,
    ) -> TrainedRun:
        self.check_options(name, options)
        keras.utils.set_random_seed(options.seed)  # before the build: it seeds the weights
        network = build()  # fails fast on a dataset it cannot take
        recipe = recipe.replace(
            epochs=options.epochs,
            batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            penalties=(*recipe.penalties, *options.penalties),
        )
        out = options.run_dir(name, dataset)
        out.mkdir(parents=True, exist_ok=True)  # fail on an unwritable out_dir before the data
        train = data.load(
            dataset,
            "train",
            batch_size=recipe.batch_size,
            shuffle=True,
            augment=recipe.augment,
            data_dir=options.data_dir,
            seed=options.seed,
            limit=options.limit,
        )
        test = self._test_set(dataset, options.data_dir, limit=options.limit)
        result = training.fit(
            network,
            train,
            recipe=recipe,
            validation_data=test,
            out_dir=out,
            jit_compile=options.jit_compile,
            overwrite=options.overwrite,
            verbose=options.verbose,
            extra_run_info={
                "zoo_name": name,
                "dataset": dataset,
                "command": options.command,
                "seed": options.seed,
                "limit": options.limit,
            },
        )
        metrics = self._evaluate(result.network, dataset, test, options.robustness)
        metrics["test_examples"] = int(sum(int(y.shape[0]) for _, y in test))
        training.record_run_info(out, test=metrics)
        summary = (
            f"{self.describe(metrics)} after {recipe.epochs} epochs in {result.wall_time_s:.0f} s"
        )
        return TrainedRun(name, dataset, result.network, out, metrics, summary)

    def evaluate(
        self,
        model: keras.Model,
        dataset: str,
        *,
        data_dir: str | None = None,
        robustness: bool = False,
    ) -> dict[str, Any]:
        return self._evaluate(model, dataset, self._test_set(dataset, data_dir), robustness)

    @staticmethod
    def _test_set(dataset: str, data_dir: str | None, limit: int | None = None) -> Any:
        return data.load(
            dataset, "test", batch_size=512, shuffle=False, data_dir=data_dir, limit=limit
        )

    @staticmethod
    def _evaluate(model: keras.Model, dataset: str, test: Any, robustness: bool) -> dict[str, Any]:
        spec = data.get_spec(dataset)
        return evaluate_classifier(model, test, robustness=robustness, mean=spec.mean, std=spec.std)

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
        spec = data.get_spec(dataset)
        preprocessing = export.Preprocessing(spec.mean, spec.std)
        return export.saved_model(
            model,
            base_dir,
            export_name or name,
            version,
            preprocessing=preprocessing,
            extra_signatures=serving_signatures(model, preprocessing),
            class_names=spec.class_names,
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
        spec = data.get_spec(dataset)
        try:
            images = data.load_arrays(dataset, "test", data_dir=data_dir).images[:VERIFY_IMAGES]
        except KeraslabError:
            # Without the dataset, random pixels still check signatures and predictions.
            rng = np.random.default_rng(0)
            images = rng.integers(0, 256, size=(VERIFY_IMAGES, *spec.image_shape), dtype=np.uint8)
        extras = serving_signatures(model, export.Preprocessing(spec.mean, spec.std))
        checks = export.signature_checks(extras, images)
        report = export.verify(path, model, images, checks=checks)
        logit_diff = report.max_abs_diff.get("serving_default/logits", 0.0)
        others = {k: v for k, v in report.max_abs_diff.items() if not k.startswith("serving_")}
        bytes_checked = f"{export.BYTES_SIGNATURE}/class_id" in report.max_abs_diff
        summary = (
            f"verified in a TensorFlow-only process: signatures {sorted(report.signatures)}, "
            f"{len(images)} predictions identical"
            + (" (also from PNG bytes)" if bytes_checked else "")
            + f", max |Δlogit| {logit_diff:.2g}"
            + "".join(f", max |Δ {k}| {v:.2g}" for k, v in others.items())
        )
        return VerifiedExport(report, summary)


#: The classification task, the default of :class:`~keraslab.zoo.ZooEntry`.
CLASSIFICATION = Classification()
