"""keraslab.ops.warp, L_τ x(u) = x(u − τ(u)): against a NumPy reference, the values the two
warps it replaced gave, and the same deformation from training and from analysis."""

import numpy as np
import pytest
import tensorflow as tf

from keraslab.analysis.stability import deform, shift_images
from keraslab.ops import warp
from keraslab.training.transforms import Rotate, Shift

X = (np.arange(20, dtype=np.float32).reshape(1, 5, 4, 1) - 9.5) / 4


def field():
    tau = np.zeros((5, 4, 2))
    tau[..., 0] = np.linspace(-0.7, 0.9, 4)[None, :]
    tau[..., 1] = np.linspace(0.3, -1.2, 5)[:, None]
    return tau


def reference(x, tau):
    """x(u − τ(u)) by bilinear interpolation over the four neighbours, zero outside."""
    b, h, w, _ = x.shape
    tau = np.broadcast_to(tau, (b, h, w, 2))
    out = np.zeros(x.shape, np.float64)
    for n in range(b):
        for i in range(h):
            for j in range(w):
                py, px = i - tau[n, i, j, 0], j - tau[n, i, j, 1]
                y0, x0 = int(np.floor(py)), int(np.floor(px))
                for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
                    for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
                        if 0 <= yy < h and 0 <= xx < w:
                            out[n, i, j] += wy * wx * x[n, yy, xx]
    return out


def test_warp_equals_the_reference_in_float32_and_float64():
    x = np.random.default_rng(0).normal(size=(2, 6, 7, 3)).astype("float32")
    tau = np.random.default_rng(1).uniform(-2.5, 2.5, size=(2, 6, 7, 2))
    want = reference(x, tau)
    np.testing.assert_allclose(warp(x, tau.astype("float32")).numpy(), want, atol=2e-6)
    got64 = warp(x.astype("float64"), tau).numpy()
    assert got64.dtype == np.float64
    np.testing.assert_allclose(got64, want, atol=1e-12)


def test_a_constant_field_moves_the_content_by_tau():
    x = np.random.default_rng(0).normal(size=(2, 6, 5, 1)).astype("float32")
    np.testing.assert_array_equal(
        warp(x, np.array([1.0, 2.0], "float32")), shift_images(x, (1, 2), mode="zero")
    )
    np.testing.assert_array_equal(
        warp(x, np.array([-2.0, 0.0], "float32")), shift_images(x, (-2, 0), mode="zero")
    )
    with pytest.raises(ValueError, match="static height"):
        warp(tf.zeros([2, 5]), tf.zeros([2]))


def test_warp_gives_the_values_of_both_warps_it_replaced():
    # training.transforms.warp sampled x(p + d): with d = (0.25, −1.5) it gave (old code):
    old_training = [
        [0.0, -1.0625, -2.0, -1.75],
        [0.0, -0.5625, -1.0, -0.75],
        [0.0, -0.0625, 0.0, 0.25],
        [0.0, 0.4375, 1.0, 1.25],
        [0.0, 0.609375, 1.3125, 1.5],
    ]
    got = warp(X, np.array([-0.25, 1.5], "float32")).numpy()[0, ..., 0]
    np.testing.assert_array_equal(got, np.float32(old_training))
    # analysis.stability.deform sampled x(u − τ) in NumPy: for field() it gave (old code):
    old_stability = [
        [-1.1725000143051147, -2.0333333015441895, -1.2350000143051147, -0.17000000178813934],
        [-0.65625, -0.9395833611488342, -1.2229167222976685, -1.4106249809265137],
        [0.4375, 0.15416666865348816, -0.12916666269302368, -0.2887499928474426],
        [1.53125, 1.2479166984558105, 0.9645833373069763, 0.08312500268220901],
        [0.5774999856948853, 1.8125, 1.6066666841506958, 0.0],
    ]
    np.testing.assert_array_equal(deform(X, field())[0, ..., 0], np.float32(old_stability))


def test_training_and_analysis_deform_the_same_way():
    x = np.random.default_rng(3).normal(size=(2, 9, 9, 1)).astype("float32")
    shifted = Shift(0.5, -1.25)(x).numpy()
    np.testing.assert_allclose(shifted, deform(x, np.array([0.5, -1.25])), atol=1e-6)
    # A rotation is a deformation field too.
    from keraslab.training.transforms import rotation_displacement

    tau = rotation_displacement(9, 9, 20.0).numpy()
    np.testing.assert_allclose(Rotate(20)(x).numpy(), deform(x, tau), atol=1e-6)
