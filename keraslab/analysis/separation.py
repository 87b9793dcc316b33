"""Progressive separation and contraction against depth, PCA, and interpolation in feature space.

Oyallon (2017, "Building a regular decision boundary with deep networks", CVPR) measures, layer
by layer, how a trained CNN makes its classes easier to separate with simple classifiers, and
Jacobsen, Smeulders & Oyallon (2018, "i-RevNet: Deep Invertible Networks", ICLR, §4) repeat the
measurement on an i-RevNet, linear SVM and nearest-neighbour accuracies on spatially averaged
features of each block, to show that separation *and* contraction grow with depth although
the representation keeps all the information about the input. This module provides:

* :func:`depth_features`: the spatially averaged representation after each i-RevNet block
  (``level="block"``) or each stage (``"stage"``), for a batch of images, in one forward
  pass;
* :func:`fit_linear_probe` / :func:`linear_probe_accuracy`: a closed-form ridge least-squares
  classifier (deterministic, no training loop) and its held-out accuracy;
* :func:`nearest_neighbor_accuracy`: Euclidean 1-NN accuracy;
* :func:`class_distances`: mean within-class and between-class distances and their ratio (a
  scale-free measure of contraction);
* :func:`separation_by_depth`: all three against depth;
* :func:`pca`: principal components by NumPy SVD;
* :func:`interpolate`: ``Φ⁻¹((1 − t) Φ(x₀) + t Φ(x₁))``, a straight line in feature space
  mapped back to images.

**Why spatial averages.** ``Φ_k(x)`` after block ``k`` has ``h·w·c`` entries (thousands), and
the whole point of an invertible network is that it keeps all of them: a probe on the full
representation would measure the input's separability again. Averaging each channel over
space (as the network's own head does before its linear layer) keeps ``c`` numbers per image,
invariant to translations, and is what a probe can separate only if the network has made the
channels themselves class-specific. Depth 0 (``"input"``) is the average of the input of the
first block (after the initial ψ and padding): for a grey image, the mean intensity of each of
the four 2×2 sub-grids.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from keraslab.layers.invertible import IRevNetBlock
from keraslab.ops.validate import finite

__all__ = [
    "ClassDistances",
    "DepthFeatures",
    "DepthSeparation",
    "Interpolation",
    "LinearProbe",
    "PCAResult",
    "class_distances",
    "depth_features",
    "fit_linear_probe",
    "interpolate",
    "linear_probe_accuracy",
    "nearest_neighbor_accuracy",
    "pca",
    "separation_by_depth",
]


# ---------------------------------------------------------------------------------- helpers


def _matrix(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, np.float64)
    if arr.ndim != 2 or len(arr) == 0:
        raise ValueError(
            f"{name} must be a non-empty matrix (examples, features), got shape {arr.shape}. "
            f"Flatten or average images first (depth_features does)."
        )
    return finite(arr, name)


def _labels(y: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"{name} must be a vector of {n} integer labels (one per example), got shape "
            f"{arr.shape}."
        )
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}.")
        arr = arr.astype(np.int64)
    return arr


def _pair(train_x: Any, train_y: Any, test_x: Any, test_y: Any):
    xtr = _matrix(train_x, "train_features")
    xte = _matrix(test_x, "test_features")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            f"train_features and test_features must have the same number of features, got "
            f"{xtr.shape[1]} and {xte.shape[1]}."
        )
    return (
        xtr,
        _labels(train_y, len(xtr), "train_labels"),
        xte,
        _labels(test_y, len(xte), "test_labels"),
    )


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``‖a_i − b_j‖²`` for all pairs, ``(len(a), len(b))``, clipped at 0 (float64)."""
    d = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0)


# ---------------------------------------------------------------------------------- features


@dataclasses.dataclass
class DepthFeatures:
    """Spatially averaged representations of a batch of images at increasing depths.

    Attributes:
        names: one name per depth: ``"input"`` (input of the first block), then the block (or
            stage-ending block) names.
        depths: the number of blocks applied at each depth (0 for ``"input"``).
        features: one float32 array ``(N, channels)`` per depth.
    """

    names: list[str]
    depths: list[int]
    features: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.names)


def _tap_indices(model: Any, level: str, include_input: bool) -> tuple[list[int], list[int]]:
    """Indices into ``model.invertible_layers`` after which a representation is recorded (−1 is
    the input of the first block), and the number of blocks applied at each."""
    layers = list(getattr(model, "invertible_layers", None) or [])
    blocks = [i for i, layer in enumerate(layers) if isinstance(layer, IRevNetBlock)]
    if not blocks:
        raise ValueError(
            f"depth_features needs an i-RevNet (keraslab.models.irevnet.IRevNet): "
            f"{type(model).__name__} has no IRevNetBlock in `invertible_layers`."
        )
    if level == "block":
        taps = list(range(len(blocks)))
    elif level == "stage":
        per_stage = list(getattr(model, "blocks", []))
        if sum(per_stage) != len(blocks):
            raise ValueError(
                "depth_features(level='stage') needs the model's `blocks` (blocks per stage) "
                "to match its IRevNetBlocks; use level='block'."
            )
        taps = list(np.cumsum(per_stage) - 1)
    else:
        raise ValueError(f"depth_features: level must be 'block' or 'stage', got {level!r}.")
    indices = [blocks[t] for t in taps]
    depths = [t + 1 for t in taps]
    if include_input:
        indices, depths = [blocks[0] - 1, *indices], [0, *depths]
    return indices, depths


# One compiled forward pass per (model, taps, image shape), kept as long as the model lives.
_FORWARD_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward_with_taps(model: Any, indices: tuple[int, ...], image_shape: tuple[int, ...]):
    per_model = _FORWARD_CACHE.setdefault(model, {})
    key = (indices, image_shape)
    if key not in per_model:
        layers = list(model.invertible_layers)
        wanted = set(indices)

        @tf.function(input_signature=[tf.TensorSpec((None, *image_shape), tf.float32)])
        def forward(batch):
            h = batch
            taps = {-1: tf.reduce_mean(h, axis=(1, 2))} if -1 in wanted else {}
            for i, layer in enumerate(layers[: max(indices) + 1]):
                h = layer(h, training=False)
                if i in wanted:
                    taps[i] = tf.reduce_mean(h, axis=(1, 2))
            return [taps[i] for i in indices]

        per_model[key] = forward
    return per_model[key]


def depth_features(
    model: Any,
    images: Any,
    *,
    level: Literal["block", "stage"] = "block",
    include_input: bool = True,
    batch_size: int = 256,
) -> DepthFeatures:
    """The spatially averaged representation ``m_k(x)_c = (1/hw) Σ_{i,j} Φ_k(x)[i, j, c]`` after
    each block (or stage) ``k`` of an i-RevNet, in inference mode (Jacobsen et al., 2018, §4).

    One forward pass through ``model.invertible_layers`` per batch (compiled with
    ``tf.function``); only the ``c``-vectors are kept, so memory is ``N × Σ_k c_k`` floats.

    Args:
        model: an :class:`~keraslab.models.irevnet.IRevNet` (anything whose
            ``invertible_layers`` holds :class:`~keraslab.layers.invertible.IRevNetBlock`\\ s).
        images: ``(N, H, W, C)`` images in the model's input format (normalized).
        level: ``"block"``: after every block; ``"stage"``: after the last block of each
            stage.
        include_input: also record depth 0, the input of the first block (after ψ/padding).
        batch_size: images per forward pass.

    Returns:
        :class:`DepthFeatures`.
    """
    x = np.asarray(images, np.float32)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(
            f"depth_features expects a non-empty batch of images (N, height, width, channels), "
            f"got shape {x.shape}."
        )
    indices, depths = _tap_indices(model, level, include_input)
    forward = _forward_with_taps(model, tuple(indices), tuple(x.shape[1:]))
    chunks: list[list[np.ndarray]] = [[] for _ in indices]
    for start in range(0, len(x), batch_size):
        for k, tap in enumerate(forward(tf.constant(x[start : start + batch_size]))):
            chunks[k].append(tap.numpy())
    layers = model.invertible_layers
    names = ["input" if d == 0 else layers[i].name for i, d in zip(indices, depths, strict=True)]
    return DepthFeatures(
        names=names,
        depths=[int(d) for d in depths],
        features=[np.concatenate(c).astype(np.float32) for c in chunks],
    )


# ---------------------------------------------------------------------------------- probes


@dataclasses.dataclass
class LinearProbe:
    """A fitted ridge least-squares classifier ``argmax_c (W ((x − μ)/σ) + b)_c``.

    Attributes:
        mean, scale: the training features' mean ``μ`` and standard deviation ``σ`` (1 where a
            feature is constant).
        weights: ``W``, ``(features, classes)``.
        bias: ``b``, ``(classes,)``.
        classes: the label of each output column.
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    classes: np.ndarray

    def decision_function(self, features: Any) -> np.ndarray:
        """The class scores ``W ((x − μ)/σ) + b``, ``(N, classes)``."""
        x = _matrix(features, "features")
        if x.shape[1] != len(self.mean):
            raise ValueError(
                f"LinearProbe was fitted on {len(self.mean)} features, got {x.shape[1]}."
            )
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def predict(self, features: Any) -> np.ndarray:
        """The predicted labels."""
        return self.classes[self.decision_function(features).argmax(1)]

    def accuracy(self, features: Any, labels: Any) -> float:
        """The fraction of ``labels`` predicted correctly."""
        x = _matrix(features, "features")
        return float(np.mean(self.predict(x) == _labels(labels, len(x), "labels")))


def fit_linear_probe(features: Any, labels: Any, *, l2: float = 1e-3) -> LinearProbe:
    """Fit a ridge-regularized least-squares classifier in closed form.

    With standardized features ``X̃ = (X − μ)/σ`` (train statistics) and one-hot targets ``Y``
    centred by their class frequencies ``ȳ``, the weights solve

        W = (X̃ᵀX̃ + λ n I)⁻¹ X̃ᵀ (Y − ȳ),      b = ȳ,

    the regularized least-squares classifier (Hastie, Tibshirani & Friedman, 2009, *The
    Elements of Statistical Learning*, §4.2 and §3.4.1). It is deterministic and needs no
    learning rate, which suits a probe of separability against depth; it stands in for the
    linear SVM of Jacobsen et al. (2018, §4) and Oyallon (2017).

    Args:
        features: ``(n, d)`` training features.
        labels: ``(n,)`` integer labels.
        l2: ``λ``, relative to the number of examples ``n``; must be > 0 (it also keeps the
            system well posed for constant or collinear features).
    """
    x = _matrix(features, "features")
    y = _labels(labels, len(x), "labels")
    if not l2 > 0:
        raise ValueError(f"fit_linear_probe: l2 must be > 0, got {l2}.")
    classes, index = np.unique(y, return_inverse=True)
    mean = x.mean(0)
    scale = x.std(0)
    scale = np.where(scale > 1e-12 * max(1.0, float(np.abs(x).max())), scale, 1.0)
    xs = (x - mean) / scale
    targets = np.eye(len(classes))[index]
    bias = targets.mean(0)
    gram = xs.T @ xs + l2 * len(x) * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, xs.T @ (targets - bias))
    return LinearProbe(mean=mean, scale=scale, weights=weights, bias=bias, classes=classes)


def linear_probe_accuracy(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    *,
    l2: float = 1e-3,
) -> float:
    """Held-out accuracy of :func:`fit_linear_probe` fitted on the training features: how
    linearly separable the classes are in this representation (Oyallon, 2017; Jacobsen et
    al., 2018, §4)."""
    xtr, ytr, xte, yte = _pair(train_features, train_labels, test_features, test_labels)
    return fit_linear_probe(xtr, ytr, l2=l2).accuracy(xte, yte)


def nearest_neighbor_accuracy(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    *,
    chunk_size: int = 1024,
) -> float:
    """Held-out accuracy of the Euclidean 1-nearest-neighbour classifier
    ``ŷ(x) = y_{argmin_i ‖x − x_i‖₂}`` (ties go to the first training example).

    1-NN measures *local* separation: it is high when each example's closest neighbours share
    its class, which Oyallon (2017) and Jacobsen et al. (2018, §4) track against depth as a
    sign of contraction. Squared distances are computed as ``‖a‖² − 2a·b + ‖b‖²`` in float64,
    ``chunk_size`` test examples at a time.
    """
    xtr, ytr, xte, yte = _pair(train_features, train_labels, test_features, test_labels)
    correct = 0
    for start in range(0, len(xte), chunk_size):
        block = xte[start : start + chunk_size]
        nearest = _squared_distances(block, xtr).argmin(1)
        correct += int(np.sum(ytr[nearest] == yte[start : start + chunk_size]))
    return correct / len(xte)


@dataclasses.dataclass
class ClassDistances:
    """Mean pairwise Euclidean distances within and between classes.

    Attributes:
        within: mean ``‖x_i − x_j‖`` over pairs ``i ≠ j`` of the same class.
        between: mean ``‖x_i − x_j‖`` over pairs of different classes.
        ratio: ``within / between`` (scale-free: below 1 when classes are contracted relative
            to their spread).
        per_class_within: the within-class mean for each class in ``classes`` (NaN for a
            class with one example).
        classes: the sorted labels.
    """

    within: float
    between: float
    ratio: float
    per_class_within: np.ndarray
    classes: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "within": self.within,
            "between": self.between,
            "ratio": self.ratio,
            "per_class_within": [float(v) for v in self.per_class_within],
            "classes": [int(c) for c in self.classes],
        }


def class_distances(features: Any, labels: Any, *, chunk_size: int = 1024) -> ClassDistances:
    """Within-class and between-class mean distances (Oyallon, 2017; Jacobsen et al., 2018, §4).

        within  = mean_{i ≠ j, y_i = y_j} ‖x_i − x_j‖₂
        between = mean_{y_i ≠ y_j} ‖x_i − x_j‖₂

    A representation that contracts each class relative to the distances between classes has
    a ``ratio = within / between`` well below 1; the ratio, unlike the two distances, does not
    change when the features are rescaled, so it can be compared across depths. Exact (all
    ``N(N − 1)/2`` pairs, ``chunk_size`` rows at a time, float64).

    Raises:
        ValueError: fewer than two classes, or no class with two examples.
    """
    x = _matrix(features, "features")
    y = _labels(labels, len(x), "labels")
    classes, index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError("class_distances needs examples of at least two classes.")
    counts = np.bincount(index, minlength=len(classes)).astype(np.float64)
    if counts.max() < 2:
        raise ValueError("class_distances needs a class with at least two examples.")
    within_sum = np.zeros(len(classes))
    total = 0.0
    for start in range(0, len(x), chunk_size):
        dist = np.sqrt(_squared_distances(x[start : start + chunk_size], x))
        rows = np.arange(start, min(start + chunk_size, len(x)))
        dist[rows - start, rows] = 0.0
        total += dist.sum()
        same = index[rows][:, None] == index[None, :]
        np.add.at(within_sum, index[rows], (dist * same).sum(1))
    within_pairs = counts * (counts - 1)  # ordered pairs i ≠ j
    between_pairs = len(x) * (len(x) - 1) - within_pairs.sum()
    within = float(within_sum.sum() / within_pairs.sum())
    between = float((total - within_sum.sum()) / between_pairs)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(within_pairs > 0, within_sum / within_pairs, np.nan)
    return ClassDistances(
        within=within,
        between=between,
        ratio=within / between if between > 0 else float("inf"),
        per_class_within=per_class,
        classes=classes,
    )


@dataclasses.dataclass
class DepthSeparation:
    """Separation and contraction against depth (:func:`separation_by_depth`).

    Each list has one value per depth.

    Attributes:
        names: depth names (``"input"``, block names).
        depths: blocks applied at each depth.
        dims: feature dimension at each depth.
        linear_probe: held-out accuracy of the ridge least-squares probe.
        nearest_neighbor: held-out 1-NN accuracy.
        within, between, ratio: :func:`class_distances` on the held-out features.
    """

    names: list[str]
    depths: list[int]
    dims: list[int]
    linear_probe: list[float]
    nearest_neighbor: list[float]
    within: list[float]
    between: list[float]
    ratio: list[float]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def separation_by_depth(
    train: DepthFeatures,
    train_labels: Any,
    test: DepthFeatures,
    test_labels: Any,
    *,
    l2: float = 1e-3,
    distance_examples: int | None = 2000,
) -> DepthSeparation:
    """Linear-probe and 1-NN accuracy and within/between-class distances at each depth.

    The probes are fitted on ``train`` and scored on ``test`` (a held-out split); the class
    distances are measured on ``test`` (its first ``distance_examples`` examples: the cost is
    quadratic). The protocol follows Jacobsen et al. (2018, §4) and Oyallon (2017), with the
    closed-form ridge probe of :func:`fit_linear_probe` in place of their linear SVM.

    Args:
        train, test: :func:`depth_features` of the two splits (same model and level).
        train_labels, test_labels: their labels.
        l2: the probe's ridge parameter.
        distance_examples: cap on the examples used for the class distances (``None``: all).
    """
    if train.names != test.names:
        raise ValueError(
            "separation_by_depth: train and test features come from different depths "
            f"({train.names} vs {test.names}); compute both with the same model and level."
        )
    ytr = _labels(train_labels, len(train.features[0]), "train_labels")
    yte = _labels(test_labels, len(test.features[0]), "test_labels")
    keep = slice(None) if distance_examples is None else slice(0, distance_examples)
    probe, nn, within, between, ratio = [], [], [], [], []
    for ftr, fte in zip(train.features, test.features, strict=True):
        probe.append(linear_probe_accuracy(ftr, ytr, fte, yte, l2=l2))
        nn.append(nearest_neighbor_accuracy(ftr, ytr, fte, yte))
        dist = class_distances(fte[keep], yte[keep])
        within.append(dist.within)
        between.append(dist.between)
        ratio.append(dist.ratio)
    return DepthSeparation(
        names=list(test.names),
        depths=list(test.depths),
        dims=[int(f.shape[1]) for f in test.features],
        linear_probe=probe,
        nearest_neighbor=nn,
        within=within,
        between=between,
        ratio=ratio,
    )


# ---------------------------------------------------------------------------------- PCA


@dataclasses.dataclass
class PCAResult:
    """Principal components of a set of feature vectors.

    Attributes:
        mean: the features' mean ``μ``, ``(d,)``.
        components: ``(k, d)``, orthonormal rows, by decreasing variance.
        singular_values: ``s``, ``(k,)``, of the centred data matrix.
        explained_variance: ``s² / (n − 1)``, the variance along each component.
        explained_variance_ratio: ``s² / Σ s²`` (over all components, kept or not).
    """

    mean: np.ndarray
    components: np.ndarray
    singular_values: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, features: Any) -> np.ndarray:
        """The coordinates ``(x − μ) Vᵀ``, ``(N, k)``."""
        return (_matrix(features, "features") - self.mean) @ self.components.T

    def components_for(self, fraction: float) -> int:
        """The fewest components whose explained variance ratio adds up to ``fraction``."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
        cumulative = np.cumsum(self.explained_variance_ratio)
        hits = np.flatnonzero(cumulative >= fraction - 1e-12)
        return int(hits[0]) + 1 if len(hits) else len(cumulative)


def pca(features: Any, n_components: int | None = None) -> PCAResult:
    """Principal component analysis by the SVD of the centred data (Pearson, 1901; Hotelling,
    1933): ``X − μ = U S Vᵀ``; the components are the rows of ``Vᵀ`` and the variance along
    component ``k`` is ``s_k² / (n − 1)``, the ``k``-th eigenvalue of the sample covariance.

    Args:
        features: ``(n, d)``, ``n ≥ 2``.
        n_components: keep this many (default ``min(n, d)``).
    """
    x = _matrix(features, "features")
    if len(x) < 2:
        raise ValueError("pca needs at least two examples.")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = len(s) if n_components is None else int(n_components)
    if not 1 <= k <= len(s):
        raise ValueError(f"pca: n_components must be between 1 and {len(s)}, got {n_components}.")
    energy = s**2
    total = energy.sum()
    return PCAResult(
        mean=mean,
        components=vt[:k],
        singular_values=s[:k],
        explained_variance=energy[:k] / (len(x) - 1),
        explained_variance_ratio=energy[:k] / total if total > 0 else np.zeros(k),
    )


# ---------------------------------------------------------------------------------- interpolation


@dataclasses.dataclass
class Interpolation:
    """A straight line between two representations, mapped back to images.

    Attributes:
        t: the interpolation weights, ``(T,)``.
        images: ``Φ⁻¹((1 − t) Φ(x₀) + t Φ(x₁))``, ``(T, H, W, C)``.
        pixel_images: ``(1 − t) x₀ + t x₁`` for comparison, ``(T, H, W, C)``.
        endpoint_errors: ``max |images[t=0] − x₀| / max |x₀|`` and the same at ``t = 1``
            (``NaN`` where ``t`` holds no 0 or 1).
        range_errors: ``‖Φ(x_t) − z_t‖₂ / ‖z_t‖₂`` for each ``t``: how far the interpolated
            representation ``z_t`` is from the range of ``Φ`` (round-off for a bijective
            network and at the endpoints; possibly large in between for an injective one).
    """

    t: np.ndarray
    images: np.ndarray
    pixel_images: np.ndarray
    endpoint_errors: tuple[float, float]
    range_errors: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": self.t.tolist(),
            "endpoint_errors": list(self.endpoint_errors),
            "range_errors": self.range_errors.tolist(),
        }


def interpolate(
    model: Any,
    x0: Any,
    x1: Any,
    t: int | Sequence[float] = 8,
) -> Interpolation:
    """Interpolate between two images in feature space and invert (Jacobsen et al., 2018, §4):

        x_t = Φ⁻¹((1 − t) Φ(x₀) + t Φ(x₁)),    t ∈ [0, 1].

    ``x_0 = x₀`` and ``x_1 = x₁`` up to the inverse's round-off. In between, the line is
    straight in the learned representation, not in pixels. For a bijective i-RevNet every
    ``z_t`` is the representation of ``x_t``; for an injective one ``z_t`` need not lie in the
    range of ``Φ`` and ``Φ⁻¹`` is only a left inverse (the padded channels are dropped), so
    ``Φ(x_t) ≠ z_t``: :attr:`Interpolation.range_errors` measures by how much.

    Args:
        model: has ``features`` and ``inverse`` (an :class:`~keraslab.models.irevnet.IRevNet`).
        x0, x1: two images ``(H, W, C)`` (or batches of one) in the model's input format.
        t: the weights, or their number (evenly spaced from 0 to 1, at least 2).
    """
    for method in ("features", "inverse"):
        if not callable(getattr(model, method, None)):
            raise ValueError(
                f"interpolate needs a model with features(x) and inverse(z); "
                f"{type(model).__name__} has no {method}()."
            )
    a, b = np.asarray(x0, np.float32), np.asarray(x1, np.float32)
    a = a[None] if a.ndim == 3 else a
    b = b[None] if b.ndim == 3 else b
    if a.shape != b.shape or a.ndim != 4 or len(a) != 1:
        raise ValueError(
            f"interpolate expects two images of the same shape (H, W, C), got {np.shape(x0)} "
            f"and {np.shape(x1)}."
        )
    if isinstance(t, int | np.integer):
        if t < 2:
            raise ValueError(f"interpolate: t must be at least 2 steps, got {t}.")
        ts = np.linspace(0.0, 1.0, int(t))
    else:
        ts = np.asarray(t, np.float64).reshape(-1)
        if len(ts) == 0:
            raise ValueError("interpolate: t is empty.")
    z = np.asarray(model.features(np.concatenate([a, b])), np.float64)
    w = ts.reshape(-1, *([1] * (z.ndim - 1)))
    zt = ((1.0 - w) * z[0] + w * z[1]).astype(np.float32)
    images = np.asarray(model.inverse(zt))
    again = np.asarray(model.features(images), np.float64).reshape(len(ts), -1)
    flat = zt.reshape(len(ts), -1).astype(np.float64)
    range_errors = np.linalg.norm(again - flat, axis=1) / np.maximum(
        np.linalg.norm(flat, axis=1), 1e-30
    )
    pixels = ((1.0 - w) * a[0].astype(np.float64) + w * b[0]).astype(np.float32)

    def endpoint(value: float, target: np.ndarray) -> float:
        hits = np.flatnonzero(ts == value)
        if not len(hits):
            return float("nan")
        err = np.abs(images[hits[0]].astype(np.float64) - target).max()
        return float(err / max(float(np.abs(target).max()), 1e-30))

    return Interpolation(
        t=ts,
        images=images,
        pixel_images=pixels,
        endpoint_errors=(endpoint(0.0, a[0]), endpoint(1.0, b[0])),
        range_errors=range_errors,
    )
