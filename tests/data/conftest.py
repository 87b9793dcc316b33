"""Shared fixtures of the data tests: an environment that hides this machine's real datasets, and
factories that write tiny datasets in the original file formats."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from keraslab.data import sources
from keraslab.data.formats import write_cifar10_binary, write_idx


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME, no data env vars, offline, no system data dirs: only what a test writes."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("KERASLAB_DATA", "TFDS_DATA_DIR", "XDG_CACHE_HOME", "KERAS_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KERASLAB_OFFLINE", "1")
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", ())
    return home


@pytest.fixture
def make_idx_dataset() -> Callable[..., dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Write a tiny MNIST-format dataset (gzipped IDX files) into a directory."""

    def make(
        directory: Path, n_train: int = 24, n_test: int = 12, gz: bool = True, seed: int = 0
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        directory.mkdir(parents=True, exist_ok=True)
        suffix = ".gz" if gz else ""
        out = {}
        for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
            images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
            labels = (np.arange(n) % 10).astype(np.uint8)
            write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
            write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
            out[split] = (images, labels)
        return out

    return make


@pytest.fixture
def make_cifar_dataset() -> Callable[..., dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Write a tiny CIFAR-10 binary dataset: ``cifar-10-batches-bin/`` or the .tar.gz archive."""

    def make(
        directory: Path, per_batch: int = 3, archive: bool = False, seed: int = 0
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        batch_dir = directory / "cifar-10-batches-bin"
        batch_dir.mkdir(parents=True, exist_ok=True)
        names = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
        out = {}
        for split, files in names.items():
            all_images, all_labels = [], []
            for name in files:
                images = rng.integers(0, 256, size=(per_batch, 32, 32, 3), dtype=np.uint8)
                labels = rng.integers(0, 10, size=per_batch, dtype=np.uint8)
                write_cifar10_binary(batch_dir / name, images, labels)
                all_images.append(images)
                all_labels.append(labels)
            out[split] = (np.concatenate(all_images), np.concatenate(all_labels))
        if archive:
            with tarfile.open(directory / "cifar-10-binary.tar.gz", "w:gz") as tar:
                tar.add(batch_dir, arcname="cifar-10-batches-bin")
            for f in batch_dir.iterdir():
                f.unlink()
            batch_dir.rmdir()
        return out

    return make
