"""IDX and CIFAR-10 binary readers/writers, and safe tar extraction."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from keraslab.data.formats import (
    read_cifar10_binary,
    read_idx,
    read_idx_header,
    read_idx_pair,
    safe_extract_tar,
    write_cifar10_binary,
    write_idx,
)
from keraslab.errors import CorruptDataError


def _idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


# ---------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip_uint8(tmp_path: Path, name: str) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / name, array)
    back = read_idx(path)
    np.testing.assert_array_equal(back, array)
    assert back.dtype == np.uint8
    back[0, 0, 0] = 7  # the result is an ordinary writable array
    assert read_idx_header(path) == (np.dtype(np.uint8), (2, 3, 4))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip_other_dtypes(tmp_path: Path, dtype: type) -> None:
    array = (np.arange(10) - 5).astype(dtype)
    back = read_idx(write_idx(tmp_path / "x.gz", array))
    np.testing.assert_array_equal(back, array)
    assert back.dtype == np.dtype(dtype)


def test_idx_gz_output_is_reproducible(tmp_path: Path) -> None:
    array = np.arange(100, dtype=np.uint8)
    a = write_idx(tmp_path / "a.gz", array).read_bytes()
    b = write_idx(tmp_path / "b.gz", array).read_bytes()
    assert a == b  # no file name and no timestamp in the gzip header


def test_idx_reads_the_spec_header_written_by_hand(tmp_path: Path) -> None:
    # Big-endian int32 payload as the IDX spec lays it out.
    array = np.array([1, 256, 65536], dtype=">i4")
    path = tmp_path / "x"
    path.write_bytes(_idx_bytes(array, code=0x0C))
    np.testing.assert_array_equal(read_idx(path), [1, 256, 65536])


def _write(tmp_path: Path, data: bytes, name: str = "bad-idx3-ubyte") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_idx_bad_magic(tmp_path: Path) -> None:
    good = _idx_bytes(np.zeros((2, 2), np.uint8))
    path = _write(tmp_path, b"\x01" + good[1:])
    with pytest.raises(CorruptDataError, match=r"not an IDX file.*0x01.*re-download"):
        read_idx(path)


def test_idx_bad_dtype_code(tmp_path: Path) -> None:
    path = _write(tmp_path, _idx_bytes(np.zeros((2, 2), np.uint8), code=0x07))
    with pytest.raises(CorruptDataError, match=r"dtype code 0x07"):
        read_idx(path)


def test_idx_truncated_payload(tmp_path: Path) -> None:
    data = _idx_bytes(np.zeros((3, 4), np.uint8))
    path = _write(tmp_path, data[:-5])
    with pytest.raises(CorruptDataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "truncated" in message
    assert "12 payload bytes" in message and "holds 7 payload bytes" in message
    assert "re-download" in message


def test_idx_trailing_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path, _idx_bytes(np.zeros((3, 4), np.uint8)) + b"xx")
    with pytest.raises(CorruptDataError, match=r"trailing bytes.*12 payload bytes.*14 payload"):
        read_idx(path)


def test_idx_truncated_header(tmp_path: Path) -> None:
    path = _write(tmp_path, bytes([0, 0, 8, 3]) + b"\x00\x00\x00\x02")
    with pytest.raises(CorruptDataError, match=r"truncated inside its IDX header"):
        read_idx(path)


def test_idx_bad_gzip(tmp_path: Path) -> None:
    compressed = gzip.compress(_idx_bytes(np.zeros((30, 30), np.uint8)))
    path = _write(tmp_path, compressed[: len(compressed) // 2], "x-idx3-ubyte.gz")
    with pytest.raises(CorruptDataError, match=r"not a valid gzip file"):
        read_idx(path)
    path = _write(tmp_path, b"\x1f\x8bnot really gzip", "y.gz")
    with pytest.raises(CorruptDataError, match=r"gzip"):
        read_idx(path)


def test_idx_gz_suffix_without_gzip_data(tmp_path: Path) -> None:
    path = _write(tmp_path, b"plain text", "z-idx1-ubyte.gz")
    with pytest.raises(CorruptDataError, match=r"does not start with the gzip magic"):
        read_idx(path)


def test_idx_pair(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1], np.uint8)
    x, y = read_idx_pair(write_idx(tmp_path / "i.gz", images), write_idx(tmp_path / "l.gz", labels))
    assert x.shape == (5, 28, 28, 1) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[..., 0], images)
    np.testing.assert_array_equal(y, labels)


def test_idx_pair_wrong_label_count(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "i.gz", np.zeros((5, 28, 28), np.uint8))
    labels = write_idx(tmp_path / "l.gz", np.zeros(4, np.uint8))
    with pytest.raises(CorruptDataError, match=r"5 images but .* 4 labels"):
        read_idx_pair(images, labels)


def test_idx_pair_label_out_of_range(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "i.gz", np.zeros((3, 28, 28), np.uint8))
    labels = write_idx(tmp_path / "l.gz", np.array([1, 10, 2], np.uint8))
    with pytest.raises(CorruptDataError, match=r"label 10 at index 1, outside \[0, 10\)"):
        read_idx_pair(images, labels)


def test_idx_pair_swapped_files(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "i.gz", np.zeros((3, 28, 28), np.uint8))
    labels = write_idx(tmp_path / "l.gz", np.zeros(3, np.uint8))
    with pytest.raises(CorruptDataError, match=r"swapped"):
        read_idx_pair(labels, images)


# ---------------------------------------------------------------------------------------------
# CIFAR-10 binary


def test_cifar_round_trip_and_channel_layout(tmp_path: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 9, 5, 1], np.uint8)
    path = write_cifar10_binary(tmp_path / "data_batch_1.bin", images, labels)
    assert path.stat().st_size == 4 * 3073
    x, y = read_cifar10_binary(path)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_cifar_chw_planes_map_to_hwc(tmp_path: Path) -> None:
    # One record by hand: label 7; the green plane (second 1024 bytes) has value 200 at row 2,
    # column 5 and the blue plane has 99 at row 31, column 0.
    record = bytearray(3073)
    record[0] = 7
    record[1 + 1024 + 2 * 32 + 5] = 200
    record[1 + 2048 + 31 * 32 + 0] = 99
    path = tmp_path / "b.bin"
    path.write_bytes(bytes(record))
    x, y = read_cifar10_binary(path)
    assert x.shape == (1, 32, 32, 3) and y.tolist() == [7]
    assert x[0, 2, 5].tolist() == [0, 200, 0]
    assert x[0, 31, 0].tolist() == [0, 0, 99]
    assert int(x.sum()) == 299


def test_cifar_truncated(tmp_path: Path) -> None:
    path = tmp_path / "b.bin"
    path.write_bytes(bytes(3073 * 2 - 10))
    with pytest.raises(CorruptDataError, match=r"6136 bytes are not a positive multiple of the "):
        read_cifar10_binary(path)
    path.write_bytes(b"")
    with pytest.raises(CorruptDataError, match=r"positive multiple"):
        read_cifar10_binary(path)


def test_cifar_label_out_of_range(tmp_path: Path) -> None:
    record = bytearray(3073 * 2)
    record[3073] = 11
    path = tmp_path / "b.bin"
    path.write_bytes(bytes(record))
    with pytest.raises(CorruptDataError, match=r"label 11 at index 1"):
        read_cifar10_binary(path)


# ---------------------------------------------------------------------------------------------
# tar


def _tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _file(name: str) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), b"payload"


def test_tar_extracts_good_archive(tmp_path: Path) -> None:
    folder = tarfile.TarInfo("top")
    folder.type = tarfile.DIRTYPE
    archive = _tar_with(
        tmp_path / "good.tar.gz", [(folder, None), _file("top/a.bin"), _file("top/sub/b.bin")]
    )
    written = safe_extract_tar(archive, tmp_path / "out")
    assert sorted(p.relative_to((tmp_path / "out").resolve()).as_posix() for p in written) == [
        "top/a.bin",
        "top/sub/b.bin",
    ]
    assert (tmp_path / "out/top/sub/b.bin").read_bytes() == b"payload"


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _device(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info, None


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_file("../evil"), "escapes"),
        (_file("top/../../evil"), "escapes"),
        (_file("/etc/evil"), "absolute"),
        (_link("top/link", "/etc/passwd", tarfile.SYMTYPE), "link"),
        (_link("top/hard", "/etc/passwd", tarfile.LNKTYPE), "link"),
        (_device("top/dev"), "device"),
    ],
)
def test_tar_refuses_hostile_members(tmp_path: Path, member: tuple, reason: str) -> None:
    archive = _tar_with(tmp_path / "bad.tar.gz", [_file("top/fine.bin"), member])
    dest = tmp_path / "out"
    with pytest.raises(CorruptDataError, match=reason):
        safe_extract_tar(archive, dest)
    # Checked before writing anything: not even the harmless member is extracted.
    assert not dest.exists()
    assert not (tmp_path / "evil").exists()


def test_tar_unreadable_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(CorruptDataError, match=r"not a readable tar archive"):
        safe_extract_tar(path, tmp_path / "out")
