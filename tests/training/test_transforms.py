"""Image transformations as TF ops: exact against NumPy, random ones within their ranges,
serializable, and compiled by XLA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.errors import InputSpecError, UnknownNameError
from keraslab.ops import warp
from keraslab.training.transforms import (
    ElasticDeformation,
    FlipLeftRight,
    Identity,
    RandomRotate,
    RandomShift,
    Rotate,
    Shift,
    elastic_displacement,
    get_transform,
)


def images(n=3, h=7, w=7, c=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, h, w, c)).astype("float32")


def shifted(x, dy, dx):
    """Content moved down by dy and right by dx, zero fill (NumPy reference)."""
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_deterministic_transforms_equal_numpy():
    x = images()
    for dy, dx in [(2, -1), (0, 3), (-1, 0), (7, 0)]:
        np.testing.assert_array_equal(Shift(dy, dx)(x).numpy(), shifted(x, dy, dx))
    for k in (1, 2, 3):
        np.testing.assert_allclose(
            Rotate(90 * k)(x).numpy(), np.rot90(x, k, axes=(1, 2)), atol=1e-5
        )
    np.testing.assert_array_equal(FlipLeftRight()(x).numpy(), x[:, :, ::-1])
    np.testing.assert_array_equal(Identity()(x).numpy(), x)
    # A half-pixel shift is the bilinear average of the two neighbours.
    half = Shift(0, 0.5)(x).numpy()
    np.testing.assert_allclose(half[:, :, 1:], (x[:, :, 1:] + x[:, :, :-1]) / 2, atol=1e-6)


def test_warp_displacement_per_sample_and_rectangular_images():
    x = images(n=2, h=5, w=8)
    tau = np.array([[1.0, 0.0], [0.0, -2.0]], "float32").reshape(2, 1, 1, 2)
    out = warp(x, tau).numpy()
    np.testing.assert_array_equal(out[0], shifted(x[:1], 1, 0)[0])
    np.testing.assert_array_equal(out[1], shifted(x[1:], 0, -2)[0])
    np.testing.assert_allclose(Rotate(180)(x).numpy(), x[:, ::-1, ::-1], atol=1e-5)


def test_random_transforms_stay_in_their_range_and_vary_per_sample():
    x = np.tile(images(n=1, h=9, w=9, c=1), (64, 1, 1, 1))
    out = RandomShift(2)(x).numpy()
    found = set()
    for o in out:
        hits = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if np.array_equal(o, shifted(x[:1], dy, dx)[0])
        ]
        assert hits, "every output is a whole-pixel shift by at most 2"
        found.add(hits[0])
    assert len(found) > 5
    rotated = RandomRotate(10)(x).numpy()
    assert len({o.tobytes() for o in rotated}) == 64
    field = elastic_displacement(tf.constant(4), 9, 9, magnitude=1.5, smoothness=2.0).numpy()
    rms = np.sqrt(np.mean(field**2, axis=(1, 2, 3)))
    np.testing.assert_allclose(rms, 1.5, rtol=1e-5)
    # Smooth: neighbouring displacements differ far less than the field's size.
    assert np.abs(np.diff(field, axis=1)).mean() < 0.5 * np.abs(field).mean()
    assert ElasticDeformation(0.0)(x).numpy() == pytest.approx(x, abs=1e-6)


def test_transforms_compile_under_xla_and_round_trip_their_config():
    transforms = [
        Shift(1, -2),
        Rotate(30),
        FlipLeftRight(),
        RandomShift(1),
        RandomRotate(5),
        ElasticDeformation(0.5, 2.0),
    ]
    x = images()
    xla = tf.function(lambda z: [t(z) for t in transforms], jit_compile=True)
    for t, out in zip(transforms, xla(x), strict=True):
        assert out.shape == x.shape
        if t.deterministic:
            np.testing.assert_allclose(out.numpy(), t(x).numpy(), atol=1e-5)
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(t))
        assert again == t


def test_get_transform_specs_and_errors():
    assert get_transform("shift:2") == RandomShift(2)
    assert get_transform("rotate:15") == RandomRotate(15)
    assert get_transform("rotate") == RandomRotate()
    assert get_transform("elastic:1:3") == ElasticDeformation(1.0, 3.0)
    assert get_transform("flip") == FlipLeftRight()
    t = Rotate(5)
    assert get_transform(t) is t
    with pytest.raises(UnknownNameError, match="valid names: elastic, flip, identity"):
        get_transform("mirror")
    with pytest.raises(UnknownNameError, match="at most 1"):
        get_transform("shift:1:2")
    with pytest.raises(InputSpecError, match="shift:1.5"):
        get_transform("shift:1.5")
    with pytest.raises(InputSpecError, match="could not convert"):
        get_transform("rotate:ten")
    with pytest.raises(ValueError, match="static height"):
        Rotate(10)(tf.zeros([2, 5]))
