"""check_images: validating user-supplied image batches."""

from __future__ import annotations

import numpy as np
import pytest

from keraslab.data import check_images
from keraslab.errors import InputSpecError


def test_accepts_uint8_nhwc_and_returns_float32() -> None:
    x = np.full((2, 32, 32, 3), 255, np.uint8)
    out = check_images(x, (32, 32, 3))
    assert out.dtype == np.float32 and out.shape == (2, 32, 32, 3) and out.max() == 255.0


def test_adds_channel_axis_for_grayscale() -> None:
    out = check_images(np.zeros((5, 28, 28), np.int64), (28, 28, 1))
    assert out.shape == (5, 28, 28, 1) and out.dtype == np.float32


def test_accepts_lists_and_floats() -> None:
    out = check_images([[[[127.5]] * 2] * 2], (2, 2, 1))
    assert out.shape == (1, 2, 2, 1) and out.dtype == np.float32 and out.max() == 127.5
    assert check_images(np.zeros((1, 2, 2, 1), np.float64), (2, 2, 1)).max() == 0.0


def test_floats_scaled_to_unit_range_or_normalized_are_rejected() -> None:
    with pytest.raises(InputSpecError, match=r"maximum 0.5: they look scaled to \[0, 1\]"):
        check_images(np.full((1, 2, 2, 1), 0.5), (2, 2, 1))
    with pytest.raises(InputSpecError, match="from -0.8 to 2.*not normalized images"):
        check_images(np.array([-0.8, 2.0, 0, 0]).reshape(1, 2, 2, 1), (2, 2, 1))
    with pytest.raises(InputSpecError, match="outside the pixel range"):
        check_images(np.full((1, 2, 2, 1), 300.0), (2, 2, 1))


def test_wrong_shape_message() -> None:
    with pytest.raises(InputSpecError) as info:
        check_images(np.zeros((5, 32, 32, 3), np.uint8), (28, 28, 1))
    assert str(info.value) == (
        "images have shape (5, 32, 32, 3) but the model expects (N, 28, 28, 1): "
        "resize the images or pick a model built for this input"
    )


def test_single_image_hint() -> None:
    with pytest.raises(InputSpecError, match=r"add a batch axis \(x\[None\]\)"):
        check_images(np.zeros((32, 32, 3), np.uint8), (32, 32, 3), name="x")
    with pytest.raises(InputSpecError, match=r"add a batch axis"):
        check_images(np.zeros((28, 28), np.uint8), (28, 28, 1))


def test_grayscale_without_channel_only_when_c_is_1() -> None:
    with pytest.raises(InputSpecError, match=r"shape \(5, 32, 32\)"):
        check_images(np.zeros((5, 32, 32), np.uint8), (32, 32, 3))


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_, object, "U1"])
def test_bad_dtypes(dtype) -> None:
    x = np.zeros((1, 2, 2, 1), dtype=dtype)
    with pytest.raises(InputSpecError, match=r"have dtype .*; pass uint8 pixels 0–255 or floats"):
        check_images(x, (2, 2, 1))


def test_complex_message_exact() -> None:
    with pytest.raises(InputSpecError, match=r"^images have dtype complex64; pass uint8"):
        check_images(np.zeros((1, 2, 2, 1), np.complex64), (2, 2, 1))


def test_integers_out_of_range() -> None:
    with pytest.raises(InputSpecError, match=r"integer values from -1 to 300"):
        check_images(np.array([-1, 300, 0, 0], np.int32).reshape(1, 2, 2, 1), (2, 2, 1))


@pytest.mark.parametrize(("bad", "word"), [(np.nan, "NaN"), (np.inf, "infinite")])
def test_nan_and_inf(bad: float, word: str) -> None:
    x = np.zeros((1, 2, 2, 1), np.float32)
    x[0, 1, 1, 0] = bad
    with pytest.raises(InputSpecError, match=rf"contain 1 {word} value"):
        check_images(x, (2, 2, 1))


def test_ragged_input() -> None:
    with pytest.raises(InputSpecError, match=r"could not be turned into an array"):
        check_images([np.zeros((2, 2)), np.zeros((3, 3))], (2, 2, 1))


def test_read_image_files_labels_each_image_and_reads_grayscale_batches(tmp_path) -> None:
    import tensorflow as tf

    from keraslab.data import read_image_files

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)  # 3-D, last axis not 1: a batch
    single = rng.integers(0, 256, (4, 4, 1), dtype=np.uint8)
    np.save(tmp_path / "batch.npy", batch)
    np.save(tmp_path / "one.npy", single)
    (tmp_path / "one.png").write_bytes(tf.io.encode_png(single).numpy())
    names = [str(tmp_path / f) for f in ("batch.npy", "one.npy", "one.png")]
    images, labels = read_image_files(names, channels=1)
    assert labels == [f"{names[0]}[0]", f"{names[0]}[1]", f"{names[0]}[2]", names[1], names[2]]
    np.testing.assert_array_equal(
        images, np.concatenate([batch[..., None], single[None], single[None]])
    )


def test_read_image_files_says_which_file_is_missing_corrupt_or_misshapen(tmp_path) -> None:
    from keraslab.data import read_image_files
    from keraslab.errors import CorruptDataError, DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="image file .*nope.png does not exist"):
        read_image_files([str(tmp_path / "nope.png")], channels=1)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(CorruptDataError, match="obj.npy is not a plain NumPy array file"):
        read_image_files([str(tmp_path / "obj.npy")], channels=1)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CorruptDataError, match="bad.jpg is not a PNG, JPEG, BMP or GIF image"):
        read_image_files([str(tmp_path / "bad.jpg")], channels=3)
    np.save(tmp_path / "a.npy", np.zeros((4, 4, 1), np.uint8))
    np.save(tmp_path / "b.npy", np.zeros((5, 5, 1), np.uint8))
    with pytest.raises(InputSpecError, match=r"different shapes \[\(4, 4, 1\), \(5, 5, 1\)\]"):
        read_image_files([str(tmp_path / "a.npy"), str(tmp_path / "b.npy")], channels=1)
