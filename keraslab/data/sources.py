"""Finding a dataset on this machine (or fetching it) and reading it into NumPy arrays.

Sources, in the order ``source="auto"`` tries them:

1. ``data_dir`` — only when the caller passes ``data_dir``: the original files in that directory
   (or in ``data_dir/<dataset name>``), then TFDS prepared data under it. An explicit directory is
   a promise that the data is there, so when it is not, the search stops with an error naming the
   directory instead of quietly using some other copy.
2. ``tfds`` — data already prepared by TensorFlow Datasets in ``$TFDS_DATA_DIR`` or
   ``~/tensorflow_datasets``.
3. ``local`` — the original files (IDX ``.gz`` files, CIFAR-10 binary batches or the
   ``cifar-10-binary.tar.gz`` archive) in ``$KERASLAB_DATA``, ``~/.keras/datasets`` and
   :data:`SYSTEM_DATA_DIRS` (``/usr/share/datasets``, where Debian's ``dataset-fashion-mnist``
   puts Fashion-MNIST).
4. ``download`` — ``tfds.load(..., download=True)``; skipped when ``KERASLAB_OFFLINE=1``.

``embedded`` is the Fashion-MNIST sample shipped inside the package (``fashion_mnist_sample``,
which never comes from anywhere else). Nothing is ever unpickled; a missing dataset raises one
:class:`~keraslab.errors.DatasetNotFoundError` that lists every place looked at and how to get the
data, and a damaged file raises :class:`~keraslab.errors.CorruptDataError`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keraslab.data.catalog import SPLITS, DatasetSpec, get_spec
from keraslab.data.formats import (
    CIFAR10_RECORD_BYTES,
    read_cifar10_binary,
    read_idx_header,
    read_idx_pair,
    safe_extract_tar,
)
from keraslab.errors import CorruptDataError, DatasetNotFoundError, UnknownNameError

__all__ = [
    "SOURCES",
    "SYSTEM_DATA_DIRS",
    "SAMPLE_DIR",
    "LoadedArrays",
    "load_arrays",
    "describe",
    "verify_sample",
]

logger = logging.getLogger("keraslab.data")

SOURCES = ("auto", "data_dir", "tfds", "local", "download", "embedded")

# System-wide dataset directories (Debian's dataset-* packages install here). A module-level
# tuple so tests and unusual installs can replace it.
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)

# The embedded Fashion-MNIST sample; module-level so a test can point it at a damaged copy.
SAMPLE_DIR: Path = Path(__file__).resolve().parent / "sample"
SAMPLE_NAME = "fashion_mnist_sample"

_CIFAR_BATCH_DIR = "cifar-10-batches-bin"
_CIFAR_PICKLE_DIR = "cifar-10-batches-py"


@dataclass(frozen=True)
class LoadedArrays:
    """One split of a dataset in memory.

    Attributes:
        images: uint8 array ``(N, H, W, C)``.
        labels: int32 array ``(N,)``.
        source: which source provided it (``"data_dir"``, ``"tfds"``, ``"local"``,
            ``"download"`` or ``"embedded"``).
        location: the directory, archive or TFDS directory it was read from.
    """

    images: np.ndarray
    labels: np.ndarray
    source: str
    location: str

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class _Attempt:
    """One place looked at, for the not-found message and for :func:`describe`."""

    source: str
    location: str
    found: bool
    detail: str


@dataclass
class _Originals:
    """Original files of one split found in a directory."""

    directory: Path
    paths: tuple[Path, ...] = ()
    archive: Path | None = None


# --------------------------------------------------------------------------------------------
# Where to look


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _offline() -> bool:
    return _env_flag("KERASLAB_OFFLINE")


def _dir_names(spec: DatasetSpec) -> list[str]:
    names = [spec.name, *spec.archive_dirnames]
    return list(dict.fromkeys(names))


def _unique(paths: list[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


def _data_dir_candidates(data_dir: Path, spec: DatasetSpec) -> list[Path]:
    # The caller pointed at this directory, so its own files come first.
    return _unique([data_dir, *(data_dir / n for n in _dir_names(spec))])


def _local_candidates(spec: DatasetSpec) -> list[Path]:
    dirs: list[Path] = []
    for root in filter(None, os.environ.get("KERASLAB_DATA", "").split(os.pathsep)):
        root_path = Path(root).expanduser()
        # Named subdirectories before the root itself: MNIST and Fashion-MNIST use the same file
        # names, so a bare root is the place where one could be mistaken for the other.
        dirs += [root_path / n for n in _dir_names(spec)] + [root_path]
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
    dirs += [keras_home / "datasets" / n for n in _dir_names(spec)]
    for system_dir in SYSTEM_DATA_DIRS:
        dirs += [Path(system_dir) / n for n in _dir_names(spec)]
    return _unique(dirs)


def _tfds_default_dir() -> Path:
    return Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets").expanduser()


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "keraslab"


# --------------------------------------------------------------------------------------------
# Original files


def _idx_file(directory: Path, stem: str) -> Path | None:
    # Some mirrors unpack to "train-images.idx3-ubyte" (a dot instead of the dash).
    dotted = stem.replace("-idx", ".idx")
    for name in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        path = directory / name
        if path.is_file():
            return path
    return None


def _find_originals(directory: Path, spec: DatasetSpec, split: str) -> _Originals | None:
    """The original files for ``split`` in ``directory``, or None (see :func:`_why_not_found`)."""
    found = _Originals(directory)
    if not directory.is_dir():
        return None
    if spec.file_format == "idx":
        paths = [_idx_file(directory, stem) for stem in spec.files[split]]
        if all(paths):
            found.paths = tuple(p for p in paths if p is not None)
            return found
        return None
    # CIFAR-10 binary: an extracted batch directory, the batches themselves, or the archive.
    for batch_dir in (directory / _CIFAR_BATCH_DIR, directory):
        paths = [batch_dir / name for name in spec.files[split]]
        if all(p.is_file() for p in paths):
            found.directory = batch_dir
            found.paths = tuple(paths)
            return found
    if spec.archive and (directory / spec.archive).is_file():
        found.archive = directory / spec.archive
        return found
    return None


def _why_not_found(directory: Path, spec: DatasetSpec, split: str) -> str:
    if not directory.exists():
        return "no such directory"
    if not directory.is_dir():
        return "not a directory"
    if spec.file_format == "idx":
        missing = [f"{s}[.gz]" for s in spec.files[split] if _idx_file(directory, s) is None]
        return "missing " + ", ".join(missing)
    if (directory / _CIFAR_PICKLE_DIR).exists() or (directory / "cifar-10-python.tar.gz").exists():
        return (
            "holds only the CIFAR-10 Python (pickle) version, which keraslab does not read; "
            "get the binary version cifar-10-binary.tar.gz"
        )
    return f"no {_CIFAR_BATCH_DIR}/{spec.files[split][0]} and no {spec.archive}"


def _extract_archive(archive: Path) -> Path:
    """Extract ``archive`` once into the keraslab cache; return the extracted directory."""
    stat = archive.stat()
    key = hashlib.sha256(
        f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    ).hexdigest()[:16]
    stem = archive.name.removesuffix(".gz").removesuffix(".tar").removesuffix(".tgz")
    target = _cache_root() / "extracted" / f"{stem}-{key}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Extract beside the target and rename, so a crash or a concurrent process never leaves a
    # half-extracted directory under the final name.
    tmp = Path(tempfile.mkdtemp(prefix=f".{stem}-", dir=target.parent))
    try:
        logger.info("extracting %s into %s", archive, target)
        safe_extract_tar(archive, tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _read_originals(
    found: _Originals, spec: DatasetSpec, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """Read the files of ``found``; return (images uint8 NHWC, labels)."""
    if found.archive is not None:
        extracted = _extract_archive(found.archive)
        inner = _find_originals(extracted, spec, split)
        if inner is None or inner.archive is not None:
            raise CorruptDataError(
                f"{found.archive} does not contain {_CIFAR_BATCH_DIR}/"
                f"{', '.join(spec.files[split])}: is it really cifar-10-binary.tar.gz? "
                "Re-download the binary version"
            )
        found = _Originals(inner.directory, inner.paths, archive=found.archive)
    if spec.file_format == "idx":
        images, labels = read_idx_pair(*found.paths, num_classes=spec.num_classes)
    else:
        parts = [read_cifar10_binary(p) for p in found.paths]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
    if images.shape[1:] != spec.image_shape:
        raise CorruptDataError(
            f"{found.paths[0]} holds images of shape {images.shape[1:]} but {spec.name} images "
            f"are {spec.image_shape}: the directory holds a different dataset"
        )
    return images, labels


# --------------------------------------------------------------------------------------------
# TensorFlow Datasets


def _tfds_prepared(tfds_dir: Path, spec: DatasetSpec) -> Path | None:
    """The prepared TFDS directory of ``spec`` under ``tfds_dir``; never imports TFDS."""
    if spec.tfds_name is None:
        return None
    base = tfds_dir / spec.tfds_name
    # Prepared data lives in <name>/[<config>/]<version>/dataset_info.json.
    if base.is_dir() and (
        any(base.glob("*/dataset_info.json")) or any(base.glob("*/*/dataset_info.json"))
    ):
        return base
    return None


def _load_tfds(
    spec: DatasetSpec, split: str, data_dir: Path | None, download: bool
) -> tuple[np.ndarray, np.ndarray]:
    # Imported here: tensorflow_datasets is slow to import and most runs never need it.
    import tensorflow_datasets as tfds

    arrays = tfds.load(
        spec.tfds_name,
        split=split,
        data_dir=None if data_dir is None else str(data_dir),
        download=download,
        as_supervised=True,
        batch_size=-1,
    )
    images, labels = tfds.as_numpy(arrays)
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images, np.asarray(labels)


# --------------------------------------------------------------------------------------------
# Embedded sample


def verify_sample(directory: Path | None = None) -> dict[str, Path]:
    """Check the embedded sample's files against its ``SHA256SUMS``.

    Returns:
        File name → path of each verified file.

    Raises:
        DatasetNotFoundError: the sample or its checksum list is missing.
        CorruptDataError: a file's SHA-256 differs from the recorded one.
    """
    directory = Path(directory) if directory is not None else SAMPLE_DIR
    sums_path = directory / "SHA256SUMS"
    if not sums_path.is_file():
        raise DatasetNotFoundError(
            f"the embedded Fashion-MNIST sample is missing ({sums_path} does not exist): "
            "reinstall keraslab (`pip install --force-reinstall keraslab`)"
        )
    verified = {}
    for line in sums_path.read_text().splitlines():
        if not line.strip():
            continue
        fields = line.split(maxsplit=1)
        if len(fields) != 2:
            raise CorruptDataError(f"{sums_path} has a malformed line {line!r}: reinstall keraslab")
        expected, name = fields[0], fields[1].lstrip("*")
        path = directory / name
        if not path.is_file():
            raise DatasetNotFoundError(
                f"the embedded sample file {path} is missing: reinstall keraslab"
            )
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise CorruptDataError(
                f"the embedded sample file {path} is corrupt: its SHA-256 is {actual} but "
                f"SHA256SUMS records {expected}; reinstall keraslab"
            )
        verified[name] = path
    return verified


def _load_embedded(split: str) -> LoadedArrays:
    spec = get_spec(SAMPLE_NAME)
    files = verify_sample(SAMPLE_DIR)
    names = [f"{stem}.gz" for stem in spec.files[split]]
    for name in names:
        if name not in files:
            raise CorruptDataError(
                f"{SAMPLE_DIR / 'SHA256SUMS'} does not list {name}: reinstall keraslab"
            )
    images, labels = read_idx_pair(*(files[n] for n in names), num_classes=spec.num_classes)
    logger.info("%s/%s from the embedded sample %s", SAMPLE_NAME, split, SAMPLE_DIR)
    return LoadedArrays(images, labels.astype(np.int32), "embedded", str(SAMPLE_DIR))


# --------------------------------------------------------------------------------------------
# The search


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise UnknownNameError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return split


def _check_source(source: str) -> str:
    if source not in SOURCES:
        raise UnknownNameError(f"unknown data source {source!r}; use one of {', '.join(SOURCES)}")
    return source


def _search_dirs(
    source: str, dirs: list[Path], spec: DatasetSpec, split: str, attempts: list[_Attempt]
) -> LoadedArrays | None:
    for directory in dirs:
        found = _find_originals(directory, spec, split)
        if found is None:
            attempts.append(
                _Attempt(source, str(directory), False, _why_not_found(directory, spec, split))
            )
            continue
        images, labels = _read_originals(found, spec, split)
        location = str(found.archive or found.directory)
        return LoadedArrays(images, labels.astype(np.int32), source, location)
    return None


def _try_tfds(
    source: str,
    tfds_dir: Path,
    spec: DatasetSpec,
    split: str,
    attempts: list[_Attempt],
    download: bool = False,
) -> LoadedArrays | None:
    if spec.tfds_name is None:
        return None
    prepared = _tfds_prepared(tfds_dir, spec)
    if prepared is None and not download:
        attempts.append(
            _Attempt(source, str(tfds_dir / spec.tfds_name), False, "no prepared TFDS data")
        )
        return None
    try:
        images, labels = _load_tfds(spec, split, tfds_dir, download=download)
    except Exception as e:  # noqa: BLE001 - TFDS raises many types; the next source may work
        detail = f"TFDS failed: {e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        logger.warning("%s/%s via %s: %s", spec.name, split, source, detail)
        attempts.append(_Attempt(source, str(tfds_dir / spec.tfds_name), False, detail))
        return None
    if images.shape[1:] != spec.image_shape:
        raise CorruptDataError(
            f"TFDS data in {tfds_dir / spec.tfds_name} has images of shape {images.shape[1:]}, "
            f"expected {spec.image_shape}: delete that directory and let TFDS prepare it again"
        )
    return LoadedArrays(images, labels.astype(np.int32), source, str(tfds_dir / spec.tfds_name))


def _not_found(
    spec: DatasetSpec, split: str, attempts: list[_Attempt], data_dir: Path | None
) -> DatasetNotFoundError:
    if data_dir is not None:
        head = (
            f"dataset {spec.name!r} ({split} split) is not in the directory {data_dir} "
            f"given as data_dir. Looked at:"
        )
    else:
        head = f"dataset {spec.name!r} ({split} split) was not found. Sources tried, in order:"
    lines = [head]
    lines += [f"  - {a.source}: {a.location} ({a.detail})" for a in attempts]
    lines.append(f"To get it: {spec.how_to_get}.")
    if data_dir is None and spec.tfds_name:
        lines.append(
            "With internet access, unset KERASLAB_OFFLINE and keraslab downloads it through "
            "TensorFlow Datasets."
        )
    lines.append(
        "To work offline right now, use the Fashion-MNIST sample that ships with keraslab: "
        "load('fashion_mnist_sample') or source='embedded' (5,000 real images)."
    )
    return DatasetNotFoundError("\n".join(lines))


def load_arrays(
    name: str,
    split: str,
    *,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
) -> LoadedArrays:
    """Load one split of a dataset as NumPy arrays from the first source that has it.

    Args:
        name: a catalog name (``mnist``, ``fashion_mnist``, ``cifar10``, ``fashion_mnist_sample``;
            ``fashion-mnist`` is accepted).
        split: ``"train"`` or ``"test"``.
        source: ``"auto"`` (see the module docstring for the order) or one source to force:
            ``"data_dir"``, ``"tfds"``, ``"local"``, ``"download"`` or ``"embedded"``
            (the Fashion-MNIST sample; only for ``fashion_mnist`` / ``fashion_mnist_sample``).
        data_dir: a directory holding the original files or TFDS prepared data. With
            ``source="auto"`` it is the only place searched. With ``"tfds"`` / ``"download"`` it
            is the TFDS data directory; with ``"local"`` it is searched before the usual places.

    Returns:
        :class:`LoadedArrays` with uint8 NHWC images, int32 labels, and where they came from.

    Raises:
        UnknownNameError: unknown dataset, split or source.
        DatasetNotFoundError: no source has the data; the message lists every place tried.
        CorruptDataError: a file was found but is damaged.
    """
    spec = get_spec(name)
    split = _check_split(split)
    source = _check_source(source)
    data_path = None if data_dir is None else Path(data_dir).expanduser()

    if spec.name == SAMPLE_NAME:
        if source not in ("auto", "embedded"):
            raise UnknownNameError(
                f"{SAMPLE_NAME} only comes from the package itself; use source='embedded' or "
                f"'auto', not {source!r} (for the full set load 'fashion_mnist')"
            )
        return _load_embedded(split)
    if source == "embedded":
        if spec.name != "fashion_mnist":
            raise DatasetNotFoundError(
                f"only Fashion-MNIST has an embedded sample, not {spec.name}. "
                f"To get {spec.name}: {spec.how_to_get}."
            )
        return _load_embedded(split)
    if source == "data_dir" and data_path is None:
        raise UnknownNameError("source='data_dir' needs data_dir=<directory>")

    attempts: list[_Attempt] = []
    result = None
    if data_path is not None and source in ("auto", "data_dir"):
        result = _search_dirs(
            "data_dir", _data_dir_candidates(data_path, spec), spec, split, attempts
        ) or _try_tfds("data_dir", data_path, spec, split, attempts)
    else:
        if source in ("auto", "tfds"):
            result = _try_tfds("tfds", data_path or _tfds_default_dir(), spec, split, attempts)
        if result is None and source in ("auto", "local"):
            dirs = _local_candidates(spec)
            if data_path is not None:
                dirs = _data_dir_candidates(data_path, spec) + dirs
            if not os.environ.get("KERASLAB_DATA"):
                attempts.append(_Attempt("local", "$KERASLAB_DATA", False, "not set"))
            result = _search_dirs("local", dirs, spec, split, attempts)
        if result is None and source in ("auto", "download") and spec.tfds_name is not None:
            if _offline():
                skipped = _Attempt("download", "TFDS", False, "skipped: KERASLAB_OFFLINE=1")
                attempts.append(skipped)
            else:
                target = data_path or _tfds_default_dir()
                result = _try_tfds("download", target, spec, split, attempts, download=True)

    if result is None:
        raise _not_found(spec, split, attempts, data_path)
    logger.info(
        "%s/%s (%d images) from source %r at %s",
        spec.name,
        split,
        len(result),
        result.source,
        result.location,
    )
    return result


# --------------------------------------------------------------------------------------------
# Describe


def _describe_originals(found: _Originals, spec: DatasetSpec) -> str:
    if found.archive is not None:
        return f"archive {found.archive.name} (extracted into {_cache_root()} on first use)"
    if spec.file_format == "idx":
        try:
            _, dims = read_idx_header(found.paths[0])
        except CorruptDataError as e:
            return f"corrupt: {e}"
        return f"{dims[0]} images of {'x'.join(map(str, dims[1:]))} in IDX files"
    total = sum(p.stat().st_size for p in found.paths)
    return f"{total / CIFAR10_RECORD_BYTES:g} records in {len(found.paths)} CIFAR-10 binary batches"


def describe(name: str, *, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Report, for each source, whether it has ``name`` and where, without loading it.

    Only existence and file headers are checked, so this is cheap enough for a CLI ``info``
    command. Does not import ``tensorflow_datasets``.

    Returns:
        A JSON-serialisable dict: ``name``, ``spec`` (shape, classes, mean/std, TFDS name),
        ``sources`` (a list of ``{"source", "split", "found", "location", "detail"}``) and
        ``auto`` (the source ``load(name, …)`` would use for the training split, or ``None``).
    """
    spec = get_spec(name)
    data_path = None if data_dir is None else Path(data_dir).expanduser()
    rows: list[dict[str, Any]] = []

    def add(source: str, split: str, found: bool, location: str, detail: str) -> None:
        rows.append(
            {
                "source": source,
                "split": split,
                "found": found,
                "location": location,
                "detail": detail,
            }
        )

    def scan(source: str, dirs: list[Path]) -> None:
        for split in SPLITS:
            for directory in dirs:
                found = _find_originals(directory, spec, split)
                if found is not None:
                    location = str(found.archive or found.directory)
                    add(source, split, True, location, _describe_originals(found, spec))
                    break
            else:
                add(source, split, False, ", ".join(map(str, dirs)), "no original files")

    def tfds_row(source: str, tfds_dir: Path) -> None:
        prepared = _tfds_prepared(tfds_dir, spec)
        where = str(tfds_dir / (spec.tfds_name or ""))
        add(source, "*", prepared is not None, where, "prepared TFDS data" if prepared else "none")

    if spec.name == SAMPLE_NAME or spec.name == "fashion_mnist":
        try:
            files = verify_sample(SAMPLE_DIR)
            add("embedded", "*", True, str(SAMPLE_DIR), f"{len(files)} files, checksums OK")
        except (CorruptDataError, DatasetNotFoundError) as e:
            add("embedded", "*", False, str(SAMPLE_DIR), str(e))
    if spec.name != SAMPLE_NAME:
        if data_path is not None:
            scan("data_dir", _data_dir_candidates(data_path, spec))
            tfds_row("data_dir", data_path)
        tfds_row("tfds", _tfds_default_dir())
        scan("local", _local_candidates(spec))
        if _offline():
            add("download", "*", False, "tensorflow_datasets", "disabled: KERASLAB_OFFLINE=1")
        else:
            add("download", "*", False, str(_tfds_default_dir()), "available when online")

    order = ["data_dir"] if data_path is not None else ["tfds", "local"]
    if spec.name == SAMPLE_NAME:
        order = ["embedded"]
    auto = next(
        (
            r["source"]
            for s in order
            for r in rows
            if r["source"] == s and r["found"] and r["split"] in ("train", "*")
        ),
        None,
    )
    return {
        "name": spec.name,
        "spec": {
            "image_shape": list(spec.image_shape),
            "num_classes": spec.num_classes,
            "class_names": list(spec.class_names),
            "mean": list(spec.mean),
            "std": list(spec.std),
            "tfds_name": spec.tfds_name,
        },
        "sources": rows,
        "auto": auto,
        "how_to_get": spec.how_to_get,
    }
