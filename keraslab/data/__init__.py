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
:func:`sparse_coding_problem` (:mod:`keraslab.data.synthetic`); image patches and the
overcomplete DCT dictionary from :mod:`keraslab.data.patches`. For few-label experiments,
:func:`balanced_subset` draws N images per class and :func:`semi_supervised_batches` mixes
labelled and unlabelled ones (label ``UNLABELLED``) in one ``tf.data`` stream;
``DatasetSpec.normalize`` applies the pipeline's normalization to NumPy arrays. A user's own
labelled images (a folder of class subfolders, arrays or a ``tf.data.Dataset``) become
training batches for a zoo model with :func:`image_folder`, :func:`labelled_arrays` and
:func:`labelled_dataset` (:mod:`keraslab.data.folders`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keraslab.data.catalog import DATASET_NAMES, DatasetSpec, get_spec
from keraslab.data.folders import (
    FolderListing,
    LabelledImages,
    image_folder,
    labelled_arrays,
    labelled_dataset,
    scan_image_folder,
)
from keraslab.data.images import check_images, read_image_files
from keraslab.data.patches import PatchSet, dct_dictionary, extract_patches, patch_dataset
from keraslab.data.sources import LoadedArrays, describe, load_arrays
from keraslab.data.subsets import balanced_subset
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
    from keraslab.data.semisupervised import (
        UNLABELLED,
        SemiSupervisedBatches,
        semi_supervised_batches,
    )

__all__ = [
    "DATASET_NAMES",
    "DatasetSpec",
    "FolderListing",
    "LabelledImages",
    "PROBLEMS",
    "PROBLEM_SEEDS",
    "LoadedArrays",
    "PatchSet",
    "SemiSupervisedBatches",
    "SparseCodingProblem",
    "UNLABELLED",
    "balanced_subset",
    "check_images",
    "dct_dictionary",
    "describe",
    "extract_patches",
    "gaussian_dictionary",
    "get_problem",
    "get_spec",
    "image_folder",
    "labelled_arrays",
    "labelled_dataset",
    "load",
    "load_arrays",
    "patch_dataset",
    "read_image_files",
    "scan_image_folder",
    "semi_supervised_batches",
    "sparse_coding_problem",
]

# Deferred: importing TensorFlow takes seconds, and a CLI `data info` never needs it.
_LAZY = {
    "load": "keraslab.data.pipeline",
    "UNLABELLED": "keraslab.data.semisupervised",
    "SemiSupervisedBatches": "keraslab.data.semisupervised",
    "semi_supervised_batches": "keraslab.data.semisupervised",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
