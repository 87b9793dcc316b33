"""SavedModel export: TF Serving layout, named signatures, atomic versions, TF-only reload."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.errors import ExportExistsError, ExportVerificationError, InputSpecError
from keraslab.export import Preprocessing, next_version, read_metadata, saved_model, verify
from keraslab.export.verify import run_in_tensorflow_only_process
from keraslab.models import lenet

PRE = Preprocessing(mean=0.2860, std=0.3530)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return lenet(filters=(4, 8), dense_units=16)


def images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)


def test_export_layout_signatures_and_identical_predictions(tmp_path, model):
    path = saved_model(model, tmp_path, "clf", preprocessing=PRE, class_names=list("abcdefghij"))
    assert path == tmp_path / "clf" / "1"
    assert (path / "saved_model.pb").exists() and (path / "variables").is_dir()
    # Each weight is stored once (4 bytes a parameter, plus a little index overhead).
    stored = sum(f.stat().st_size for f in (path / "variables").iterdir())
    assert 4 * model.count_params() <= stored < 4 * model.count_params() * 1.1 + 4096
    assert sorted(os.listdir(tmp_path / "clf")) == ["1"]  # no temporary left behind
    meta = read_metadata(path)
    assert meta["preprocessing"]["mean"] == [0.2860] and meta["class_names"][2] == "c"
    assert meta["input_shape"] == [28, 28, 1] and meta["input_dtype"] == "uint8"

    # Dynamic batch: two batch sizes through the same TF-only process check.
    for n in (1, 9):
        report = verify(path, model, images(n, seed=n))
        assert report.keraslab_modules_in_child == []
        assert report.max_abs_diff["serving_default/class_id"] == 0.0
        assert report.max_abs_diff["serving_default/logits"] < 1e-4
    outputs = report.signatures["serving_default"]["outputs"]
    assert outputs["class_id"]["dtype"] == "int64"
    assert outputs["probabilities"]["shape"] == [None, 10]


@pytest.mark.slow
def test_probabilities_are_softmax_of_logits(tmp_path, model):
    path = saved_model(model, tmp_path, "clf", preprocessing=PRE)
    _, out = run_in_tensorflow_only_process(path, {"serving_default": {"image": images(4)}})
    logits, probs = out["serving_default"]["logits"], out["serving_default"]["probabilities"]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(out["serving_default"]["class_id"], logits.argmax(1))


def test_preprocessing_is_baked_in(tmp_path, model):
    path = saved_model(model, tmp_path, "clf", preprocessing=PRE)
    raw = images(3)
    _, out = run_in_tensorflow_only_process(path, {"serving_default": {"image": raw}})
    normalized = (raw.astype("float32") / 255.0 - 0.2860) / 0.3530
    np.testing.assert_allclose(out["serving_default"]["logits"], model(normalized), atol=1e-4)


def test_versions_are_never_overwritten(tmp_path, model):
    first = saved_model(model, tmp_path, "clf")
    stamp = (first / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(ExportExistsError, match="never overwritten.*version 2"):
        saved_model(model, tmp_path, "clf", version=1)
    assert (first / "saved_model.pb").stat().st_mtime_ns == stamp
    assert saved_model(model, tmp_path, "clf") == tmp_path / "clf" / "2"
    assert saved_model(model, tmp_path, "clf", version=10).name == "10"
    assert next_version(tmp_path / "clf") == 11


def test_failed_export_leaves_nothing(tmp_path, model, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        saved_model(model, tmp_path, "clf")
    assert os.listdir(tmp_path / "clf") == []


def test_bad_arguments(tmp_path, model):
    inputs = keras.Input((10,))
    flat = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(InputSpecError, match="height, width, channels"):
        saved_model(flat, tmp_path, "flat")
    with pytest.raises(ValueError, match="positive integer"):
        saved_model(model, tmp_path, "clf", version=0)
    with pytest.raises(ValueError, match="plain directory name"):
        saved_model(model, tmp_path, "../escape")


@pytest.mark.slow
def test_verify_catches_a_model_that_does_not_match(tmp_path, model):
    path = saved_model(model, tmp_path, "clf", preprocessing=PRE)
    keras.utils.set_random_seed(99)
    other = lenet(filters=(4, 8), dense_units=16)
    with pytest.raises(ExportVerificationError, match="differ"):
        verify(path, other, images(16))


@pytest.mark.slow
def test_extra_signature_is_served_and_checked(tmp_path, model):
    import tensorflow as tf

    features = keras.Model(model.input, model.get_layer("dense").output)

    def feats(image):
        return {"features": features(PRE.apply(tf.cast(image, tf.float32)))}

    spec = [tf.TensorSpec((None, 28, 28, 1), tf.uint8, name="image")]
    path = saved_model(
        model, tmp_path, "clf", preprocessing=PRE, extra_signatures={"features": (feats, spec)}
    )
    raw = images(5)
    want = np.asarray(features(PRE.apply(raw.astype("float32"))))
    report = verify(path, checks={"features": ({"image": raw}, {"features": want})})
    assert set(report.signatures) == {"serving_default", "serving_bytes", "features"}
    assert json.loads((path / "assets.extra" / "keraslab.json").read_text())["signatures"][
        "features"
    ] == {"inputs": ["image"]}
    with pytest.raises(ExportVerificationError, match="features/features differs"):
        verify(path, checks={"features": ({"image": raw}, {"features": want + 1.0})})
