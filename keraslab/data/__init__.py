"""keraslab.data: datasets from wherever they are on this machine, as ``tf.data`` pipelines.

``load(name, split, …)`` is the entry point. The data is looked for in an explicit directory,
TFDS prepared data, the original archives in local directories (``$KERASLAB_DATA``,
``~/.keras/datasets``, ``/usr/share/datasets``), and finally a TFDS download; a Fashion-MNIST
sample ships inside the package (``fashion_mnist_sample``) so everything also runs offline.
Nothing is ever unpickled.

Imports only :mod:`keraslab.errors` from the rest of keraslab. TensorFlow is imported on first
use of :func:`load`, so finding, describing and reading data (``describe``, ``load_arrays``,
``check_images``) stays fast and works without it.

Synthetic sparse-coding problems (``x = Az + ε``, the LISTA literature's setting) come from
:func:`sparse_coding_problem` (:mod:`keraslab.data.synthetic`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keraslab.data.catalog import DATASET_NAMES, DatasetSpec, get_spec
from keraslab.data.images import check_images, read_image_files
from keraslab.data.patches import PatchSet, dct_dictionary, extract_patches, patch_dataset
from keraslab.data.sources import LoadedArrays, describe, load_arrays
from keraslab.data.synthetic import (
    PROBLEM_SEEDS,
    PROBLEMS,
    SparseCodingProblem,
    gaussian_dictionary,
    get_problem,
    sparse_coding_problem,
)

if TYPE_CHECKING:
    from keraslab.data.pipeline import load

__all__ = [
    "DATASET_NAMES",
    "DatasetSpec",
    "PROBLEMS",
    "PROBLEM_SEEDS",
    "LoadedArrays",
    "PatchSet",
    "SparseCodingProblem",
    "check_images",
    "dct_dictionary",
    "describe",
    "extract_patches",
    "gaussian_dictionary",
    "get_problem",
    "get_spec",
    "load",
    "load_arrays",
    "patch_dataset",
    "read_image_files",
    "sparse_coding_problem",
]


def __getattr__(name: str) -> Any:
    # Deferred: importing TensorFlow takes seconds, and a CLI `data info` never needs it.
    if name == "load":
        from keraslab.data.pipeline import load

        globals()["load"] = load
        return load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
