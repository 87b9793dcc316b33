"""TF Serving warmup requests: the PredictionLog records written at export time, checked
against TF Serving's own protos and run through their signatures."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.export import Preprocessing, read_metadata, saved_model
from keraslab.export.warmup import (
    MAX_WARMUP_RECORDS,
    WARMUP_FILE,
    predict_log,
    read_warmup_requests,
    warmup_requests,
)
from keraslab.models import lenet

PRE = Preprocessing(mean=0.2860, std=0.3530)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return lenet(filters=(4, 8), dense_units=16)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    return saved_model(model, tmp_path_factory.mktemp("exp"), "clf", preprocessing=PRE)


def test_every_signature_is_warmed_up_at_each_batch_size(exported):
    records = read_warmup_requests(exported)
    assert [(m, s, len(next(iter(i.values())))) for m, s, i in records] == [
        ("clf", "serving_default", 1),
        ("clf", "serving_default", 8),
        ("clf", "serving_bytes", 1),
        ("clf", "serving_bytes", 8),
    ]
    assert read_metadata(exported)["warmup"] == {
        "file": WARMUP_FILE,
        "batch_sizes": [1, 8],
        "records": 4,
    }
    pixels = records[1][2]["image"]
    assert pixels.dtype == np.uint8 and pixels.shape == (8, 28, 28, 1)
    encoded = records[3][2]["image_bytes"]
    assert encoded.shape == (8,) and all(b[:4] == b"\x89PNG" for b in encoded)
    # The PNGs encode the same pixels as the pixel record of the same batch size.
    np.testing.assert_array_equal(np.stack([tf.io.decode_png(b) for b in encoded]), pixels)


def test_each_record_runs_through_its_signature(exported):
    loaded = tf.saved_model.load(str(exported))
    for _, signature, inputs in read_warmup_requests(exported):
        out = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        batch = len(next(iter(inputs.values())))
        assert {k: v.shape[0] for k, v in out.items()} == dict.fromkeys(
            ["class_id", "class_name", "logits", "probabilities"], batch
        )


def test_records_are_tf_servings_prediction_logs(exported):
    prediction_log_pb2 = pytest.importorskip(
        "tensorflow_serving.apis.prediction_log_pb2",
        reason="tensorflow-serving-api is not installed (CI installs it with --no-deps)",
    )
    ours = read_warmup_requests(exported)
    raw = [
        bytes(r.numpy())
        for r in tf.data.TFRecordDataset(str(exported / "assets.extra" / WARMUP_FILE))
    ]
    assert len(raw) == len(ours) <= MAX_WARMUP_RECORDS
    for record, (model_name, signature, inputs) in zip(raw, ours, strict=True):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.name == model_name == "clf"
        assert request.model_spec.signature_name == signature
        assert sorted(request.inputs) == sorted(inputs)
        for name, tensor in request.inputs.items():
            np.testing.assert_array_equal(tf.make_ndarray(tensor), inputs[name])
        # Built with the real classes, the same request serializes to the same bytes.
        real = prediction_log_pb2.PredictionLog()
        real.predict_log.request.model_spec.name = model_name
        real.predict_log.request.model_spec.signature_name = signature
        for name, value in inputs.items():
            real.predict_log.request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        assert real.SerializeToString(deterministic=True) == record


def test_string_tensors_and_long_fields_round_trip():
    # Lengths above 127 need multi-byte varints; a string tensor holds bytes with NULs.
    inputs = {"b_bytes": np.array([b"\x00" * 300, b"x\x00"], dtype=object), "a": np.arange(200.0)}
    record = predict_log("m" * 130, "sig", inputs)
    from keraslab.export.warmup import _parse_predict_log

    model_name, signature, got = _parse_predict_log(record)
    assert (model_name, signature) == ("m" * 130, "sig")
    assert list(got["b_bytes"]) == list(inputs["b_bytes"])
    np.testing.assert_array_equal(got["a"], inputs["a"])


def test_too_many_records_or_bad_batch_sizes_are_refused():
    spec = {f"s{i}": [tf.TensorSpec((None, 2, 2, 1), tf.uint8, name="image")] for i in range(501)}
    with pytest.raises(ValueError, match="1002 warmup records exceed TF Serving's limit of 1000"):
        warmup_requests("m", spec, (2, 2, 1))
    with pytest.raises(ValueError, match="batch sizes must be positive"):
        warmup_requests("m", {"s": spec["s0"]}, (2, 2, 1), batch_sizes=(0,))


def test_no_warmup_file_when_asked(tmp_path, model):
    path = saved_model(model, tmp_path, "clf", warmup_batch_sizes=())
    assert not (path / "assets.extra" / WARMUP_FILE).exists()
    assert read_metadata(path)["warmup"]["file"] is None
