"""Scattering2D equals Kymatio 0.3's NumPy front end, coefficient for coefficient.

Mapping (documented in Scattering2D's docstring): Kymatio takes ``(B, C, H, W)`` and returns
``(B, C, K, h, w)``; keraslab takes ``(B, H, W, C)`` and returns ``(B, h, w, C·K)`` with channel
``c·K + k``.
"""

import functools

import numpy as np
import pytest

from keraslab.layers import Scattering2D
from keraslab.layers.scattering import num_coefficients

kymatio_numpy = pytest.importorskip("kymatio.numpy")

TOLERANCE = 1e-5  # max |ours − kymatio| / max |kymatio|


@functools.cache
def kymatio_transform(J, L, max_order, size):
    return kymatio_numpy.Scattering2D(J=J, shape=size, L=L, max_order=max_order)


def to_channels_last(kymatio_out):
    """(B, C, K, h, w) → (B, h, w, C·K), channel c·K + k."""
    B, C, K, h, w = kymatio_out.shape
    return kymatio_out.transpose(0, 3, 4, 1, 2).reshape(B, h, w, C * K)


def relative_error(ours, ref):
    return np.abs(ours - ref).max() / np.abs(ref).max()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(28, 28), (32, 32)])
@pytest.mark.parametrize("max_order", [1, 2])
@pytest.mark.parametrize("L", [4, 8])
@pytest.mark.parametrize("J", [1, 2, 3])
def test_equals_kymatio_numpy(J, L, max_order, size, channels):
    rng = np.random.default_rng(J * 1000 + L * 100 + max_order * 10 + channels)
    # Images with a non-zero mean, like pixels, so the zeroth order is not trivially small.
    x = rng.random((2, *size, channels)) + 0.1 * rng.standard_normal((2, *size, channels))
    x = x.astype(np.float32)
    ref = kymatio_transform(J, L, max_order, size)(x.transpose(0, 3, 1, 2))
    K = num_coefficients(J, L, max_order)
    assert ref.shape == (2, channels, K, size[0] // 2**J, size[1] // 2**J)

    ours = Scattering2D(J, L=L, max_order=max_order)(x).numpy()

    assert ours.shape == (2, size[0] // 2**J, size[1] // 2**J, channels * K)
    assert relative_error(ours, to_channels_last(ref)) < TOLERANCE


def test_coefficient_mapping_by_hand():
    """Channel c·K + k of ours is coefficient k of channel c in Kymatio (checked index by index)."""
    rng = np.random.default_rng(0)
    x = rng.random((1, 16, 16, 2)).astype(np.float32)
    ref = kymatio_transform(2, 4, 2, (16, 16))(x.transpose(0, 3, 1, 2))
    ours = Scattering2D(2, L=4)(x).numpy()
    paths = Scattering2D(2, L=4, output_layout="paths")(x).numpy()
    K = num_coefficients(2, 4, 2)
    scale = np.abs(ref).max()
    for c in range(2):
        for k in (0, 1, 4, 8, K - 1):
            np.testing.assert_allclose(ours[0, :, :, c * K + k], ref[0, c, k], atol=1e-5 * scale)
            np.testing.assert_allclose(paths[0, :, :, c, k], ref[0, c, k], atol=1e-5 * scale)


@pytest.mark.parametrize("size", [(8, 8), (17, 30)])
def test_odd_and_minimal_sizes_equal_kymatio(size):
    """Odd sizes (uneven padding) and H = 2**J (padding larger than the image) follow Kymatio."""
    rng = np.random.default_rng(1)
    x = rng.random((2, *size, 1)).astype(np.float32)
    ref = kymatio_transform(3, 8, 2, size)(x.transpose(0, 3, 1, 2))
    ours = Scattering2D(3)(x).numpy()
    assert relative_error(ours, to_channels_last(ref)) < TOLERANCE


def test_float64_equals_kymatio():
    rng = np.random.default_rng(2)
    x = rng.random((2, 28, 28, 1))
    ref = kymatio_transform(2, 8, 2, (28, 28))(x.transpose(0, 3, 1, 2))
    ours = Scattering2D(2, dtype="float64")(x)
    assert ours.dtype == "float64"
    # Kymatio's filters are float32, ours float64: agreement is float32-limited.
    assert relative_error(ours.numpy(), to_channels_last(ref)) < TOLERANCE


@pytest.mark.parametrize("L", [1, 3])
def test_odd_number_of_orientations_equals_kymatio(L):
    """With an odd L the last orientation has no partner to share a complex FFT with."""
    rng = np.random.default_rng(3)
    x = rng.random((2, 16, 16, 1)).astype(np.float32)
    ref = kymatio_transform(2, L, 2, (16, 16))(x.transpose(0, 3, 1, 2))
    ours = Scattering2D(2, L=L)(x).numpy()
    assert relative_error(ours, to_channels_last(ref)) < TOLERANCE
