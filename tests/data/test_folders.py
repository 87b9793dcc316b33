"""User image folders, arrays and datasets → normalized batches for a zoo model's input."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keraslab import data
from keraslab.errors import CorruptDataError, DatasetNotFoundError, InputSpecError

FASHION = data.get_spec("fashion_mnist")
CIFAR = data.get_spec("cifar10")


def _constant(path, value, size, mode):
    """A constant image: any resize of it keeps the value, so the expected pixels are exact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fill = {"L": value, "RGB": (value,) * 3, "RGBA": (value, value, value, 255)}[mode]
    Image.new(mode, size, fill).save(path)


@pytest.fixture
def folder(tmp_path):
    """Two classes, mixed sizes and colour modes: 'cat' images are 40, 'ant' images 200."""
    root = tmp_path / "images"
    modes = ["L", "RGB", "RGBA", "L", "RGB"]
    for k, mode in enumerate(modes):
        _constant(root / "cat" / f"c{k}.png", 40, (10 + k, 12), mode)
        _constant(root / "ant" / "deeper" / f"a{k}.jpg", 200, (30, 31 + k), "L")
    (root / "ant" / ".DS_Store").write_bytes(b"\0junk")  # hidden files are skipped
    (root / "README.txt").write_text("top-level files are not images of a class")
    return root


def test_folder_is_read_at_the_base_input_and_normalized_like_the_base(folder):
    got = data.image_folder(folder, FASHION, batch_size=4, seed=3)
    assert got.class_names == ("ant", "cat")  # sorted subfolder names; label k is name k
    assert (got.train_count, got.validation_count, got.validation) == (10, 0, None)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in got.train], strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape == (10, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
    assert np.bincount(y).tolist() == [5, 5]
    for label, raw in ((0, 200), (1, 40)):
        want = FASHION.normalize(np.full((1, 1, 1), raw, np.uint8))[0, 0, 0]
        # JPEG and RGB→gray round a grey level by at most one step.
        np.testing.assert_allclose(x[y == label], want, atol=1.5 / 255 / FASHION.std[0])


def test_rgb_spec_gets_three_channels_with_its_own_statistics(folder):
    got = data.image_folder(folder, CIFAR, batch_size=16)
    x, y = next(iter(got.train))
    assert x.shape == (10, 32, 32, 3)
    want = CIFAR.normalize(np.full((1, 1, 3), 40, np.uint8))[0, 0]
    np.testing.assert_allclose(x.numpy()[y.numpy() == 1][:, 5, 5], np.tile(want, (5, 1)), atol=0.03)


def test_split_is_seeded_stable_and_records_the_file_list(folder):
    a = data.image_folder(folder, FASHION, validation_split=0.4, seed=7, batch_size=2)
    b = data.image_folder(folder, FASHION, validation_split=0.4, seed=7, batch_size=2)
    assert (a.train_count, a.validation_count) == (6, 4)

    def labels(ds):
        return np.concatenate([y.numpy() for _, y in ds]).tolist()

    assert labels(a.validation) == labels(b.validation)
    assert len(labels(a.validation)) == 4 and len(labels(a.train)) == 6
    names = sorted([f"ant/deeper/a{k}.jpg" for k in range(5)] + [f"cat/c{k}.png" for k in range(5)])
    expected = hashlib.sha256("".join(n + "\n" for n in names).encode()).hexdigest()
    assert a.source["file_list_sha256"] == expected
    assert a.source["file_count"] == 10 and a.source["images_per_class"] == [5, 5]
    assert a.source["class_names"] == ["ant", "cat"]


def test_missing_and_empty_folders(tmp_path):
    tmp_path = tmp_path / "empty"
    tmp_path.mkdir()
    with pytest.raises(DatasetNotFoundError, match="nowhere does not exist"):
        data.image_folder(tmp_path / "nowhere", FASHION)
    with pytest.raises(InputSpecError, match="no class subfolders"):
        data.scan_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _constant(tmp_path / "a" / "x.png", 1, (4, 4), "L")
    with pytest.raises(InputSpecError, match=r"class folder .*b holds no images"):
        data.scan_image_folder(tmp_path)


def test_one_class_only(tmp_path):
    tmp_path = tmp_path / "one"
    for k in range(3):
        _constant(tmp_path / "only" / f"{k}.png", 9, (4, 4), "L")
    with pytest.raises(InputSpecError, match="one class only \\('only'\\)"):
        data.scan_image_folder(tmp_path)


def test_non_image_and_damaged_files_are_named(folder):
    note = folder / "cat" / "notes.txt"
    note.write_text("not an image")
    with pytest.raises(CorruptDataError, match=r"notes\.txt is not a PNG, JPEG, BMP or GIF"):
        data.image_folder(folder, FASHION)
    note.unlink()
    fake = folder / "cat" / "fake.png"
    fake.write_bytes(b"hello world, I am text")  # image extension, not an image
    with pytest.raises(CorruptDataError, match=r"fake\.png is not a PNG"):
        data.image_folder(folder, FASHION)
    truncated = (folder / "cat" / "c0.png").read_bytes()[:40]
    fake.write_bytes(truncated)  # a PNG header with no image behind it
    with pytest.raises(CorruptDataError, match=r"fake\.png cannot be decoded"):
        data.image_folder(folder, FASHION)


def test_too_few_images_for_the_split(folder):
    for k in range(3):
        (folder / "cat" / f"c{k}.png").unlink()
    with pytest.raises(InputSpecError, match=r"each class needs at least 4, but cat \(2\)"):
        data.image_folder(folder, FASHION, validation_split=0.25)
    assert data.scan_image_folder(folder, validation_split=0.5).file_count == 7
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 1\)"):
        data.scan_image_folder(folder, validation_split=1.0)


def test_arrays_of_another_size_and_mode():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 8, 8), dtype=np.uint8)
    labels = np.arange(20) % 4
    got = data.labelled_arrays(images, labels, CIFAR, validation_split=0.25, batch_size=32)
    assert got.class_names == ("0", "1", "2", "3")
    assert (got.train_count, got.validation_count) == (15, 5)
    x, _ = next(iter(got.validation))
    assert x.shape == (5, 32, 32, 3)
    # Grayscale → RGB repeats the channel; each channel is then normalized on its own.
    raw = CIFAR.denormalize(x.numpy())
    np.testing.assert_allclose(raw[..., 0], raw[..., 1], atol=1e-3)
    with pytest.raises(InputSpecError, match="labels run from 0 to 3 but there are 2"):
        data.labelled_arrays(images, labels, CIFAR, class_names=["a", "b"])
    with pytest.raises(InputSpecError, match="do not match"):
        data.labelled_arrays(images, labels[:5], CIFAR)
    with pytest.raises(InputSpecError, match="needs at least two"):
        data.labelled_arrays(images, np.zeros(20, int), CIFAR)


def test_tf_data_dataset():
    images = np.full((6, 14, 14, 3), 100, np.uint8)
    ds = tf.data.Dataset.from_tensor_slices((images, np.array([0, 1] * 3)))
    got = data.labelled_dataset(ds, FASHION, ["no", "yes"], batch_size=4)
    batches = [x.numpy() for x, _ in got.train]
    assert [b.shape for b in batches] == [(4, 28, 28, 1), (2, 28, 28, 1)]
    gray = 100 * (0.2989 + 0.587 + 0.114)  # tf.image.rgb_to_grayscale's weights
    want = FASHION.normalize(np.array([[[gray]]], np.float32))[0, 0, 0]
    np.testing.assert_allclose(batches[0], want, atol=1e-2)
    with pytest.raises(InputSpecError, match="unknown or infinite length"):
        data.labelled_dataset(ds.filter(lambda x, y: y >= 0), FASHION, ["no", "yes"])


def test_augmentation_changes_batches_between_epochs_only_in_training(folder):
    got = data.image_folder(folder, FASHION, validation_split=0.4, batch_size=16, augment=True)

    def epoch(ds):
        pairs = [(x.numpy(), y.numpy()) for x, y in ds]
        x, y = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
        return x[np.argsort(y, kind="stable")]

    # Constant images only change at the zero-padded border a translation brings in.
    train = [epoch(got.train) for _ in range(3)]
    assert any(not np.array_equal(train[0], t) for t in train[1:])
    np.testing.assert_array_equal(epoch(got.validation), epoch(got.validation))
