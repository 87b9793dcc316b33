"""The evaluation protocols behind every reported zoo metric.

``keraslab train`` and ``keraslab evaluate`` report these numbers, and the manifest records
them; labs, benchmarks and users who call the same functions get the same numbers.

* **Classifiers** (:func:`evaluate_classifier`): accuracy and mean cross-entropy of the logits
  on a test set and, with ``robustness=True``, the mean ‖J_f(x)‖_F of the logits with respect to
  the model's (normalized) input, the accuracy under FGSM (Goodfellow, Shlens & Szegedy 2015)
  at the fixed raw-pixel sizes :data:`ROBUSTNESS_EPSILONS`, and the accuracy under one seeded
  draw of each default invariance transformation (:func:`transformed_accuracy`; Sokolić et
  al. 2017 train for it).
* **Sparse coders** (:func:`evaluate_sparse_coder`): NMSE = 10 log₁₀(Σ‖ẑ − z‖² / Σ‖z‖²) in dB
  (sums over the whole test set, :func:`keraslab.models.nmse_db`) of every layer's estimate on
  a synthetic problem's fixed test set, next to ISTA (Daubechies, Defrise & De Mol 2004) and
  FISTA (Beck & Teboulle 2009) at λ = :data:`BASELINE_LAMBDA` with as many iterations as the
  network has layers and with 1000 (Gregor & LeCun 2010; Chen et al. 2018 compare the same way).

Sits above :mod:`keraslab.training` and :mod:`keraslab.analysis` and below :mod:`keraslab.zoo`.
Keras, TensorFlow and the modules that import them are imported inside the functions, so the
CLI can read :data:`ROBUSTNESS_EPSILONS` for its help text without loading TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keraslab.data import PROBLEM_SEEDS, SparseCodingProblem, get_problem

__all__ = [
    "BASELINE_LAMBDA",
    "ROBUSTNESS_EPSILONS",
    "SPARSE_TEST_EXAMPLES",
    "evaluate_classifier",
    "evaluate_sparse_coder",
    "transformed_accuracy",
]

#: FGSM attack sizes of the robustness protocol, in raw pixel units (grey levels / 255).
ROBUSTNESS_EPSILONS = (0.02, 0.05, 0.1)
#: Examples in a synthetic problem's fixed test set (drawn with ``PROBLEM_SEEDS["test"]``).
SPARSE_TEST_EXAMPLES = 1000
#: λ of the ISTA/FISTA baselines reported next to a sparse coder (the LISTA papers' λ; ISTA
#: plateaus near it).
BASELINE_LAMBDA = 0.1


def evaluate_classifier(
    model: Any,
    dataset: Any,
    *,
    robustness: bool = False,
    mean: Sequence[float] | float | None = None,
    std: Sequence[float] | float | None = None,
) -> dict[str, Any]:
    """The classifier protocol on a batched ``(image, label)`` test set.

    Args:
        model: a Keras classifier returning logits for normalized images (it is compiled here
            with sparse categorical cross-entropy and accuracy).
        dataset: the test set, e.g. ``keraslab.data.load(name, "test", shuffle=False)``.
        robustness: also measure ‖J_f‖_F, FGSM accuracy and accuracy under transformations.
        mean, std: the dataset's normalization (``keraslab.data.get_spec(name)``), which turns
            the FGSM sizes from raw pixels into the model's input space; needed for robustness.

    Returns:
        ``test_accuracy`` and ``test_loss``; with robustness also ``jacobian_frobenius_mean``,
        ``fgsm_accuracy`` (``{f"{ε:g}": accuracy}``) and ``transformed_accuracy``
        (``{repr(transformation): accuracy}``).
    """
    import keras

    if robustness and (mean is None or std is None):
        raise ValueError("robustness needs the dataset's mean and std (its DatasetSpec)")
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    result = model.evaluate(dataset, verbose=0, return_dict=True)
    metrics: dict[str, Any] = {
        "test_accuracy": float(result["accuracy"]),
        "test_loss": float(result["loss"]),
    }
    if robustness:
        from keraslab import analysis

        norms = analysis.jacobian_norms(model, dataset)
        curve = analysis.fgsm_accuracy(model, dataset, ROBUSTNESS_EPSILONS, mean=mean, std=std)
        # ‖J‖_F of the logits w.r.t. the model's (normalized) input: what the penalties shrink.
        metrics["jacobian_frobenius_mean"] = norms.mean
        metrics["fgsm_accuracy"] = {f"{eps:g}": curve.at(eps) for eps in ROBUSTNESS_EPSILONS}
        metrics["transformed_accuracy"] = transformed_accuracy(model, dataset)
    return metrics


def transformed_accuracy(model: Any, dataset: Any, seed: int = 0) -> dict[str, float]:
    """Accuracy on the test images each moved by one random draw of every default invariance
    transformation (:func:`keraslab.training.default_invariance_transforms`: what the
    invariance penalty trains for), one entry per transformation, keyed by its ``repr``.

    A fixed seed makes it repeatable: it reseeds the global generators
    (``keras.utils.set_random_seed``), as every CLI command that trains does.
    """
    import keras

    from keraslab import training

    keras.utils.set_random_seed(seed)
    transforms = training.default_invariance_transforms()
    correct, total = np.zeros(len(transforms)), 0
    for x, y in dataset:
        y = np.asarray(y)
        for i, transform in enumerate(transforms):
            logits = model(transform(x), training=False)
            correct[i] += np.sum(np.argmax(logits, axis=-1) == y)
        total += len(y)
    return {repr(t): float(c / total) for t, c in zip(transforms, correct, strict=True)}


def evaluate_sparse_coder(model: Any, problem: str | SparseCodingProblem) -> dict[str, Any]:
    """The sparse-coder protocol on a problem's fixed test set.

    Args:
        model: a :func:`keraslab.models.lista` network built with ``return_all=True`` (every
            layer's estimate).
        problem: a :data:`keraslab.data.PROBLEMS` name, or the problem itself.

    Returns:
        ``test_nmse_db`` (the last layer's NMSE), ``test_nmse_db_per_layer`` (rounded to
        0.001 dB), ``test_examples`` (:data:`SPARSE_TEST_EXAMPLES`), ``baselines_nmse_db``
        (``{"ista_T": …, "fista_T": …, "ista_1000": …, "fista_1000": …}`` for T layers) and
        ``baseline_lambda``.
    """
    from keraslab import layers, models, training

    if isinstance(problem, str):
        problem = get_problem(problem)
    x, z = problem.sample(SPARSE_TEST_EXAMPLES, seed=PROBLEM_SEEDS["test"])
    per_layer = training.per_layer_nmse(model, x, z)
    baselines = {}
    for iterations in (len(per_layer), 1000):
        for solver in (layers.ISTA, layers.FISTA):
            z_hat = solver(problem.A, lam=BASELINE_LAMBDA, num_iterations=iterations)(x)
            baselines[f"{solver.__name__.lower()}_{iterations}"] = float(models.nmse_db(z_hat, z))
    return {
        "test_nmse_db": per_layer[-1],
        "test_nmse_db_per_layer": [round(v, 3) for v in per_layer],
        "test_examples": SPARSE_TEST_EXAMPLES,
        "baselines_nmse_db": baselines,
        "baseline_lambda": BASELINE_LAMBDA,
    }
