"""keraslab.serving.Client against a stand-in for TF Serving's REST API (tests/tf_serving_stub.py)
that runs the exported SavedModel's signatures with TensorFlow."""

import io
import socket

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keraslab import cli, export
from keraslab.errors import InputSpecError, ServingError
from keraslab.models import lenet
from keraslab.serving import Client
from keraslab.serving import client as client_module

from tf_serving_stub import TFServingStub

NAMES = [f"class-{i}" for i in range(10)]
PRE = export.Preprocessing(mean=0.2860, std=0.3530)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    keras.utils.set_random_seed(3)
    model = lenet(filters=(4, 8), dense_units=16)
    base = tmp_path_factory.mktemp("models")
    path = export.saved_model(model, base, "clf", preprocessing=PRE, class_names=NAMES)
    stub = TFServingStub(base)
    with stub as url:
        yield stub, url, tf.saved_model.load(str(path))


def pixels(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)


def png(image):
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0]).save(buffer, format="PNG")
    return buffer.getvalue()


def test_signature_names_agree_with_the_export():
    assert client_module.PIXEL_SIGNATURE == "serving_default"
    assert client_module.PIXEL_INPUT == export.SERVING_INPUT
    assert (client_module.BYTES_SIGNATURE, client_module.BYTES_INPUT) == (
        export.BYTES_SIGNATURE,
        export.BYTES_INPUT,
    )


def test_pixels_go_to_serving_default_and_match_the_savedmodel(served):
    stub, url, loaded = served
    raw = pixels(5)
    result = Client(url, "clf").predict(raw)
    want = loaded.signatures["serving_default"](image=tf.constant(raw))
    np.testing.assert_array_equal(result.class_ids, want["class_id"].numpy())
    np.testing.assert_allclose(result.probabilities, want["probabilities"].numpy(), rtol=1e-6)
    assert result.labels == [NAMES[i] for i in want["class_id"].numpy()]
    assert result.confidences.shape == (5,)
    body = stub.requests[-1]
    assert body["signature_name"] == "serving_default"
    assert np.asarray(body["inputs"]["image"]).shape == (5, 28, 28, 1)


def test_files_and_bytes_go_to_serving_bytes_as_b64(served, tmp_path):
    stub, url, _ = served
    raw = pixels(3, seed=1)
    files = []
    for i, image in enumerate(raw):
        files.append(tmp_path / f"img{i}.png")
        files[-1].write_bytes(png(image))
    client = Client(url, "clf", version=1)
    by_files = client.predict([str(f) for f in files])
    body = stub.requests[-1]
    assert body["signature_name"] == "serving_bytes"
    assert [list(v) for v in body["inputs"]["image_bytes"]] == [["b64"]] * 3
    by_bytes = client.predict([png(image) for image in raw])
    by_pixels = client.predict(raw)
    assert by_files.labels == by_bytes.labels == by_pixels.labels
    np.testing.assert_allclose(by_files.probabilities, by_pixels.probabilities, rtol=1e-6)
    # .npy files hold raw pixels: serving_default.
    np.save(tmp_path / "x.npy", raw)
    assert client.predict([tmp_path / "x.npy"]).labels == by_pixels.labels
    assert stub.requests[-1]["signature_name"] == "serving_default"


def test_server_errors_are_one_clear_message(served):
    _, url, _ = served
    with pytest.raises(
        ServingError, match=r"HTTP 404: Servable not found for request: Latest\(nope\)"
    ):
        Client(url, "nope").predict(pixels(1))
    with pytest.raises(ServingError, match=r"versions/7:predict answered HTTP 404: .*Specific"):
        Client(url, "clf", version=7).predict(pixels(1))
    with pytest.raises(ServingError, match="HTTP 400: .*Unknown image file format"):
        Client(url, "clf").predict([b"not an image"])
    with pytest.raises(ServingError, match="HTTP 400"):
        Client(url, "clf").predict(np.zeros((1, 5, 5, 1), np.uint8))


def test_connection_refused_and_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(ServingError, match="connection refused; is TF Serving running"):
        Client(f"http://127.0.0.1:{port}", "clf", timeout_s=5).predict(pixels(1))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # accepts the connection, never answers
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(ServingError, match=r"did not answer within 0.5 s"):
            Client(url, "clf", timeout_s=0.5).predict(pixels(1))


def test_bad_arguments_and_images(tmp_path):
    with pytest.raises(ValueError, match="must start with http"):
        Client("localhost:8501", "clf")
    with pytest.raises(ValueError, match="plain name"):
        Client("http://x", "a/b")
    client = Client("http://127.0.0.1:9", "clf")
    with pytest.raises(InputSpecError, match="must be uint8"):
        client.predict(np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(InputSpecError, match="does not exist"):
        client.predict([tmp_path / "missing.png"])
    np.save(tmp_path / "x.npy", pixels(1))
    (tmp_path / "y.png").write_bytes(png(pixels(1)[0]))
    with pytest.raises(InputSpecError, match="not both"):
        client.predict([tmp_path / "x.npy", tmp_path / "y.png"])


def test_cli_predict_with_server(served, tmp_path, capsys):
    _, url, loaded = served
    raw = pixels(2, seed=4)
    files = []
    for i, image in enumerate(raw):
        files.append(str(tmp_path / f"p{i}.png"))
        (tmp_path / f"p{i}.png").write_bytes(png(image))
    assert cli.main(["predict", "clf", *files, "--server", url]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    want = loaded.signatures["serving_default"](image=tf.constant(raw))
    ids, probs = want["class_id"].numpy(), want["probabilities"].numpy()
    assert [line.split("\t")[:2] for line in lines] == [
        [f, NAMES[i]] for f, i in zip(files, ids, strict=True)
    ]
    assert [float(line.split("\t")[2]) for line in lines] == pytest.approx(
        [probs[k, i] for k, i in enumerate(ids)], abs=1e-3
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli.main(["predict", "clf", *files, "--server", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keraslab: error: cannot connect")
