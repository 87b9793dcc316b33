"""The encoded-image signature ``serving_bytes`` and the ``class_name`` output of classifier
exports: decoding, resizing, colour conversion, and verification against Keras."""

import importlib
import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keraslab.errors import ExportVerificationError
from keraslab.export import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    Preprocessing,
    encode_png,
    read_metadata,
    saved_model,
    verify,
)
from keraslab.models import lenet

PRE = Preprocessing(mean=0.2860, std=0.3530)
# The module, not the function keraslab.export re-exports under the same name.
saved_model_module = importlib.import_module("keraslab.export.saved_model")
NAMES = [f"class-{i}" for i in range(10)]


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return lenet(filters=(4, 8), dense_units=16)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    path = saved_model(
        model, tmp_path_factory.mktemp("exp"), "clf", preprocessing=PRE, class_names=NAMES
    )
    return path, tf.saved_model.load(str(path))


def images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)


def encode(array, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def test_png_bytes_give_the_pixel_signature_outputs_and_class_names(exported):
    path, loaded = exported
    raw = images(6)
    by_pixels = loaded.signatures["serving_default"](image=tf.constant(raw))
    by_bytes = loaded.signatures[BYTES_SIGNATURE](
        **{BYTES_INPUT: tf.constant(list(encode_png(raw)))}
    )
    assert sorted(by_bytes) == ["class_id", "class_name", "logits", "probabilities"]
    assert sorted(by_pixels) == sorted(by_bytes)
    np.testing.assert_array_equal(by_bytes["logits"], by_pixels["logits"])
    ids = by_pixels["class_id"].numpy()
    assert [n.decode() for n in by_pixels["class_name"].numpy()] == [NAMES[i] for i in ids]
    assert [n.decode() for n in by_bytes["class_name"].numpy()] == [NAMES[i] for i in ids]
    meta = read_metadata(path)
    assert meta["signatures"][BYTES_SIGNATURE] == {
        "inputs": ["image_bytes"],
        "outputs": ["logits", "probabilities", "class_id", "class_name"],
    }
    assert "class_name" in meta["signatures"]["serving_default"]["outputs"]


def test_colour_and_size_are_converted_to_the_models_input(exported):
    _, loaded = exported
    # A flat RGB image at twice the size: grey conversion and antialiased bilinear resizing of
    # a constant image give that constant, so it must predict like the 28×28 grey one.
    value = 173
    rgb = np.full((56, 56, 3), value, np.uint8)
    jpeg_grey = np.full((28, 28), value, np.uint8)
    out = loaded.signatures[BYTES_SIGNATURE](
        image_bytes=tf.constant([encode(rgb), encode(rgb, "JPEG"), encode(jpeg_grey, "BMP")])
    )
    want = loaded.signatures["serving_default"](
        image=tf.constant(np.full((1, 28, 28, 1), value, np.uint8))
    )
    np.testing.assert_allclose(out["logits"], np.repeat(want["logits"], 3, axis=0), atol=1e-4)
    # The decoder itself: a 10×14 RGB image becomes 28×28×1 uint8.
    decoded = saved_model_module.decode_images(
        tf.constant([encode(np.zeros((10, 14, 3), np.uint8))]), (28, 28, 1)
    )
    assert decoded.shape == (1, 28, 28, 1) and decoded.dtype == tf.uint8


def test_bytes_that_are_not_an_image_are_refused(exported):
    _, loaded = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        loaded.signatures[BYTES_SIGNATURE](image_bytes=tf.constant([b"not an image"]))


def test_class_names_must_match_the_outputs(tmp_path, model):
    with pytest.raises(ValueError, match="class_names has 3 names but model .* has 10 outputs"):
        saved_model(model, tmp_path, "clf", class_names=["a", "b", "c"])
    assert not (tmp_path / "clf").exists() or list((tmp_path / "clf").iterdir()) == []


def test_class_name_defaults_to_the_class_index(tmp_path, model):
    path = saved_model(model, tmp_path, "clf", preprocessing=PRE)
    out = tf.saved_model.load(str(path)).signatures["serving_default"](image=tf.constant(images(3)))
    assert [n.decode() for n in out["class_name"].numpy()] == [
        str(i) for i in out["class_id"].numpy()
    ]


@pytest.mark.slow
def test_verify_checks_the_bytes_signature_in_a_tensorflow_only_process(tmp_path, model):
    path = saved_model(model, tmp_path, "clf", preprocessing=PRE, class_names=NAMES)
    report = verify(path, model, images(8))
    assert report.signatures[BYTES_SIGNATURE]["inputs"][BYTES_INPUT]["dtype"] == "string"
    assert report.signatures[BYTES_SIGNATURE]["outputs"]["class_name"]["dtype"] == "string"
    for key in ("class_id", "class_name"):
        assert report.max_abs_diff[f"{BYTES_SIGNATURE}/{key}"] == 0.0
        assert report.max_abs_diff[f"serving_default/{key}"] == 0.0
    assert report.max_abs_diff[f"{BYTES_SIGNATURE}/logits"] < 1e-4
    # Each warmup record (two signatures × batch sizes 1 and 8) ran in the same process.
    assert report.warmup_records == 4


@pytest.mark.slow
def test_verify_catches_a_bytes_signature_that_decodes_wrongly(tmp_path, model, monkeypatch):
    decode = saved_model_module.decode_images
    # An export whose decoder flips the image left–right: the pixel signature is right, the
    # bytes one is not, and verification must say so.
    monkeypatch.setattr(
        saved_model_module, "decode_images", lambda b, shape: tf.reverse(decode(b, shape), [2])
    )
    path = saved_model(model, tmp_path, "clf", preprocessing=PRE, class_names=NAMES)
    with pytest.raises(ExportVerificationError, match="serving_bytes/"):
        verify(path, model, images(16))
