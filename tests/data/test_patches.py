"""Image patches (positions, seeding, mean removal, flat-patch rejection, the tf.data stream) and
the overcomplete DCT dictionary, checked against SciPy's DCT-II and DCT-IV."""

import numpy as np
import pytest
import scipy.fft

from keraslab.data import load_arrays
from keraslab.data.patches import dct_dictionary, extract_patches, patch_dataset


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(5, 12, 10, 1), dtype=np.uint8)


def crop(images, where, size):
    image, row, col = where
    return images[image, row : row + size, col : col + size, 0].astype(np.float64) / 255


def test_patches_are_seeded_crops_flattened_row_major(images):
    patches = extract_patches(images, size=4, num=300, seed=3, remove_mean=False)
    assert patches.patches.shape == (300, 16) and patches.patches.dtype == np.float32
    assert len(patches) == 300 and patches.positions.shape == (300, 3)
    for x, where in zip(patches.patches[:20], patches.positions[:20], strict=True):
        np.testing.assert_allclose(x, crop(images, where, 4).ravel(), rtol=1e-6)
    np.testing.assert_array_equal(patches.means, 0)
    # Every place a patch fits is reachable: rows 0..8, columns 0..6, every image.
    assert patches.positions.min(0).tolist() == [0, 0, 0]
    assert patches.positions.max(0).tolist() == [4, 8, 6]
    again = extract_patches(images, size=4, num=300, seed=3, remove_mean=False)
    np.testing.assert_array_equal(patches.patches, again.patches)
    other = extract_patches(images, size=4, num=300, seed=4, remove_mean=False)
    assert not np.array_equal(patches.positions, other.positions)


def test_mean_removal_keeps_the_mean_beside_the_patch(images):
    patches = extract_patches(images, size=5, num=50, seed=1)
    np.testing.assert_allclose(patches.patches.mean(axis=1), 0, atol=1e-6)
    for image, where, mean in zip(patches.images(), patches.positions, patches.means, strict=True):
        original = crop(images, where, 5)
        np.testing.assert_allclose(image, original, atol=1e-6)
        assert mean == pytest.approx(original.mean(), abs=1e-6)
    np.testing.assert_allclose(patches.images(add_mean=False).reshape(50, 25), patches.patches)


def test_float_images_are_not_rescaled_and_2d_stacks_are_accepted():
    images = np.random.default_rng(1).standard_normal((3, 9, 9)).astype(np.float32) * 10
    patches = extract_patches(images, size=3, num=10, remove_mean=False)
    image, row, col = patches.positions[0]
    np.testing.assert_allclose(
        patches.patches[0], images[image, row : row + 3, col : col + 3].ravel(), rtol=1e-6
    )


def test_min_std_drops_flat_patches():
    # Fashion-MNIST: a black background and flat interiors make many patches (nearly) constant.
    images = load_arrays("fashion_mnist_sample", "test").images[:200]
    every = extract_patches(images, num=2000, seed=0)
    assert np.mean(every.patches.std(axis=1) <= 0.05) > 0.05  # measured: about 15 %
    textured = extract_patches(images, num=2000, seed=0, min_std=0.05)
    assert np.all(textured.patches.std(axis=1) > 0.05)
    np.testing.assert_allclose(textured.patches.mean(axis=1), 0, atol=1e-6)
    with pytest.raises(ValueError, match="lower min_std"):
        extract_patches(np.zeros((2, 8, 8), np.uint8), size=4, num=10, min_std=0.01)


def test_argument_errors_name_the_fix(images):
    with pytest.raises(ValueError, match="grayscale"):
        extract_patches(np.zeros((2, 8, 8, 3), np.uint8), size=4)
    with pytest.raises(ValueError, match="does not fit"):
        extract_patches(images, size=11)
    with pytest.raises(ValueError, match="num must be"):
        extract_patches(images, num=0)
    with pytest.raises(ValueError, match="min_std"):
        extract_patches(images, min_std=-1)
    with pytest.raises(ValueError, match="atoms_per_side must be >= size"):
        dct_dictionary(8, 4)


def test_patch_dataset_streams_seeded_crops(images):
    size = 4
    every_crop = np.array(
        [
            crop(images, (i, r, c), size).ravel()
            for i in range(5)
            for r in range(12 - size + 1)
            for c in range(10 - size + 1)
        ]
    )
    first = [b.numpy() for b in patch_dataset(images, size, 16, seed=2, remove_mean=False).take(2)]
    again = [b.numpy() for b in patch_dataset(images, size, 16, seed=2, remove_mean=False).take(2)]
    assert first[0].shape == (16, 16) and first[0].dtype == np.float32
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], first[1])
    distance = np.abs(first[0][:, None, :] - every_crop[None]).max(axis=-1).min(axis=1)
    assert np.all(distance < 1e-6)  # each patch is one of the crops
    centred = next(iter(patch_dataset(images, size, 16, seed=2, min_std=0.2))).numpy()
    assert centred.shape == (16, 16)
    np.testing.assert_allclose(centred.mean(axis=1), 0, atol=1e-6)
    assert np.all(centred.std(axis=1) > 0.2)


def dct_matrix(size, kind):
    """Orthonormal DCT basis functions as columns, from SciPy (an independent formula)."""
    return scipy.fft.dct(np.eye(size), type=kind, norm="ortho", axis=0).T


def test_complete_dct_dictionary_is_the_orthonormal_2d_dct():
    A = dct_dictionary(8, 8).astype(np.float64)
    assert A.shape == (64, 64)
    np.testing.assert_allclose(A.T @ A, np.eye(64), atol=1e-6)
    C = dct_matrix(8, 2)
    np.testing.assert_allclose(A, np.kron(C, C), atol=1e-6)
    # Column k·K + l is the atom d_k(i) d_l(j), flattened like the patches (row i, column j).
    image = np.random.default_rng(0).standard_normal((8, 8))
    coefficients = scipy.fft.dctn(image, type=2, norm="ortho")
    np.testing.assert_allclose(A.T @ image.ravel(), coefficients.ravel(), atol=1e-5)


def test_overcomplete_dct_dictionary_is_dct2_and_dct4_a_tight_frame():
    A = dct_dictionary()  # 8 × 8 patches, 16 atoms per side
    assert A.shape == (64, 256) and A.dtype == np.float32
    A = A.astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0, atol=1e-6)
    atoms = A.reshape(64, 16, 16)  # [:, k, l]
    C2, C4 = dct_matrix(8, 2), dct_matrix(8, 4)
    np.testing.assert_allclose(atoms[:, 0::2, 0::2].reshape(64, 64), np.kron(C2, C2), atol=1e-6)
    np.testing.assert_allclose(atoms[:, 1::2, 1::2].reshape(64, 64), np.kron(C4, C4), atol=1e-6)
    np.testing.assert_allclose(atoms[:, 0::2, 1::2].reshape(64, 64), np.kron(C2, C4), atol=1e-6)
    np.testing.assert_allclose(A @ A.T, 4 * np.eye(64), atol=1e-5)
    gram = np.abs(A.T @ A)
    np.fill_diagonal(gram, 0)
    assert 0.85 < gram.max() < 0.95  # coherent: neighbouring frequencies overlap
