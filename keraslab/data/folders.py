"""Labelled images a user brings: a folder with one subfolder per class, NumPy arrays, or a
``tf.data.Dataset``, turned into the batches a zoo model trains on.

The folder convention is that of ``keras.utils.image_dataset_from_directory``, which does the
reading: ``DIR/<class name>/**/<image>.{png,jpg,jpeg,bmp,gif}``; class names are the subfolder
names in sorted order (label k is the k-th name). Every image, of any size and colour mode, is
converted to the target ``(H, W, C)`` of a :class:`~keraslab.data.DatasetSpec` (bilinear resize,
Keras's default; grayscale ↔ RGB) and normalized with that spec's statistics,
``(x/255 − mean)/std`` (:meth:`DatasetSpec.normalize`'s formula), so a model fine-tuned on them
accepts raw pixels exactly like the base model it started from.

Before Keras reads anything, :func:`scan_image_folder` checks the folder (no TensorFlow): it
exists, has at least two class folders, each class has enough images for the validation split,
every file in a class folder is an image (hidden files are skipped; a non-image file is named
in the error), and — in :func:`image_folder` — every image decodes (a damaged file is named;
Keras would fail mid-epoch without saying which). The validation split is Keras's: the file
list is shuffled with ``seed`` and the last ``validation_split`` fraction is held out, so the
same folder and seed give the same split.

The decoded, resized images are cached in memory after the first epoch (the folders this is for
are small); pass ``cache=False`` for a folder that does not fit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keraslab.data.catalog import DatasetSpec
from keraslab.errors import CorruptDataError, DatasetNotFoundError, InputSpecError

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderListing",
    "LabelledImages",
    "image_folder",
    "labelled_arrays",
    "labelled_dataset",
    "scan_image_folder",
]

#: The file extensions ``keras.utils.image_dataset_from_directory`` reads.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

# What each format's file starts with: a file with an image extension that does not is named
# as not an image before any decoding.
_MAGIC = {
    ".png": (b"\x89PNG",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".bmp": (b"BM",),
}


@dataclasses.dataclass(frozen=True)
class FolderListing:
    """What :func:`scan_image_folder` found.

    Attributes:
        directory: the folder.
        class_names: the subfolder names, sorted (label k is ``class_names[k]``).
        files: per class, the image files relative to ``directory`` (POSIX separators, sorted).
    """

    directory: Path
    class_names: tuple[str, ...]
    files: tuple[tuple[str, ...], ...]

    @property
    def file_count(self) -> int:
        """Number of image files."""
        return sum(len(f) for f in self.files)

    @property
    def file_list_sha256(self) -> str:
        """SHA-256 of the sorted relative file list, one path per line (``\\n``-terminated):
        a record of which files trained a model, independent of where the folder lives."""
        names = sorted(name for per_class in self.files for name in per_class)
        return hashlib.sha256("".join(f"{n}\n" for n in names).encode()).hexdigest()

    def provenance(self) -> dict[str, Any]:
        """The folder's record for ``run.json``: path, file count, file-list hash, classes."""
        return {
            "kind": "image_folder",
            "path": str(self.directory),
            "file_count": self.file_count,
            "file_list_sha256": self.file_list_sha256,
            "class_names": list(self.class_names),
            "images_per_class": [len(f) for f in self.files],
        }


@dataclasses.dataclass(frozen=True)
class LabelledImages:
    """Training (and validation) batches of user images for a model of a given input.

    Attributes:
        train: batched, finite ``tf.data.Dataset`` of ``(normalized float32 (B, H, W, C),
            int32 labels (B,))``, reshuffled every epoch.
        validation: the held-out split, in a fixed order, or ``None``.
        class_names: label k's name.
        train_count, validation_count: images in each split.
        source: a JSON-able record of where the images came from (for ``run.json``).
    """

    train: Any
    validation: Any
    class_names: tuple[str, ...]
    train_count: int
    validation_count: int
    source: dict[str, Any]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _check_split(validation_split: float) -> float:
    split = float(validation_split)
    if not 0.0 <= split < 1.0:
        raise ValueError(
            f"validation_split must be in [0, 1) (the fraction held out), got {validation_split}"
        )
    return split


def _too_few(counts: Sequence[int], names: Sequence[str], split: float) -> None:
    """Each class needs an image on each side of the split (in expectation: n·f ≥ 1 and
    n·(1 − f) ≥ 1), and two to train on at all."""
    need = 2 if split == 0 else max(2, math.ceil(1 / min(split, 1 - split)))
    short = [f"{n} ({c})" for n, c in zip(names, counts, strict=True) if c < need]
    if short:
        why = f"validation split {split:g}" if split else "training"
        raise InputSpecError(
            f"too few images for {why}: each class needs at least {need}, but "
            f"{', '.join(short)} have fewer; add images or "
            + ("lower the validation split" if split else "drop those classes")
        )


def scan_image_folder(
    directory: str | os.PathLike, *, validation_split: float = 0.0
) -> FolderListing:
    """List and check an image folder (one subfolder per class) without decoding anything.

    Raises:
        DatasetNotFoundError: the folder does not exist or is not a directory.
        InputSpecError: no class subfolders, only one class, a class without images, too few
            images per class for ``validation_split``.
        CorruptDataError: a file in a class folder is not a PNG/JPEG/BMP/GIF image (named).
    """
    root = Path(directory)
    split = _check_split(validation_split)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"image folder {root} does not exist (or is not a directory); pass a folder with "
            "one subfolder of images per class"
        )
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputSpecError(
            f"image folder {root} has no class subfolders; put each class's images in its own "
            f"subfolder ({root}/<class name>/<image>.png)"
        )
    if len(classes) == 1:
        raise InputSpecError(
            f"image folder {root} has one class only ({classes[0]!r}); a classifier needs at "
            "least two class subfolders"
        )
    files: list[tuple[str, ...]] = []
    for name in classes:
        found = []
        for dirpath, dirnames, filenames in os.walk(root / name):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for file_name in filenames:
                if file_name.startswith("."):
                    continue  # .DS_Store and friends
                path = Path(dirpath) / file_name
                suffix = path.suffix.lower()
                with open(path, "rb") as fh:
                    head = fh.read(8)
                if suffix not in IMAGE_EXTENSIONS or not head.startswith(_MAGIC[suffix]):
                    raise CorruptDataError(
                        f"{path} is not a PNG, JPEG, BMP or GIF image; remove it from {root} "
                        "(or convert it)"
                    )
                found.append(path.relative_to(root).as_posix())
        if not found:
            raise InputSpecError(
                f"class folder {root / name} holds no images; add images or remove the folder"
            )
        files.append(tuple(sorted(found)))
    _too_few([len(f) for f in files], classes, split)
    return FolderListing(root, tuple(classes), tuple(files))


def _check_decodable(listing: FolderListing, channels: int) -> None:
    import tensorflow as tf

    for per_class in listing.files:
        for name in per_class:
            path = listing.directory / name
            try:
                image = tf.io.decode_image(
                    path.read_bytes(), channels=channels, expand_animations=False
                )
            except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
                raise CorruptDataError(
                    f"{path} cannot be decoded ({str(exc).splitlines()[0][:80]}); replace or "
                    f"remove it from {listing.directory}"
                ) from exc
            if 0 in image.shape:
                raise CorruptDataError(f"{path} is an empty image; remove it")


def _convert(image: Any, spec: DatasetSpec) -> Any:
    """One raw image ``(h, w, c)`` (any size, 1, 3 or 4 channels) → float32 ``spec.image_shape``
    raw pixels: bilinear resize, then grayscale ↔ RGB (alpha dropped)."""
    import tensorflow as tf

    height, width, channels = spec.image_shape
    x = tf.cast(image, tf.float32)
    if x.shape.rank == 2:
        x = x[..., None]
    have = x.shape[-1]
    if have == 4 or (have == 2):  # RGBA / gray+alpha: drop alpha
        x = x[..., : have - 1]
        have -= 1
    if have != channels:
        x = tf.image.grayscale_to_rgb(x) if channels == 3 else tf.image.rgb_to_grayscale(x)
    if tuple(x.shape[-3:-1]) != (height, width):
        x = tf.image.resize(x, (height, width), method="bilinear")
    return tf.ensure_shape(x, spec.image_shape)


def _finish(
    train: Any,
    validation: Any,
    spec: DatasetSpec,
    *,
    train_count: int,
    batch_size: int,
    augment: bool,
    seed: int,
    cache: bool,
) -> tuple[Any, Any]:
    """Cache, shuffle, augment, batch and normalize, as :func:`keraslab.data.load` does."""
    import tensorflow as tf

    from keraslab.data import augment as _augment

    def normalize(x: Any, y: Any) -> tuple[Any, Any]:
        return _augment.normalize(x, spec), tf.cast(y, tf.int32)

    if cache:
        train = train.cache()
    train = train.shuffle(max(train_count, 1), seed=seed, reshuffle_each_iteration=True)
    if augment:
        fn = _augment.augmentation_for(spec)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        train = tf.data.Dataset.zip((train, seeds)).map(
            lambda xy, s: (fn(xy[0], s), xy[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    train = train.batch(batch_size).map(normalize, num_parallel_calls=tf.data.AUTOTUNE)
    if validation is not None:
        if cache:
            validation = validation.cache()
        validation = validation.batch(batch_size).map(normalize)
        validation = validation.prefetch(tf.data.AUTOTUNE)
    return train.prefetch(tf.data.AUTOTUNE), validation


def _check_batch(batch_size: int) -> None:
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def image_folder(
    directory: str | os.PathLike,
    spec: DatasetSpec,
    *,
    validation_split: float = 0.0,
    seed: int = 0,
    batch_size: int = 32,
    augment: bool = False,
    cache: bool = True,
    check_decode: bool = True,
) -> LabelledImages:
    """Batches for a model of input ``spec.image_shape`` from a folder of class subfolders,
    read by ``keras.utils.image_dataset_from_directory``.

    Args:
        directory: the folder (``DIR/<class>/<image>``).
        spec: the base model's dataset spec: its image shape (size and channels) is what the
            images become, its ``mean``/``std`` normalize them.
        validation_split: fraction held out for validation (0: none), Keras's seeded split.
        seed: seeds the split, the shuffling and the augmentation.
        batch_size: images per batch.
        augment: apply the spec's standard augmentation (:func:`keraslab.data.load`'s).
        cache: keep the decoded, resized images in memory after the first epoch.
        check_decode: decode every file once first, so a damaged one is named (seconds for a
            few thousand small images).

    Raises:
        DatasetNotFoundError, InputSpecError, CorruptDataError: see :func:`scan_image_folder`;
            also a file that does not decode (named).
    """
    import keras

    _check_batch(batch_size)
    listing = scan_image_folder(directory, validation_split=validation_split)
    height, width, channels = spec.image_shape
    if check_decode:
        _check_decodable(listing, channels)
    split = _check_split(validation_split)
    common: dict[str, Any] = dict(
        labels="inferred",
        label_mode="int",
        class_names=list(listing.class_names),
        color_mode="grayscale" if channels == 1 else "rgb",
        batch_size=None,
        image_size=(height, width),
        shuffle=True,  # shuffles the file list before the split (Keras's seeded split)
        seed=seed,
        verbose=False,
    )
    if split:
        train, validation = keras.utils.image_dataset_from_directory(
            str(listing.directory), validation_split=split, subset="both", **common
        )
    else:
        train = keras.utils.image_dataset_from_directory(str(listing.directory), **common)
        validation = None
    validation_count = int(split * listing.file_count)
    train_count = listing.file_count - validation_count
    train, validation = _finish(
        train,
        validation,
        spec,
        train_count=train_count,
        batch_size=batch_size,
        augment=augment,
        seed=seed,
        cache=cache,
    )
    source = {**listing.provenance(), "validation_split": split, "seed": seed}
    return LabelledImages(
        train, validation, listing.class_names, train_count, validation_count, source
    )


def _class_names(labels: np.ndarray, class_names: Sequence[str] | None) -> tuple[str, ...]:
    if class_names is None:
        count = int(labels.max()) + 1 if labels.size else 0
        names = tuple(str(k) for k in range(count))
    else:
        names = tuple(str(n) for n in class_names)
    if len(names) < 2:
        raise InputSpecError(
            f"the labels name {len(names)} class(es); a classifier needs at least two"
        )
    return names


def labelled_arrays(
    images: Any,
    labels: Any,
    spec: DatasetSpec,
    *,
    class_names: Sequence[str] | None = None,
    validation_split: float = 0.0,
    seed: int = 0,
    batch_size: int = 32,
    augment: bool = False,
) -> LabelledImages:
    """:func:`image_folder` for NumPy arrays: raw pixels (0–255) ``(N, h, w[, c])`` of any
    size and 1, 3 or 4 channels, integer labels ``0 … K − 1``. The split is Keras's rule: a
    seeded permutation, the last ``validation_split`` fraction held out.

    Raises:
        InputSpecError: images and labels of different lengths, labels that are not integers
            in ``[0, K)``, fewer than two classes or too few images of a class for the split.
    """
    _check_batch(batch_size)
    split = _check_split(validation_split)
    x = np.asarray(images)
    y = np.asarray(labels)
    if x.ndim not in (3, 4) or y.ndim != 1 or len(x) != len(y):
        raise InputSpecError(
            f"images {x.shape} and labels {y.shape} do not match: pass images (N, H, W[, C]) "
            "and one integer label per image (N,)"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise InputSpecError(f"labels have dtype {y.dtype}; pass integer class ids 0 … K − 1")
    names = _class_names(y, class_names)
    if y.size and (y.min() < 0 or y.max() >= len(names)):
        raise InputSpecError(
            f"labels run from {y.min()} to {y.max()} but there are {len(names)} class names; "
            f"labels must be in [0, {len(names)})"
        )
    counts = np.bincount(y, minlength=len(names))
    _too_few(counts.tolist(), names, split)
    if x.ndim == 3:
        x = x[..., None]
    order = np.random.RandomState(seed).permutation(len(y))
    n_val = int(split * len(y))
    train_idx, val_idx = order[: len(y) - n_val], order[len(y) - n_val :]
    converted = _convert_arrays(x, spec)
    train, validation = _arrays_to_datasets(converted, y, train_idx, val_idx if n_val else None)
    train, validation = _finish(
        train,
        validation,
        spec,
        train_count=len(train_idx),
        batch_size=batch_size,
        augment=augment,
        seed=seed,
        cache=False,
    )
    source = {
        "kind": "arrays",
        "count": int(len(y)),
        "class_names": list(names),
        "images_per_class": counts.tolist(),
        "validation_split": split,
        "seed": seed,
    }
    return LabelledImages(train, validation, names, len(train_idx), n_val, source)


def _convert_arrays(x: np.ndarray, spec: DatasetSpec) -> np.ndarray:
    import tensorflow as tf

    return tf.map_fn(
        lambda im: _convert(im, spec),
        tf.constant(x),
        fn_output_signature=tf.TensorSpec(spec.image_shape, tf.float32),
    ).numpy()


def _arrays_to_datasets(
    x: np.ndarray, y: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray | None
) -> tuple[Any, Any]:
    import tensorflow as tf

    train = tf.data.Dataset.from_tensor_slices((x[train_idx], y[train_idx].astype(np.int32)))
    validation = None
    if val_idx is not None:
        validation = tf.data.Dataset.from_tensor_slices((x[val_idx], y[val_idx].astype(np.int32)))
    return train, validation


def labelled_dataset(
    dataset: Any,
    spec: DatasetSpec,
    class_names: Sequence[str],
    *,
    validation: Any = None,
    seed: int = 0,
    batch_size: int = 32,
    augment: bool = False,
) -> LabelledImages:
    """:func:`image_folder` for a ``tf.data.Dataset`` of ``(raw image, integer label)``
    (unbatched; any size, 1, 3 or 4 channels, 0–255), with an optional ``validation`` dataset of
    the same kind (a dataset is not split: hold out your own). ``class_names`` names the labels.

    Raises:
        InputSpecError: fewer than two class names, or a dataset of unknown or infinite length
            (``fit`` needs the number of batches).
    """
    import tensorflow as tf

    _check_batch(batch_size)
    names = _class_names(np.zeros(0, np.int64), class_names)

    def prepare(ds: Any, what: str) -> tuple[Any, int]:
        count = int(ds.cardinality())
        if count < 0:
            raise InputSpecError(
                f"the {what} dataset has unknown or infinite length; do not .repeat() it, or "
                "give it one with dataset.apply(tf.data.experimental.assert_cardinality(N))"
            )
        converted = ds.map(
            lambda x, y: (_convert(x, spec), tf.cast(y, tf.int32)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return converted, count

    train, train_count = prepare(dataset, "training")
    val, val_count = prepare(validation, "validation") if validation is not None else (None, 0)
    train, val = _finish(
        train,
        val,
        spec,
        train_count=train_count,
        batch_size=batch_size,
        augment=augment,
        seed=seed,
        cache=False,
    )
    source = {"kind": "tf.data", "count": train_count, "class_names": list(names), "seed": seed}
    return LabelledImages(train, val, names, train_count, val_count, source)
