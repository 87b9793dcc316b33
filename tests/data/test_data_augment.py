"""Normalisation and augmentation ops."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keraslab.data import get_spec
from keraslab.data.augment import cifar_crop_flip, normalize, random_translate


def _seed(i: int) -> tf.Tensor:
    return tf.constant([7, i], tf.int64)


def test_normalize_values() -> None:
    spec = get_spec("cifar10")
    x = np.zeros((1, 1, 2, 3), np.uint8)
    x[0, 0, 1] = [255, 128, 0]
    out = normalize(x, spec).numpy()
    assert out.dtype == np.float32
    mean, std = np.array(spec.mean), np.array(spec.std)
    np.testing.assert_allclose(out[0, 0, 0], -mean / std, rtol=1e-5)
    expected = (np.array([1.0, 128 / 255, 0.0]) - mean) / std
    np.testing.assert_allclose(out[0, 0, 1], expected, rtol=1e-5, atol=1e-6)
    mnist = normalize(np.array([[[[255]]]], np.uint8), get_spec("mnist")).numpy()
    np.testing.assert_allclose(mnist, (1 - 0.1307) / 0.3081, rtol=1e-5)


def _dot_image(row: int = 14, col: int = 14) -> np.ndarray:
    image = np.zeros((28, 28, 1), np.float32)
    image[row, col, 0] = 200.0
    return image


def test_random_translate_moves_content_within_max_shift() -> None:
    shifts = set()
    for i in range(60):
        out = random_translate(_dot_image(), 2, seed=_seed(i)).numpy()
        assert out.shape == (28, 28, 1)
        (row,), (col,), _ = np.nonzero(out)
        assert out.sum() == 200.0  # the pixel moved, it was not blurred or lost
        shifts.add((row - 14, col - 14))
    assert all(abs(dy) <= 2 and abs(dx) <= 2 for dy, dx in shifts)
    assert len(shifts) > 10  # many of the 25 possible shifts occur
    assert (0, 0) in shifts or len(shifts) > 15


def test_random_translate_fills_with_zeros() -> None:
    ones = np.ones((28, 28, 1), np.float32)
    outs = [random_translate(ones, 2, seed=_seed(i)).numpy() for i in range(20)]
    assert all(set(np.unique(o)) <= {0.0, 1.0} for o in outs)
    assert any(o.sum() < 28 * 28 for o in outs)
    assert min(o.sum() for o in outs) >= 24 * 24  # never more than 2 rows/cols lost per axis


def test_random_translate_is_deterministic_per_seed() -> None:
    image = np.random.default_rng(0).integers(0, 256, (28, 28, 1)).astype(np.uint8)
    a = random_translate(image, 2, seed=_seed(5)).numpy()
    b = random_translate(image, 2, seed=_seed(5)).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8
    assert any(
        not np.array_equal(a, random_translate(image, 2, seed=_seed(i)).numpy())
        for i in range(6, 12)
    )


def test_cifar_flip_mirrors_and_crop_shifts() -> None:
    image = np.random.default_rng(1).integers(1, 256, (32, 32, 3)).astype(np.uint8)
    flipped = no_flip = 0
    for i in range(40):
        out = cifar_crop_flip(image, pad=0, seed=_seed(i)).numpy()
        if np.array_equal(out, image):
            no_flip += 1
        else:
            np.testing.assert_array_equal(out, image[:, ::-1])
            flipped += 1
    assert flipped and no_flip

    for i in range(10):
        out = cifar_crop_flip(image, seed=_seed(i)).numpy()
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8
        # The output is a window of the zero-padded (possibly mirrored) image.
        padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
        windows = [
            np.array_equal(out, candidate[r : r + 32, c : c + 32])
            for candidate in (padded, padded[:, ::-1])
            for r in range(9)
            for c in range(9)
        ]
        assert any(windows)


def test_augment_rejects_negative_sizes() -> None:
    with pytest.raises(ValueError):
        random_translate(_dot_image(), -1, seed=_seed(0))
    with pytest.raises(ValueError):
        cifar_crop_flip(np.zeros((32, 32, 3)), pad=-2, seed=_seed(0))
