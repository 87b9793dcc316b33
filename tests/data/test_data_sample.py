"""The Fashion-MNIST sample embedded in the package."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from keraslab.data import describe, load_arrays, sources
from keraslab.errors import CorruptDataError, DatasetNotFoundError, UnknownNameError


@pytest.mark.parametrize(("split", "per_class"), [("train", 400), ("test", 100)])
def test_sample_is_balanced(split: str, per_class: int) -> None:
    arrays = load_arrays("fashion_mnist_sample", split)
    assert arrays.source == "embedded"
    assert arrays.images.shape == (10 * per_class, 28, 28, 1)
    assert arrays.images.dtype == np.uint8 and arrays.labels.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(arrays.labels, minlength=10), [per_class] * 10)
    # Real images, not noise: Fashion-MNIST's mean pixel is about 0.286 * 255.
    assert 60 < arrays.images.mean() < 85


def test_fashion_mnist_embedded_source_is_the_sample() -> None:
    assert len(load_arrays("fashion_mnist", "test", source="embedded")) == 1000
    with pytest.raises(DatasetNotFoundError, match=r"only Fashion-MNIST has an embedded sample"):
        load_arrays("cifar10", "test", source="embedded")
    with pytest.raises(UnknownNameError, match=r"only comes from the package"):
        load_arrays("fashion_mnist_sample", "test", source="local")


def test_sample_ignores_data_dir_and_works_offline(tmp_path: Path) -> None:
    assert len(load_arrays("fashion-mnist-sample", "train", data_dir=tmp_path)) == 4000


def test_sample_package_files_are_complete() -> None:
    names = sorted(p.name for p in sources.SAMPLE_DIR.iterdir())
    assert names == [
        "LICENSE",
        "SHA256SUMS",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    license_text = (sources.SAMPLE_DIR / "LICENSE").read_text()
    assert "Copyright (c) 2017 Zalando SE" in license_text and "MIT" in license_text


def test_corrupted_sample_is_caught(tmp_path: Path, monkeypatch) -> None:
    copy = tmp_path / "sample"
    shutil.copytree(sources.SAMPLE_DIR, copy)
    path = copy / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setattr(sources, "SAMPLE_DIR", copy)
    with pytest.raises(CorruptDataError, match=r"t10k-labels-idx1-ubyte\.gz is corrupt.*reinstall"):
        load_arrays("fashion_mnist_sample", "test")
    info = describe("fashion_mnist_sample")
    assert info["auto"] is None and "corrupt" in info["sources"][0]["detail"]


def test_missing_sample_says_reinstall(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sources, "SAMPLE_DIR", tmp_path / "nothing")
    with pytest.raises(DatasetNotFoundError, match=r"reinstall keraslab"):
        load_arrays("fashion_mnist_sample", "train")
