"""keraslab.data.load end to end, from tiny files written in the original formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keraslab.data import load, load_arrays, sources
from keraslab.errors import DatasetNotFoundError


def _collect(ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_mnist_pipeline_from_data_dir(tmp_path: Path, make_idx_dataset) -> None:
    written = make_idx_dataset(tmp_path / "mnist")
    ds = load("mnist", "test", batch_size=5, data_dir=tmp_path / "mnist")
    assert ds.element_spec[0].shape.as_list() == [None, 28, 28, 1]
    assert ds.element_spec[0].dtype == tf.float32 and ds.element_spec[1].dtype == tf.int32
    sizes = [len(y) for _, y in ds]
    assert sizes == [5, 5, 2]
    x, y = _collect(ds)  # the test split is not shuffled by default
    images, labels = written["test"]
    np.testing.assert_allclose(x[..., 0], (images / 255 - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y, labels)


def test_cifar_pipeline_from_keraslab_data(tmp_path, make_cifar_dataset, monkeypatch) -> None:
    written = make_cifar_dataset(tmp_path / "data")
    monkeypatch.setenv("KERASLAB_DATA", str(tmp_path / "data"))
    x, y = _collect(load("cifar10", "train", batch_size=4, shuffle=False))
    images, labels = written["train"]
    assert x.shape == (15, 32, 32, 3)
    mean = np.array([0.4914, 0.4822, 0.4465])
    std = np.array([0.2470, 0.2435, 0.2616])
    np.testing.assert_allclose(x, (images / 255 - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y, labels)


def test_cifar_pipeline_from_archive_with_augmentation(tmp_path, make_cifar_dataset) -> None:
    make_cifar_dataset(tmp_path / "dl", archive=True)
    ds = load("cifar10", "train", batch_size=8, augment=True, data_dir=tmp_path / "dl")
    x, y = _collect(ds)
    assert x.shape == (15, 32, 32, 3) and y.shape == (15,)
    assert np.isfinite(x).all()


def test_raw_pixels_limit_and_drop_remainder(tmp_path: Path, make_idx_dataset) -> None:
    written = make_idx_dataset(tmp_path / "d")
    ds = load(
        "fashion_mnist",
        "train",
        batch_size=4,
        data_dir=tmp_path / "d",
        normalize=False,
        shuffle=False,
        limit=10,
        drop_remainder=True,
    )
    assert ds.element_spec[0].shape.as_list() == [4, 28, 28, 1]
    x, y = _collect(ds)
    assert x.dtype == np.float32 and x.shape == (8, 28, 28, 1)
    np.testing.assert_array_equal(x[..., 0], written["train"][0][:8].astype(np.float32))
    np.testing.assert_array_equal(y, written["train"][1][:8])
    assert x.max() > 1.0  # raw 0–255 scale, not rescaled


def test_train_is_shuffled_by_default_and_reproducible(tmp_path, make_idx_dataset) -> None:
    make_idx_dataset(tmp_path / "d", n_train=40)
    file_order = load_arrays("mnist", "train", data_dir=tmp_path / "d").labels

    def labels(seed: int) -> np.ndarray:
        return _collect(load("mnist", "train", batch_size=7, data_dir=tmp_path / "d", seed=seed))[1]

    first = labels(0)
    assert sorted(first) == sorted(file_order) and not np.array_equal(first, file_order)
    np.testing.assert_array_equal(first, labels(0))
    assert not np.array_equal(first, labels(1))


def test_augmentation_is_deterministic_per_seed_and_differs_by_epoch(
    tmp_path: Path, make_idx_dataset
) -> None:
    make_idx_dataset(tmp_path / "d")

    def make(seed: int) -> tf.data.Dataset:
        return load(
            "mnist", "train", batch_size=8, augment=True, data_dir=tmp_path / "d", seed=seed
        )

    ds = make(3)
    epoch1, epoch2 = _collect(ds), _collect(ds)
    again = _collect(make(3))
    np.testing.assert_array_equal(epoch1[0], again[0])
    np.testing.assert_array_equal(epoch1[1], again[1])
    assert not np.array_equal(epoch1[0], epoch2[0])  # a new shuffle and new shifts each epoch
    assert not np.array_equal(epoch1[0], _collect(make(4))[0])


def test_augmented_images_are_shifted_originals(tmp_path: Path, make_idx_dataset) -> None:
    written = make_idx_dataset(tmp_path / "d")
    images = written["train"][0]
    x, _ = _collect(
        load(
            "mnist",
            "train",
            batch_size=24,
            augment=True,
            shuffle=False,
            normalize=False,
            data_dir=tmp_path / "d",
        )
    )
    moved = 0
    for original, out in zip(images, x[..., 0].astype(np.uint8), strict=True):
        padded = np.pad(original, 2)
        offsets = [
            (r, c)
            for r in range(5)
            for c in range(5)
            if np.array_equal(out, padded[r : r + 28, c : c + 28])
        ]
        assert offsets, "every augmented image is a ±2 px shift of its original"
        moved += offsets != [(2, 2)]
    assert moved > 12


def test_fashion_mnist_sample_pipeline() -> None:
    ds = load("fashion_mnist_sample", "test", batch_size=250)
    x, y = _collect(ds)
    assert x.shape == (1000, 28, 28, 1)
    assert np.bincount(y).tolist() == [100] * 10
    # Standardised with the full set's statistics, so close to (not exactly) zero mean, unit std.
    assert abs(x.mean()) < 0.15 and 0.85 < x.std() < 1.15


def test_load_validates_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"batch_size"):
        load("fashion_mnist_sample", "test", batch_size=0)
    with pytest.raises(ValueError, match=r"limit"):
        load("fashion_mnist_sample", "test", limit=0)
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path)):
        load("mnist", "train", data_dir=tmp_path)


@pytest.mark.full_data
@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="needs `apt-get install dataset-fashion-mnist`",
)
def test_full_fashion_mnist_from_system_dir(monkeypatch) -> None:
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", (Path("/usr/share/datasets"),))
    train = load_arrays("fashion_mnist", "train")
    test = load_arrays("fashion_mnist", "test")
    assert (train.source, train.location) == ("local", "/usr/share/datasets/fashion-mnist")
    assert train.images.shape == (60000, 28, 28, 1) and test.images.shape == (10000, 28, 28, 1)
    assert np.bincount(train.labels).tolist() == [6000] * 10
    # The embedded sample is a subset of the real test set, labels included.
    full = {img.tobytes(): int(label) for img, label in zip(test.images, test.labels, strict=True)}
    sample = load_arrays("fashion_mnist_sample", "test")
    assert all(
        full.get(img.tobytes()) == int(label)
        for img, label in zip(sample.images, sample.labels, strict=True)
    )
    x, y = next(iter(load("fashion_mnist", "test", batch_size=10000)))
    assert x.shape == (10000, 28, 28, 1)
    assert abs(float(tf.reduce_mean(x))) < 0.05  # the catalog's mean/std fit the real data
