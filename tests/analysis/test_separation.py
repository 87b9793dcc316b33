"""Separation and contraction against depth, PCA and feature-space interpolation: each measure
against a case whose answer is known (separable clusters, identical splits, brute-force
distances, NumPy's covariance eigenvalues) and on an i-RevNet (shapes, taps equal to the
network's own features, exact interpolation endpoints)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keraslab.analysis.separation import (
    DepthFeatures,
    class_distances,
    depth_features,
    fit_linear_probe,
    interpolate,
    linear_probe_accuracy,
    nearest_neighbor_accuracy,
    pca,
    separation_by_depth,
)
from keraslab.models.irevnet import IRevNet, irevnet_mnist


def clusters(n_per_class=30, classes=4, dim=6, spread=0.5, distance=10.0, seed=0):
    """Gaussian clusters around the first `classes` vertices of a scaled simplex."""
    rng = np.random.default_rng(seed)
    centers = distance * np.eye(dim)[:classes]
    x = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centers])
    return x, np.repeat(np.arange(classes), n_per_class)


@pytest.fixture(scope="module")
def model():
    return irevnet_mnist()


def images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 28, 28, 1)).astype(np.float32)


# --------------------------------------------------------------------------- probes


def test_linear_probe_separates_separable_clusters_perfectly():
    xtr, ytr = clusters(seed=0)
    xte, yte = clusters(seed=1)
    assert linear_probe_accuracy(xtr, ytr, xte, yte) == 1.0
    # Labels need not be 0..K-1, and the probe is deterministic.
    probe = fit_linear_probe(xtr, ytr + 5)
    assert set(probe.predict(xte)) == {5, 6, 7, 8}
    np.testing.assert_array_equal(probe.weights, fit_linear_probe(xtr, ytr + 5).weights)


def test_linear_probe_is_at_chance_on_random_labels():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2000, 20))
    y = rng.integers(0, 10, 2000)
    accuracy = linear_probe_accuracy(x[:1000], y[:1000], x[1000:], y[1000:])
    assert 0.05 < accuracy < 0.16  # chance is 0.1; binomial sd ≈ 0.01


def test_linear_probe_ignores_constant_features():
    xtr, ytr = clusters(seed=0)
    xte, yte = clusters(seed=1)
    pad = lambda x: np.concatenate([np.zeros((len(x), 3)), x], axis=1)  # noqa: E731
    assert linear_probe_accuracy(pad(xtr), ytr, pad(xte), yte) == 1.0


def test_nearest_neighbor_is_exact_on_identical_splits_and_matches_brute_force():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((150, 8))
    y = rng.integers(0, 5, 150)
    assert nearest_neighbor_accuracy(x, y, x, y, chunk_size=64) == 1.0
    xte, yte = rng.standard_normal((60, 8)), rng.integers(0, 5, 60)
    nearest = np.array([np.argmin(((x - q) ** 2).sum(1)) for q in xte])
    expected = np.mean(y[nearest] == yte)
    assert nearest_neighbor_accuracy(x, y, xte, yte, chunk_size=7) == pytest.approx(expected)


# --------------------------------------------------------------------------- distances


def test_class_distances_match_brute_force_and_are_scale_free():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 3))
    y = rng.integers(0, 3, 40)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    off = ~np.eye(40, dtype=bool)
    same = (y[:, None] == y[None]) & off
    result = class_distances(x, y, chunk_size=16)
    assert result.within == pytest.approx(d[same].mean(), rel=1e-10)
    assert result.between == pytest.approx(d[y[:, None] != y[None]].mean(), rel=1e-10)
    assert result.per_class_within[1] == pytest.approx(
        d[same & (y[:, None] == 1)].mean(), rel=1e-10
    )
    assert class_distances(7.0 * x, y).ratio == pytest.approx(result.ratio, rel=1e-10)
    json.dumps(result.to_dict())


def test_within_is_smaller_than_between_on_separated_clusters():
    x, y = clusters(spread=0.5, distance=10.0)
    result = class_distances(x, y)
    # Within a class: E‖e − e'‖ with e − e' ~ N(0, 2·0.25·I₆) ≈ 0.5·√2·√6·(1 − 1/24) ≈ 1.66;
    # between: ≈ ‖c − c'‖ = 10√2 ≈ 14.1.
    assert result.within < 2.0 < 13.0 < result.between
    assert result.ratio < 0.15


def test_input_errors_name_the_problem():
    x, y = clusters()
    with pytest.raises(ValueError, match="one per example"):
        linear_probe_accuracy(x, y[:-1], x, y)
    with pytest.raises(ValueError, match="same number of features"):
        nearest_neighbor_accuracy(x, y, x[:, :2], y)
    with pytest.raises(ValueError, match="at least two classes"):
        class_distances(x, np.zeros(len(x), int))
    with pytest.raises(ValueError, match="NaN"):
        pca(np.full((3, 2), np.nan))


# --------------------------------------------------------------------------- PCA


def test_pca_explained_variance_matches_numpy_covariance():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((200, 5)) @ rng.standard_normal((5, 5)) + 3.0
    result = pca(x)
    eigenvalues = np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1]
    np.testing.assert_allclose(result.explained_variance, eigenvalues, rtol=1e-10)
    np.testing.assert_allclose(result.explained_variance_ratio.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(result.components @ result.components.T, np.eye(5), atol=1e-12)
    # Projections are uncorrelated, with the explained variances as variances.
    np.testing.assert_allclose(
        np.cov(result.transform(x), rowvar=False), np.diag(eigenvalues), atol=1e-9
    )
    two = pca(x, n_components=2)
    assert two.components.shape == (2, 5)
    np.testing.assert_allclose(two.explained_variance_ratio, result.explained_variance_ratio[:2])
    assert result.components_for(1.0) == 5 and two.components_for(0.01) == 1


# --------------------------------------------------------------------------- on an i-RevNet


def test_depth_features_tap_every_block_and_end_at_the_networks_features(model):
    x = images(5)
    feats = depth_features(model, x, batch_size=2)
    assert feats.names[0] == "input" and feats.names[-1] == "stage2_block4"
    assert feats.depths == list(range(9))
    assert [f.shape for f in feats.features] == [(5, 32)] * 5 + [(5, 128)] * 4
    final = np.asarray(model.features(x)).mean(axis=(1, 2))
    np.testing.assert_allclose(feats.features[-1], final, rtol=1e-5, atol=1e-6)
    # Depth 0: after ψ and the 28 zero channels (first), the four 2×2 sub-grid means.
    np.testing.assert_allclose(feats.features[0][:, :28], 0.0)
    np.testing.assert_allclose(feats.features[0][:, 28:].mean(1), x.mean(axis=(1, 2, 3)), atol=1e-6)
    stages = depth_features(model, x, level="stage", include_input=False)
    assert stages.names == ["stage1_block4", "stage2_block4"] and stages.depths == [4, 8]
    # Batches of 2 vs the default size: oneDNN may sum in another order (2e-8 seen here).
    np.testing.assert_allclose(stages.features[1], feats.features[-1], rtol=1e-6, atol=1e-7)


def test_separation_by_depth_on_an_irevnet(model):
    xtr, xte = images(40, seed=1), images(20, seed=2)
    ytr, yte = np.arange(40) % 4, np.arange(20) % 4
    train, test = depth_features(model, xtr), depth_features(model, xte)
    result = separation_by_depth(train, ytr, test, yte, distance_examples=12)
    assert result.names == test.names and result.dims == [32] * 5 + [128] * 4
    for values in (result.linear_probe, result.nearest_neighbor):
        assert len(values) == 9 and all(0.0 <= v <= 1.0 for v in values)
    np.testing.assert_allclose(result.ratio, np.divide(result.within, result.between))
    assert result.within[0] == pytest.approx(
        class_distances(test.features[0][:12], yte[:12]).within
    )
    json.dumps(result.to_dict())
    other = DepthFeatures(names=["input"], depths=[0], features=[test.features[0]])
    with pytest.raises(ValueError, match="different depths"):
        separation_by_depth(train, ytr, other, yte)


def test_interpolation_endpoints_are_the_images(model):
    x = images(2, seed=3)
    result = interpolate(model, x[0], x[1], t=5)
    assert result.images.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(result.t, [0.0, 0.25, 0.5, 0.75, 1.0])
    for image, target in ((result.images[0], x[0]), (result.images[-1], x[1])):
        assert np.abs(image - target).max() / np.abs(target).max() <= 1e-5
    assert max(result.endpoint_errors) <= 1e-5
    np.testing.assert_allclose(result.pixel_images[2], (x[0] + x[1]) / 2, rtol=1e-6, atol=1e-6)
    # In between, the feature-space path is not the pixel-space one.
    assert np.abs(result.images[2] - result.pixel_images[2]).max() > 1e-3
    assert max(result.range_errors[[0, -1]]) <= 1e-5  # the endpoints are in Φ's range
    assert np.isnan(interpolate(model, x[0], x[1], t=[0.5]).endpoint_errors[0])
    with pytest.raises(ValueError, match="same shape"):
        interpolate(model, x[0], x[1, :14])


def test_interpolation_stays_in_the_range_of_a_bijective_irevnet():
    """16×16×3 → ψ 8×8×12 → one stride-2 block 4×4×48 → one stride-1 block: as many entries as
    pixels, so every z_t is some image's representation and Φ(Φ⁻¹(z_t)) = z_t."""
    bijective = IRevNet(
        (16, 16, 3), 10, blocks=(1, 1), strides=(2, 1), channels=(24, 24), init_ds=2
    )
    assert not bijective.injective
    x = np.random.default_rng(4).standard_normal((2, 16, 16, 3)).astype(np.float32)
    result = interpolate(bijective, x[0], x[1], t=[0.0, 0.3, 0.7, 1.0])
    assert result.range_errors.max() <= 1e-5
    assert max(result.endpoint_errors) <= 1e-5
