"""The dataset catalog: what each dataset keraslab knows looks like and where its files are named.

A :class:`DatasetSpec` is pure metadata (no I/O). ``mean`` and ``std`` are per-channel statistics
of the training split on the ``[0, 1]`` pixel scale, the usual constants for these datasets;
:meth:`DatasetSpec.normalize` / :meth:`DatasetSpec.denormalize` apply them to NumPy arrays with
the formula the ``tf.data`` pipeline uses (:func:`keraslab.data.augment.normalize`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from keraslab.errors import UnknownNameError

__all__ = ["DatasetSpec", "DATASET_NAMES", "get_spec", "SPLITS"]

SPLITS = ("train", "test")

_IDX_FILES = MappingProxyType(
    {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
)
_CIFAR10_FILES = MappingProxyType(
    {
        "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        "test": ("test_batch.bin",),
    }
)


@dataclass(frozen=True)
class DatasetSpec:
    """Static description of one dataset.

    Attributes:
        name: canonical name, e.g. ``"fashion_mnist"``.
        image_shape: ``(height, width, channels)`` of one image.
        num_classes: number of classes; labels are ``0 … num_classes - 1``.
        class_names: human-readable class names, indexed by label.
        mean: per-channel mean of the training pixels on the ``[0, 1]`` scale.
        std: per-channel standard deviation on the ``[0, 1]`` scale.
        tfds_name: the TensorFlow Datasets builder name, or ``None`` when TFDS does not have it.
        archive_dirnames: directory names the original files are commonly kept under (the first is
            the preferred one), searched below local data directories.
        files: split → original file names. For ``"idx"`` the (images, labels) stems, looked up
            with and without ``.gz``; for ``"cifar10_binary"`` the batch files, looked up in
            ``cifar-10-batches-bin/`` or the ``cifar-10-binary.tar.gz`` archive.
        file_format: ``"idx"`` or ``"cifar10_binary"``.
        archive: name of the single archive that holds all files, when there is one.
        how_to_get: a sentence telling the user how to obtain the original files.
    """

    name: str
    image_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    tfds_name: str | None
    archive_dirnames: tuple[str, ...]
    files: Mapping[str, tuple[str, ...]] = field(hash=False)
    file_format: str = "idx"
    archive: str | None = None
    how_to_get: str = ""

    @property
    def channels(self) -> int:
        """Number of image channels."""
        return self.image_shape[-1]

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """Raw pixels to the models' input, per channel: ``(x / 255 − mean) / std`` in float32.

        The NumPy twin of the pipeline's :func:`keraslab.data.augment.normalize` (same formula,
        same float32 operations), for arrays from :func:`keraslab.data.load_arrays`.

        Args:
            images: uint8 (or float on the 0–255 scale) array whose last axis is the channels,
                one image ``(H, W, C)`` or a batch ``(B, H, W, C)``.
        """
        x = np.asarray(images).astype(np.float32) / np.float32(255.0)
        return (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`normalize`: ``255 · (x · std + mean)``, float32 pixels on the
        0–255 scale (not rounded or clipped: an adversarial or reconstructed image may leave
        the range, and a plot should show by how much).

        Args:
            x: normalized images whose last axis is the channels.
        """
        x = np.asarray(x, np.float32)
        std, mean = np.asarray(self.std, np.float32), np.asarray(self.mean, np.float32)
        return np.float32(255.0) * (x * std + mean)


_FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_SPECS = {
    "mnist": DatasetSpec(
        name="mnist",
        image_shape=(28, 28, 1),
        num_classes=10,
        class_names=tuple(str(i) for i in range(10)),
        mean=(0.1307,),
        std=(0.3081,),
        tfds_name="mnist",
        archive_dirnames=("mnist", "MNIST"),
        files=_IDX_FILES,
        how_to_get=(
            "put the four IDX files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in $KERASLAB_DATA/mnist "
            "(or pass data_dir=/path/to/them)"
        ),
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        image_shape=(28, 28, 1),
        num_classes=10,
        class_names=_FASHION_CLASSES,
        mean=(0.2860,),
        std=(0.3530,),
        tfds_name="fashion_mnist",
        archive_dirnames=("fashion-mnist", "fashion_mnist"),
        files=_IDX_FILES,
        how_to_get=(
            "on Debian/Ubuntu run `apt-get install dataset-fashion-mnist`, which installs the "
            "IDX files in /usr/share/datasets/fashion-mnist; or put the four IDX .gz files from "
            "https://github.com/zalandoresearch/fashion-mnist in $KERASLAB_DATA/fashion-mnist"
        ),
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        image_shape=(32, 32, 3),
        num_classes=10,
        class_names=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        tfds_name="cifar10",
        archive_dirnames=("cifar10", "cifar-10"),
        files=_CIFAR10_FILES,
        file_format="cifar10_binary",
        archive="cifar-10-binary.tar.gz",
        how_to_get=(
            "download the *binary version* cifar-10-binary.tar.gz from "
            "https://www.cs.toronto.edu/~kriz/cifar.html and put it (or its extracted "
            "cifar-10-batches-bin/ directory) in $KERASLAB_DATA; the Python version "
            "(cifar-10-python.tar.gz) is deliberately not read because it is a pickle"
        ),
    ),
    "fashion_mnist_sample": DatasetSpec(
        name="fashion_mnist_sample",
        image_shape=(28, 28, 1),
        num_classes=10,
        class_names=_FASHION_CLASSES,
        mean=(0.2860,),
        std=(0.3530,),
        tfds_name=None,
        archive_dirnames=(),
        files=_IDX_FILES,
        how_to_get="it ships inside the keraslab package; reinstall keraslab if it is missing",
    ),
}

DATASET_NAMES: tuple[str, ...] = tuple(_SPECS)

_ALIASES = {
    "fashion-mnist": "fashion_mnist",
    "fashionmnist": "fashion_mnist",
    "fashion-mnist-sample": "fashion_mnist_sample",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}


def canonical_name(name: str) -> str:
    """Map a dataset name or accepted spelling (``fashion-mnist``, ``CIFAR-10``) to its key.

    Raises:
        UnknownNameError: the name is not in the catalog.
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _SPECS:
        raise UnknownNameError(
            f"unknown dataset {name!r}; known datasets are {', '.join(DATASET_NAMES)}"
        )
    return key


def get_spec(name: str) -> DatasetSpec:
    """Return the :class:`DatasetSpec` of ``name`` (``fashion-mnist`` spelling accepted).

    Raises:
        UnknownNameError: the name is not in the catalog; the message lists the known names.
    """
    return _SPECS[canonical_name(name)]
