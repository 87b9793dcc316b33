"""Finding datasets: explicit directories, $KERASLAB_DATA, ~/.keras, system dirs, CIFAR archives,
and the not-found errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from keraslab.data import describe, get_spec, load_arrays, sources
from keraslab.data.formats import write_idx
from keraslab.errors import CorruptDataError, DatasetNotFoundError, UnknownNameError


def test_mnist_from_data_dir(tmp_path: Path, make_idx_dataset, caplog) -> None:
    written = make_idx_dataset(tmp_path / "mine")
    with caplog.at_level(logging.INFO, logger="keraslab.data"):
        arrays = load_arrays("mnist", "test", data_dir=tmp_path / "mine")
    images, labels = written["test"]
    assert arrays.images.shape == (12, 28, 28, 1) and arrays.images.dtype == np.uint8
    assert arrays.labels.dtype == np.int32
    np.testing.assert_array_equal(arrays.images[..., 0], images)
    np.testing.assert_array_equal(arrays.labels, labels)
    assert arrays.source == "data_dir" and arrays.location == str(tmp_path / "mine")
    assert "from source 'data_dir'" in caplog.text


def test_data_dir_named_subdirectory_and_plain_files(tmp_path: Path, make_idx_dataset) -> None:
    make_idx_dataset(tmp_path / "root" / "fashion-mnist", gz=False)
    arrays = load_arrays("fashion-mnist", "train", data_dir=tmp_path / "root")
    assert len(arrays) == 24 and arrays.location == str(tmp_path / "root" / "fashion-mnist")


def test_mnist_from_keraslab_data(tmp_path: Path, make_idx_dataset, monkeypatch) -> None:
    make_idx_dataset(tmp_path / "data" / "mnist")
    monkeypatch.setenv("KERASLAB_DATA", str(tmp_path / "data"))
    arrays = load_arrays("mnist", "train")
    assert (arrays.source, arrays.location) == ("local", str(tmp_path / "data" / "mnist"))
    assert len(arrays) == 24


def test_fashion_from_keras_cache_dir(isolated_env: Path, make_idx_dataset) -> None:
    make_idx_dataset(isolated_env / ".keras" / "datasets" / "fashion-mnist")
    arrays = load_arrays("fashion_mnist", "test")
    assert arrays.source == "local" and "fashion-mnist" in arrays.location


@pytest.mark.parametrize("dirname", ["fashion-mnist", "fashion_mnist"])
def test_fashion_from_system_dir(tmp_path: Path, make_idx_dataset, monkeypatch, dirname) -> None:
    make_idx_dataset(tmp_path / "usr-share" / dirname)
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", (tmp_path / "usr-share",))
    arrays = load_arrays("fashion_mnist", "train")
    assert arrays.location == str(tmp_path / "usr-share" / dirname)


def test_cifar_from_batch_dir(tmp_path: Path, make_cifar_dataset, monkeypatch) -> None:
    written = make_cifar_dataset(tmp_path / "data")
    monkeypatch.setenv("KERASLAB_DATA", str(tmp_path / "data"))
    arrays = load_arrays("cifar10", "train")
    assert arrays.images.shape == (15, 32, 32, 3)
    np.testing.assert_array_equal(arrays.images, written["train"][0])
    np.testing.assert_array_equal(arrays.labels, written["train"][1])
    assert arrays.location == str(tmp_path / "data" / "cifar-10-batches-bin")


def test_cifar_from_archive(tmp_path: Path, make_cifar_dataset, isolated_env: Path) -> None:
    written = make_cifar_dataset(tmp_path / "dl", archive=True)
    archive = tmp_path / "dl" / "cifar-10-binary.tar.gz"
    assert archive.is_file() and not (tmp_path / "dl" / "cifar-10-batches-bin").exists()
    arrays = load_arrays("cifar10", "test", data_dir=tmp_path / "dl")
    np.testing.assert_array_equal(arrays.images, written["test"][0])
    assert arrays.location == str(archive)
    # Extracted once into the cache under HOME, not next to the user's archive.
    cached = list((isolated_env / ".cache" / "keraslab" / "extracted").iterdir())
    assert len(cached) == 1 and (cached[0] / "cifar-10-batches-bin" / "test_batch.bin").is_file()
    again = load_arrays("cifar10", "train", data_dir=tmp_path / "dl")
    assert len(again) == 15
    assert list((isolated_env / ".cache" / "keraslab" / "extracted").iterdir()) == cached


def test_cifar_pickle_version_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "d" / "cifar-10-batches-py").mkdir(parents=True)
    (tmp_path / "d" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\x80\x04")
    with pytest.raises(DatasetNotFoundError, match=r"pickle\) version, which keraslab does not"):
        load_arrays("cifar10", "train", data_dir=tmp_path / "d")


def test_corrupt_file_is_an_error_not_a_fallback(tmp_path: Path, make_idx_dataset, monkeypatch):
    make_idx_dataset(tmp_path / "data" / "mnist")
    path = tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    write_idx(path, np.arange(5, dtype=np.uint8))
    monkeypatch.setenv("KERASLAB_DATA", str(tmp_path / "data"))
    with pytest.raises(CorruptDataError, match=r"12 images but .* 5 labels"):
        load_arrays("mnist", "test")


def test_wrong_dataset_in_directory(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(d / f"{prefix}-images-idx3-ubyte.gz", np.zeros((2, 32, 32), np.uint8))
        write_idx(d / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    with pytest.raises(CorruptDataError, match=r"different dataset"):
        load_arrays("mnist", "train", data_dir=d)


def test_missing_dataset_lists_sources_and_hint(isolated_env: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KERASLAB_DATA", str(tmp_path / "kd"))
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", (tmp_path / "system",))
    with pytest.raises(DatasetNotFoundError) as info:
        load_arrays("fashion_mnist", "train")
    message = str(info.value)
    assert "'fashion_mnist' (train split) was not found" in message
    assert f"tfds: {isolated_env / 'tensorflow_datasets' / 'fashion_mnist'}" in message
    assert f"local: {tmp_path / 'kd' / 'fashion-mnist'} (no such directory)" in message
    assert f"local: {isolated_env / '.keras' / 'datasets' / 'fashion-mnist'}" in message
    assert f"local: {tmp_path / 'system' / 'fashion-mnist'}" in message
    assert "download: TFDS (skipped: KERASLAB_OFFLINE=1)" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "/usr/share/datasets/fashion-mnist" in message
    assert "fashion_mnist_sample" in message and "source='embedded'" in message
    # A subclass of the builtin, so generic handlers still work.
    assert isinstance(info.value, FileNotFoundError)
    monkeypatch.delenv("KERASLAB_DATA")
    with pytest.raises(DatasetNotFoundError, match=r"local: \$KERASLAB_DATA \(not set\)"):
        load_arrays("fashion_mnist", "train")


def test_missing_cifar_and_mnist_hints() -> None:
    with pytest.raises(DatasetNotFoundError, match=r"cifar-10-binary\.tar\.gz.*pickle"):
        load_arrays("cifar10", "test")
    with pytest.raises(DatasetNotFoundError, match=r"\$KERASLAB_DATA/mnist"):
        load_arrays("mnist", "test")


def test_empty_data_dir_names_the_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        load_arrays("mnist", "train", data_dir=empty)
    message = str(info.value)
    assert f"not in the directory {empty} given as data_dir" in message
    assert "missing train-images-idx3-ubyte[.gz]" in message


def test_partial_directory_says_which_file_is_missing(tmp_path: Path, make_idx_dataset) -> None:
    make_idx_dataset(tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert len(load_arrays("mnist", "train", data_dir=tmp_path / "d")) == 24
    with pytest.raises(DatasetNotFoundError, match=r"missing t10k-labels-idx1-ubyte\[\.gz\]"):
        load_arrays("mnist", "test", data_dir=tmp_path / "d")


def test_unknown_names() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown dataset 'svhn'.*mnist, fashion_mnist"):
        load_arrays("svhn", "train")
    with pytest.raises(UnknownNameError, match=r"unknown split 'validation'"):
        load_arrays("mnist", "validation")
    with pytest.raises(UnknownNameError, match=r"unknown data source 'web'"):
        load_arrays("mnist", "train", source="web")
    with pytest.raises(UnknownNameError, match=r"needs data_dir"):
        load_arrays("mnist", "train", source="data_dir")


def test_forced_local_source_ignores_tfds(tmp_path: Path, make_idx_dataset, monkeypatch) -> None:
    make_idx_dataset(tmp_path / "kd" / "mnist")
    monkeypatch.setenv("KERASLAB_DATA", str(tmp_path / "kd"))

    def fail(*args, **kwargs):
        raise AssertionError("TFDS must not be used")

    monkeypatch.setattr(sources, "_load_tfds", fail)
    assert load_arrays("mnist", "train", source="local").source == "local"


def test_tfds_prepared_data_is_used_first(tmp_path: Path, make_idx_dataset, monkeypatch) -> None:
    # TFDS itself is faked: only the cheap directory check and the call are under test here.
    tfds_dir = tmp_path / "tfds"
    (tfds_dir / "mnist" / "3.0.1").mkdir(parents=True)
    (tfds_dir / "mnist" / "3.0.1" / "dataset_info.json").write_text("{}")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tfds_dir))
    make_idx_dataset(tmp_path / "kd" / "mnist")
    monkeypatch.setenv("KERASLAB_DATA", str(tmp_path / "kd"))
    calls = []

    def fake_tfds(spec, split, data_dir, download):
        calls.append((spec.tfds_name, split, data_dir, download))
        return np.zeros((3, 28, 28, 1), np.uint8), np.array([1, 2, 3], np.int64)

    monkeypatch.setattr(sources, "_load_tfds", fake_tfds)
    arrays = load_arrays("mnist", "test")
    assert calls == [("mnist", "test", tfds_dir, False)]
    assert arrays.source == "tfds" and arrays.labels.dtype == np.int32


def test_tfds_failure_falls_back_to_local(tmp_path: Path, make_idx_dataset, monkeypatch) -> None:
    (tmp_path / "tfds" / "mnist" / "3.0.1").mkdir(parents=True)
    (tmp_path / "tfds" / "mnist" / "3.0.1" / "dataset_info.json").write_text("{}")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    make_idx_dataset(tmp_path / "kd" / "mnist")
    monkeypatch.setenv("KERASLAB_DATA", str(tmp_path / "kd"))

    def broken(*args, **kwargs):
        raise OSError("incomplete dataset")

    monkeypatch.setattr(sources, "_load_tfds", broken)
    assert load_arrays("mnist", "test").source == "local"


def test_download_is_attempted_when_online(monkeypatch) -> None:
    monkeypatch.delenv("KERASLAB_OFFLINE")
    seen = []

    def no_network(spec, split, data_dir, download):
        seen.append(download)
        raise ConnectionError("no route to host")

    monkeypatch.setattr(sources, "_load_tfds", no_network)
    with pytest.raises(DatasetNotFoundError, match=r"download: .*ConnectionError: no route"):
        load_arrays("mnist", "train")
    assert seen == [True]


def test_describe_is_cheap_and_reports_sources(tmp_path, make_idx_dataset, monkeypatch) -> None:
    make_idx_dataset(tmp_path / "kd" / "mnist")
    monkeypatch.setenv("KERASLAB_DATA", str(tmp_path / "kd"))

    def fail(*args, **kwargs):
        raise AssertionError("describe must not load data")

    monkeypatch.setattr(sources, "_load_tfds", fail)
    monkeypatch.setattr(sources, "read_idx_pair", fail)
    info = describe("mnist")
    assert info["name"] == "mnist" and info["auto"] == "local"
    assert info["spec"]["image_shape"] == [28, 28, 1]
    local = [r for r in info["sources"] if r["source"] == "local"]
    assert [r["split"] for r in local] == ["train", "test"]
    assert all(r["found"] for r in local)
    assert local[0]["detail"] == "24 images of 28x28 in IDX files"
    download = [r for r in info["sources"] if r["source"] == "download"]
    assert "KERASLAB_OFFLINE" in download[0]["detail"]
    assert describe("cifar10")["auto"] is None


def test_spec_catalog() -> None:
    assert get_spec("fashion-mnist") is get_spec("fashion_mnist")
    assert get_spec("CIFAR-10").mean == (0.4914, 0.4822, 0.4465)
    assert get_spec("mnist").std == (0.3081,)
    assert get_spec("fashion_mnist_sample").mean == get_spec("fashion_mnist").mean
    assert len(get_spec("cifar10").class_names) == 10
    hash(get_spec("mnist"))  # frozen and hashable
