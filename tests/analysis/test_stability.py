"""Stability properties of Scattering2D (Mallat, 2012; Bruna & Mallat, 2013), measured.

Each bound below was measured first (numbers in the comments, Fashion-MNIST sample, float32)
and asserted with a margin that the theory justifies, not fitted to the measurement.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from keraslab.analysis import (
    coefficient_orders,
    coefficient_paths,
    deform,
    deformation_stability,
    displacement_field,
    energy,
    fourier_modulus,
    littlewood_paley_sum,
    nonexpansiveness,
    rotation_covariance,
    shift_images,
    translation_invariance,
)
from keraslab.data import load_arrays
from keraslab.layers import Scattering2D
from keraslab.layers.scattering import num_coefficients


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """16 Fashion-MNIST test images in [0, 1], (16, 28, 28, 1)."""
    return load_arrays("fashion_mnist_sample", "test").images[:16].astype(np.float32) / 255


@pytest.fixture(scope="module")
def images32(images) -> np.ndarray:
    """The same on 32×32 (2 black pixels added per side), a multiple of 2**3."""
    return np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))


@pytest.fixture(scope="module")
def s3() -> Scattering2D:
    return Scattering2D(J=3)


def test_coefficient_layout_matches_the_layer():
    paths = coefficient_paths(3, 8, 2)
    assert len(paths) == num_coefficients(3, 8, 2) == 1 + 24 + 3 * 64
    assert paths[0] == () and paths[1 + 1 * 8 + 5] == ((1, 5),)
    assert paths[25] == ((0, 0), (1, 0)) and paths[25 + 8] == ((0, 0), (2, 0))
    assert np.bincount(coefficient_orders(3, 8, 2)).tolist() == [1, 24, 192]
    assert coefficient_orders(2, 8, 1).tolist() == [0] + [1] * 16


def test_littlewood_paley_sum_is_close_to_one():
    # Measured: max A = 1.0186 (J=3), 1.00006 (J=2); min A = 0.123 (corners of the spectrum).
    assert 1.0 < littlewood_paley_sum(32, 32, 3).max() < 1.02
    assert littlewood_paley_sum(28, 28, 2).max() < 1.001


def test_scattering_is_nonexpansive(images32, s3):
    # Bound: a two-layer transform whose layers have frame bound max A = 1.0186 (J=3) is
    # max A-Lipschitz; the 2**J subsampling adds aliasing, so allow 5 % over 1.
    rng = np.random.default_rng(0)
    real = nonexpansiveness(s3, images32[:8], images32[8:16])
    noise = rng.standard_normal((8, 32, 32, 1)).astype(np.float32)
    random = nonexpansiveness(s3, noise, rng.standard_normal(noise.shape).astype(np.float32))
    near = nonexpansiveness(s3, images32[:8], images32[:8] + 0.01 * noise)
    # Measured max (mean): real pairs 0.80 (0.67); white noise 0.19 (0.17); small noise on
    # real images 0.50 (0.40). White noise is mostly in the spectrum's corners, where A ≈ 0.12.
    for result in (real, random, near):
        assert result.scale == 8.0
        assert result.max_ratio <= 1.05
        assert np.all(result.ratios > 0)
    assert real.max_ratio > 0.5  # the normalization is not off by a power of 2
    # A constant difference lives in order 0 (φ̂(0) = 1), which the 2**J normalization
    # makes exactly energy-preserving: the ratio is 1.
    const = nonexpansiveness(s3, images32[:2], images32[:2] + 0.1)
    np.testing.assert_allclose(const.ratios, 1.0, atol=1e-3)
    json.dumps(real.to_dict())


def test_energy_per_order_decays(images, images32, s3):
    # Measured (centered images), mean fractions of ‖x‖²:
    #   J=2 on 28×28: 0.617, 0.191, 0.017 (total 0.83); J=3 on 32×32: 0.408, 0.304, 0.053 (0.76).
    for phi, x in ((Scattering2D(J=2), images), (s3, images32)):
        result = energy(phi, x)
        assert result.fractions.shape == (len(x), 3)
        totals = result.fractions.sum(axis=1)
        assert np.all(totals <= 1.02)  # ≤ max A; orders > 2 and j2 ≤ j1 are missing
        assert np.all(totals > 0.6)
        f0, f1, f2 = result.mean_fractions
        assert f0 > f1 > f2 > 0
        assert f2 < 0.1  # Bruna & Mallat (2013): order ≥ 2 carries little energy
    # Uncentered, the mean brightness adds to order 0 only (wavelets have zero mean).
    raw, centered = energy(s3, images32, center=False), energy(s3, images32)
    assert raw.mean_fractions[0] > centered.mean_fractions[0]
    np.testing.assert_allclose(
        raw.order_energy[:, 1:], centered.order_energy[:, 1:], rtol=1e-3, atol=1e-6
    )
    json.dumps(raw.to_dict())
    with pytest.raises(ValueError, match="orders"):
        energy(fourier_modulus, images32)


def test_translation_invariance_grows_with_the_shift(images32, s3):
    shifts = [1, 2, 4, 8]
    curve = translation_invariance(s3, images32[:8], shifts)
    # Measured means, J=3: Φ 0.10, 0.20, 0.34, 0.65; pixels 0.38, 0.54, 0.73, 0.95.
    assert np.all(curve.representation[0] < 0.5 * curve.pixels[0])  # measured ≤ 0.36×
    assert curve.mean_representation[0] < 0.15
    assert np.all(np.diff(curve.mean_representation) > 0)
    assert np.all(curve.mean_representation < curve.mean_pixels)
    zero = translation_invariance(s3, images32[:4], [(1, 1)], mode="zero")
    assert zero.shifts.tolist() == [[1, 1]]
    assert zero.mean_representation[0] < 0.5 * zero.mean_pixels[0]
    json.dumps(curve.to_dict())


def test_shift_images_modes():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(shift_images(x, 1)[0, :, 1, 0], x[0, :, 0, 0])
    z = shift_images(x, (1, -1), mode="zero")
    assert z[0, 0].sum() == 0 and z[0, :, -1].sum() == 0
    np.testing.assert_array_equal(z[0, 1:, :-1], x[0, :-1, 1:])


def test_displacement_fields_have_the_requested_gradient():
    for kind in ("random", "dilation", "rotation"):
        tau = displacement_field(32, 32, 0.1, kind, seed=3)
        jac = np.stack([np.stack(np.gradient(tau[..., i]), -1) for i in range(2)], -2)
        assert np.max(np.linalg.norm(jac, ord=2, axis=(-2, -1))) == pytest.approx(0.1, rel=1e-6)
    # A constant field is a translation: bilinear resampling by whole pixels is exact.
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype(np.float32)
    moved = deform(x, np.broadcast_to(np.array([1.0, 2.0]), (8, 8, 2)))
    np.testing.assert_allclose(moved, shift_images(x, (1, 2), mode="zero"), atol=1e-6)


def test_deformations_move_scattering_less_than_the_fourier_modulus(images32, s3):
    strengths = [0.02, 0.05, 0.1]
    curve = deformation_stability(s3, images32[:8], strengths, seed=0)
    # Measured (random smooth field, ‖τ‖∞ = 0.16, 0.39, 0.79 px), means:
    #   Φ 0.014, 0.032, 0.056; |x̂| 0.023, 0.057, 0.107; max per-image Φ/|x̂| 0.71.
    assert np.all(curve.representation < 0.85 * curve.fourier)
    assert np.all(curve.mean_representation < 0.65 * curve.mean_fourier)
    # Roughly linear in ‖∇τ‖∞ (Mallat 2012, Thm 2.12): each ratio within 30 % of the
    # strengths' ratio (measured 2.33 for ×2.5 and 1.76 for ×2).
    growth = curve.mean_representation[1:] / curve.mean_representation[:-1]
    expected = np.array(strengths[1:]) / np.array(strengths[:-1])
    assert np.all(np.abs(growth / expected - 1) < 0.3)
    assert curve.mean_representation[0] < 0.03
    json.dumps(curve.to_dict())
    # A small dilation too (measured Φ 0.049, |x̂| 0.084 at 0.02).
    dilation = deformation_stability(s3, images32[:8], [0.02], kind="dilation")
    assert np.all(dilation.representation < dilation.fourier)


def test_fourier_modulus_is_translation_invariant_and_nonexpansive(images):
    np.testing.assert_allclose(
        fourier_modulus(np.roll(images[:4], 5, axis=2)), fourier_modulus(images[:4]), atol=1e-5
    )
    ratios = nonexpansiveness(fourier_modulus, images[:4], images[4:8]).ratios
    assert np.all(ratios <= 1 + 1e-5)


def test_quarter_turns_permute_orientations_by_half_of_l(images):
    # In a zero canvas of 2**(J+1) pixels, turned about the sampling grid's centre, the
    # covariance is exact: measured ≤ 3e-7 (J=2). Unpermuted, order 1 is off by 0.82.
    layer = Scattering2D(J=2)
    x = np.pad(images[:4], ((0, 0), (8, 8), (8, 8), (0, 0)))
    result = rotation_covariance(layer, x)
    assert result.theta_shift == 4
    assert max(result.max_error.values()) < 1e-5
    assert np.all(result.unpermuted_error[1] > 0.3)
    assert np.all(result.unpermuted_error[2] > 0.3)
    half = rotation_covariance(layer, x, quarter_turns=2)
    assert half.theta_shift == 0 and max(half.max_error.values()) < 1e-5
    # np.rot90 turns about the image centre, 2**J − 1 = 3 pixels off the sampling grid's:
    # measured errors 0.45 (order 0) to 0.82 (order 1).
    plain = rotation_covariance(layer, x, align=False)
    assert min(plain.max_error.values()) > 0.1
    json.dumps(result.to_dict())


def test_rotation_covariance_rejects_bad_inputs(images):
    with pytest.raises(ValueError, match="even L"):
        rotation_covariance(Scattering2D(J=1, L=3), images[:1])
    with pytest.raises(ValueError, match="square"):
        rotation_covariance(Scattering2D(J=1), images[:1, :, :20])
