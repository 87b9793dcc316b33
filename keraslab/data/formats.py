"""Readers and writers for the datasets' original file formats, in pure NumPy.

Two formats are read:

* **IDX** (LeCun et al., 1998), the format of MNIST and Fashion-MNIST: a 4-byte magic number
  ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian ``uint32`` dimensions, then the
  row-major payload. Files are usually gzip-compressed.
* **CIFAR-10 binary version** (Krizhevsky, 2009): fixed-size records of one label byte followed by
  3072 pixel bytes, stored as three 32×32 planes (red, green, blue), i.e. channels-first.

Nothing here ever unpickles: the Python version of CIFAR-10 is deliberately not supported because
loading a pickle runs arbitrary code from the file. Every malformed file raises
:class:`~keraslab.errors.CorruptDataError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import struct
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from keraslab.errors import CorruptDataError

__all__ = [
    "IDX_DTYPES",
    "CIFAR10_RECORD_BYTES",
    "read_idx",
    "read_idx_header",
    "read_idx_pair",
    "read_cifar10_binary",
    "safe_extract_tar",
    "write_idx",
    "write_cifar10_binary",
]

# IDX type codes → big-endian NumPy dtypes (the format stores multi-byte values big-endian).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}

CIFAR10_IMAGE_SHAPE = (32, 32, 3)
CIFAR10_RECORD_BYTES = 1 + 32 * 32 * 3
_GZIP_MAGIC = b"\x1f\x8b"
_DRIVE = re.compile(r"^[A-Za-z]:")
_FIX = "re-download the dataset (or reinstall the package that provides it)"


def _read_maybe_gzip(path: Path, limit: int | None = None) -> bytes:
    """Return the (decompressed) bytes of ``path``; at most ``limit`` bytes when given."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as e:
        raise CorruptDataError(f"cannot read {path}: {e}") from e
    # Sniff the magic rather than trust the suffix: some mirrors ship decompressed files still
    # named .gz, and some ship compressed files without the suffix.
    if head == _GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as f:
                return f.read() if limit is None else f.read(limit)
        except (OSError, EOFError, zlib.error) as e:
            raise CorruptDataError(
                f"{path} is not a valid gzip file ({e.__class__.__name__}: {e}): {_FIX}"
            ) from e
    if path.suffix == ".gz":
        raise CorruptDataError(
            f"{path} is named .gz but does not start with the gzip magic bytes 1f 8b: {_FIX}"
        )
    with open(path, "rb") as f:
        return f.read() if limit is None else f.read(limit)


def _parse_idx_header(data: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """Parse an IDX header; return (dtype, dims, header length in bytes)."""
    if len(data) < 4:
        raise CorruptDataError(
            f"{path} is too short to be an IDX file ({len(data)} bytes, the header alone "
            f"needs at least 4): {_FIX}"
        )
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise CorruptDataError(
            f"{path} is not an IDX file: its magic number starts with bytes "
            f"{zero0:#04x} {zero1:#04x} instead of 0x00 0x00: {_FIX}"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"{c:#04x}" for c in IDX_DTYPES)
        raise CorruptDataError(
            f"{path} has IDX dtype code {code:#04x}; known codes are {known}: {_FIX}"
        )
    if ndim == 0:
        raise CorruptDataError(f"{path} declares 0 dimensions in its IDX header: {_FIX}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise CorruptDataError(
            f"{path} is truncated inside its IDX header: expected {header_len} header bytes "
            f"for {ndim} dimensions, got {len(data)}: {_FIX}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    return IDX_DTYPES[code], tuple(int(d) for d in dims), header_len


def read_idx_header(path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...]]:
    """Read only the header of an IDX file (plain or gzip).

    Cheap: decompresses at most a few dozen bytes. Used to describe a dataset without loading it.

    Returns:
        ``(dtype, dims)``: the native-byte-order NumPy dtype and the array shape.

    Raises:
        CorruptDataError: the file is not an IDX file.
    """
    path = Path(path)
    head = _read_maybe_gzip(path, limit=4 + 4 * 255)
    dtype, dims, _ = _parse_idx_header(head, path)
    return dtype.newbyteorder("="), dims


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (LeCun et al., 1998), plain or gzip-compressed.

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        The array in native byte order with the shape the header declares (e.g. ``(60000, 28,
        28)`` uint8 for MNIST training images).

    Raises:
        CorruptDataError: bad gzip stream, bad magic, unknown dtype code, or a payload whose length
            differs from the product of the declared dimensions (truncated or trailing bytes).
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    dtype, dims, header_len = _parse_idx_header(data, path)
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise CorruptDataError(
            f"{path} is {what}: its IDX header declares shape {dims} ({expected} payload bytes) "
            f"but the file holds {actual} payload bytes: {_FIX}"
        )
    # bytearray makes the result writable without a second copy.
    array = np.frombuffer(bytearray(data), dtype=dtype, offset=header_len).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx_pair(
    images_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    num_classes: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a matching pair of IDX image and label files.

    Args:
        images_path: 3-D uint8 IDX file of shape ``(N, H, W)``.
        labels_path: 1-D uint8 IDX file of shape ``(N,)``.
        num_classes: labels must lie in ``[0, num_classes)``.

    Returns:
        ``(images, labels)``: uint8 arrays of shapes ``(N, H, W, 1)`` and ``(N,)``.

    Raises:
        CorruptDataError: wrong ranks or dtypes, different counts, or a label out of range.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise CorruptDataError(
            f"{images_path} should hold uint8 images of shape (N, H, W) but holds "
            f"{images.dtype} data of shape {images.shape}: check that images and labels files "
            f"are not swapped, or {_FIX}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise CorruptDataError(
            f"{labels_path} should hold uint8 labels of shape (N,) but holds {labels.dtype} "
            f"data of shape {labels.shape}: check that images and labels files are not "
            f"swapped, or {_FIX}"
        )
    if len(images) != len(labels):
        raise CorruptDataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            f"labels: the two files come from different versions or splits; {_FIX}"
        )
    _check_labels(labels, num_classes, labels_path)
    return images[..., np.newaxis], labels


def _check_labels(labels: np.ndarray, num_classes: int, path: str | os.PathLike) -> None:
    if labels.size and int(labels.max()) >= num_classes:
        bad = int(np.flatnonzero(labels >= num_classes)[0])
        raise CorruptDataError(
            f"{path} has label {int(labels[bad])} at index {bad}, outside [0, {num_classes}): "
            f"{_FIX}"
        )


def read_cifar10_binary(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 *binary version* batch file (e.g. ``data_batch_1.bin``).

    Each record is 1 label byte then 3072 pixel bytes: the 1024 red values, then green, then
    blue, each plane row-major 32×32 (Krizhevsky, 2009, "Learning Multiple Layers of Features from
    Tiny Images"). The planes are transposed to channels-last.

    Returns:
        ``(images, labels)``: uint8 arrays of shapes ``(N, 32, 32, 3)`` and ``(N,)``.

    Raises:
        CorruptDataError: the length is not a positive multiple of 3073 bytes, or a label ≥ 10.
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    if len(data) == 0 or len(data) % CIFAR10_RECORD_BYTES:
        whole, rest = divmod(len(data), CIFAR10_RECORD_BYTES)
        raise CorruptDataError(
            f"{path} is not a CIFAR-10 binary batch: its {len(data)} bytes are not a positive "
            f"multiple of the {CIFAR10_RECORD_BYTES}-byte record ({whole} whole records and "
            f"{rest} bytes left over; expected {(whole + 1) * CIFAR10_RECORD_BYTES} bytes for "
            f"{whole + 1} records): {_FIX}"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR10_RECORD_BYTES)
    labels = records[:, 0].copy()
    _check_labels(labels, 10, path)
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why a tar member must not be extracted, or None when it is a plain file or directory."""
    name = member.name
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "has an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "escapes the destination with '..'"
    if member.issym() or member.islnk():
        return f"is a link (to {member.linkname!r})"
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        return "is a device or FIFO"
    if not (member.isfile() or member.isdir()):
        return f"has unsupported tar type {member.type!r}"
    return None


def safe_extract_tar(archive: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract a ``.tar`` / ``.tar.gz`` archive, refusing anything but plain files and directories.

    Every member is checked before anything is written, so a hostile archive leaves ``dest``
    untouched. Members with absolute paths, ``..`` components, symbolic or hard links, and device
    or FIFO entries are refused. Files are written member by member without ``tarfile``'s own
    ``extractall`` so the behaviour is the same on every Python version (3.10+), with or without
    extraction filters. Permissions and owners from the archive are not applied.

    Args:
        archive: the archive file.
        dest: the directory to extract into (created if needed).

    Returns:
        The paths of the extracted regular files.

    Raises:
        CorruptDataError: the archive is unreadable or has a refused member.
    """
    archive = Path(archive)
    dest = Path(dest)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                problem = _member_problem(member)
                if problem:
                    raise CorruptDataError(
                        f"{archive} member {member.name!r} {problem}; refusing to extract an "
                        f"archive that could write outside {dest}: {_FIX} from its official source"
                    )
            dest.mkdir(parents=True, exist_ok=True)
            root = dest.resolve()
            written = []
            for member in members:
                target = (root / member.name).resolve()
                # Belt and braces against names the checks above did not foresee.
                if target != root and root not in target.parents:
                    raise CorruptDataError(
                        f"{archive} member {member.name!r} resolves outside {dest}; refusing it"
                    )
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise CorruptDataError(f"{archive} member {member.name!r} has no data")
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
                written.append(target)
            return written
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise CorruptDataError(
            f"{archive} is not a readable tar archive ({e.__class__.__name__}: {e}): {_FIX}"
        ) from e


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends with ``.gz``.

    The gzip header carries no file name and a zero timestamp, so the output depends only on the
    data (and the zlib build), which keeps generated files byte-reproducible.

    Raises:
        ValueError: the dtype has no IDX code or the array is 0-D.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    code = _IDX_CODES[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    data = header + payload
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)
    return path


def write_cifar10_binary(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` as a CIFAR-10 binary batch."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[1:] != CIFAR10_IMAGE_SHAPE:
        raise ValueError(f"images must have shape (N, 32, 32, 3), got {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("labels must fit in one byte")
    records = np.empty((len(images), CIFAR10_RECORD_BYTES), dtype=np.uint8)
    records[:, 0] = labels
    records[:, 1:] = images.astype(np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    path = Path(path)
    path.write_bytes(records.tobytes())
    return path
