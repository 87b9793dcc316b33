import keras
import numpy as np
import pytest

from keraslab import zoo
from keraslab.layers import Scattering2D
from keraslab.models import scattering_cnn, scattering_linear, scattering_wrn

from layer_contract import check_layer_contract


@pytest.mark.parametrize(
    ("builder", "shape", "scattering_shape"),
    [
        (scattering_linear, (28, 28, 1), (7, 7, 81)),
        (scattering_cnn, (28, 28, 1), (7, 7, 81)),
        (scattering_wrn, (32, 32, 3), (8, 8, 243)),
    ],
)
def test_hybrids_have_a_fixed_scattering_front_end(builder, shape, scattering_shape):
    kwargs = {"width": 1} if builder is scattering_wrn else {}
    model = builder(input_shape=shape, **kwargs)
    front = model.get_layer("scattering")
    assert isinstance(front, Scattering2D) and front.weights == []
    assert tuple(front.output.shape[1:]) == scattering_shape
    out = model(np.random.rand(3, *shape).astype("float32"), training=False)
    assert tuple(out.shape) == (3, 10)


def test_scattering_linear_is_linear_in_the_scattering_coefficients():
    model = scattering_linear()
    features = keras.Model(model.input, model.get_layer("flatten").output)
    x = np.random.rand(4, 28, 28, 1).astype("float32")
    w, b = model.get_layer("logits").get_weights()
    np.testing.assert_allclose(model(x), np.asarray(features(x)) @ w + b, rtol=1e-4, atol=1e-4)


def test_hybrid_keras_contract(tmp_path):
    """Config / .keras round trips, dynamic batch, tf.function (tests/layer_contract.py)."""
    x = np.random.rand(2, 28, 28, 1).astype("float32")
    result = check_layer_contract(
        lambda: scattering_cnn(widths=(8, 8, 16)), x, directory=tmp_path, rtol=1e-5, atol=1e-5
    )
    assert isinstance(result.loaded.get_layer("scattering"), Scattering2D)


@pytest.mark.slow
def test_scattering_signature_is_exported_and_verified(tmp_path, capsys):
    from keraslab import export
    from keraslab.cli import main

    model = zoo.build("scattering_linear", dataset="fashion_mnist_sample")
    weights = tmp_path / "w.weights.h5"
    model.save_weights(weights)
    argv = ["export", "scattering_linear", "--dataset", "fashion_mnist_sample"]
    assert main([*argv, "--weights", str(weights), "--base-dir", str(tmp_path / "m")]) == 0
    assert "'scattering', 'serving_bytes', 'serving_default'" in capsys.readouterr().out
    meta = export.read_metadata(tmp_path / "m" / "scattering_linear" / "1")
    assert meta["signatures"]["scattering"] == {"inputs": ["image"]}
