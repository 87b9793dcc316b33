"""The evaluation protocols behind every reported zoo metric.

``keraslab train`` and ``keraslab evaluate`` report these numbers, and the manifest records
them; labs, benchmarks and users who call the same functions get the same numbers.

* **Classifiers** (:func:`evaluate_classifier`): accuracy and mean cross-entropy of the logits
  on a test set and, with ``robustness=True``, the mean ‖J_f(x)‖_F of the logits with respect to
  the model's (normalized) input, the accuracy under FGSM (Goodfellow, Shlens & Szegedy 2015)
  at the fixed raw-pixel sizes :data:`ROBUSTNESS_EPSILONS`, and the accuracy under one seeded
  draw of each default invariance transformation (:func:`transformed_accuracy`; Sokolić et
  al. 2017 train for it). :func:`measure_robustness` is the FGSM and ‖J_f‖_F part on its own,
  with the ε's and the number of Jacobian samples as parameters (lab 05 uses a finer ε grid).
* **Sparse coders** (:func:`evaluate_sparse_coder`): NMSE = 10 log₁₀(Σ‖ẑ − z‖² / Σ‖z‖²) in dB
  (sums over the whole test set, :func:`keraslab.models.nmse_db`) of every layer's estimate on
  a synthetic problem's fixed test set, next to ISTA (Daubechies, Defrise & De Mol 2004) and
  FISTA (Beck & Teboulle 2009) at λ = :data:`BASELINE_LAMBDA` with as many iterations as the
  network has layers and with 1000 (Gregor & LeCun 2010; Chen et al. 2018 compare the same way).
  :func:`solver_nmse_curve` gives an ISTA/FISTA baseline's NMSE after every iteration, the curve
  a learned coder's per-layer NMSE is drawn against.

Sits above :mod:`keraslab.training` and :mod:`keraslab.analysis` and below :mod:`keraslab.zoo`.
Keras, TensorFlow and the modules that import them are imported inside the functions, so the
CLI can read :data:`ROBUSTNESS_EPSILONS` for its help text without loading TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from keraslab.data import PROBLEM_SEEDS, SparseCodingProblem, get_problem

if TYPE_CHECKING:
    from keraslab.analysis import FGSMCurve, JacobianNorms

__all__ = [
    "BASELINE_LAMBDA",
    "ROBUSTNESS_EPSILONS",
    "SPARSE_TEST_EXAMPLES",
    "Robustness",
    "evaluate_classifier",
    "evaluate_sparse_coder",
    "measure_robustness",
    "solver_nmse_curve",
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
        measured = measure_robustness(model, dataset, mean=mean, std=std)
        # ‖J‖_F of the logits w.r.t. the model's (normalized) input: what the penalties shrink.
        metrics["jacobian_frobenius_mean"] = measured.jacobian.mean
        metrics["fgsm_accuracy"] = measured.fgsm_accuracy()
        metrics["transformed_accuracy"] = transformed_accuracy(model, dataset)
    return metrics


@dataclasses.dataclass(frozen=True)
class Robustness:
    """What :func:`measure_robustness` measured.

    Attributes:
        fgsm: accuracy under FGSM against ε (its ``clean_accuracy`` is the test accuracy on
            the same images).
        jacobian: the per-sample ‖J_f(x)‖_F of the logits w.r.t. the model's input.
    """

    fgsm: FGSMCurve
    jacobian: JacobianNorms

    def fgsm_accuracy(self) -> dict[str, float]:
        """``{f"{ε:g}": accuracy}``, as :func:`evaluate_classifier` reports it."""
        return {f"{eps:g}": self.fgsm.at(eps) for eps in self.fgsm.epsilons}


def measure_robustness(
    model: Any,
    dataset: Any,
    *,
    mean: Sequence[float] | float | None = None,
    std: Sequence[float] | float | None = None,
    epsilons: Sequence[float] = ROBUSTNESS_EPSILONS,
    jacobian_samples: int | None = None,
) -> Robustness:
    """Accuracy under FGSM (Goodfellow, Shlens & Szegedy 2015) at each ε and the per-sample
    ‖J_f(x)‖_F = (Σ_c ‖∇_x f_c(x)‖²)^½ of the logits (Sokolić et al. 2017), exactly, on a test set.

    The robustness part of :func:`evaluate_classifier`, with its defaults.

    Args:
        model: a Keras classifier returning logits for normalized images.
        dataset: the batched ``(image, label)`` test set (normalized images).
        mean, std: the dataset's normalization (``keraslab.data.get_spec(name)``), which turns
            the ε's from raw pixel units (grey levels / 255) into the model's input space;
            ``None``: the model takes raw pixels in [0, 1].
        epsilons: the FGSM sizes (ε = 0 measures the clean accuracy).
        jacobian_samples: average ‖J_f‖_F over only the first so many images (it costs one
            backward pass per class and image); ``None``: all.
    """
    from keraslab import analysis

    norms = analysis.jacobian_norms(model, dataset, max_samples=jacobian_samples)
    curve = analysis.fgsm_accuracy(model, dataset, epsilons, mean=mean, std=std)
    return Robustness(curve, norms)


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


def solver_nmse_curve(
    solver: type,
    A: np.ndarray,
    lam: float,
    x: np.ndarray,
    z: np.ndarray,
    iterations: int,
    chunk: int = 250,
) -> np.ndarray:
    """NMSE = 10 log₁₀(Σ‖z_k − z‖² / Σ‖z‖²) in dB of an iterative solver's iterates z_1 … z_K
    (K = ``iterations``) against the codes ``z``, sums over the whole set.

    One run of ``solver(A, lam, iterations, return_iterates=True)`` (:class:`keraslab.layers.ISTA`
    or :class:`~keraslab.layers.FISTA`) gives every iteration's estimate; compiled with XLA and
    run over chunks of ``chunk`` signals, whose squared errors are summed in float64.

    Returns:
        float64 ``(iterations,)``: entry k − 1 is the NMSE after k iterations.
    """
    import tensorflow as tf

    layer = solver(A, lam, iterations, return_iterates=True)

    @tf.function(jit_compile=True)
    def squared_error(x: tf.Tensor, z: tf.Tensor) -> tf.Tensor:  # Σ‖z_k − z‖² for every k
        return tf.reduce_sum(tf.square(layer(x) - z[:, None]), axis=[0, 2])

    error = sum(
        squared_error(x[i : i + chunk], z[i : i + chunk]).numpy().astype(np.float64)
        for i in range(0, len(x), chunk)
    )
    return np.asarray(10 * np.log10(error / np.sum(z.astype(np.float64) ** 2)))
