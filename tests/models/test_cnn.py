import keras
import numpy as np
import pytest

from keraslab.models import lenet, resnet20, small_cnn

from layer_contract import check_layer_contract


@pytest.mark.parametrize(
    ("builder", "shape", "params"),
    [
        (lenet, (28, 28, 1), 1_663_370),
        (small_cnn, (28, 28, 1), 35_338),
        (resnet20, (32, 32, 3), None),
    ],
)
def test_logits_shape_and_dynamic_batch(builder, shape, params):
    model = builder(input_shape=shape, num_classes=10)
    assert model.input_shape == (None, *shape)
    for batch in (1, 5):
        out = model(np.random.rand(batch, *shape).astype("float32"), training=False)
        assert tuple(out.shape) == (batch, 10)
    if params is not None:
        assert model.count_params() == params


def test_resnet20_has_20_weight_layers_and_about_270k_parameters():
    model = resnet20()
    convs = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and not layer.name.endswith("_proj")
    ]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(convs) + len(dense) == 20
    assert 260_000 < model.count_params() < 280_000
    # Three stages at 32, 16 and 8 pixels.
    assert model.get_layer("stage3_block3_out").output.shape[1:] == (8, 8, 64)


def test_bad_input_shape_is_rejected():
    with pytest.raises(ValueError, match="height, width, channels"):
        lenet(input_shape=(28, 28))


def test_keras_contract(tmp_path):
    """Config / .keras round trips, dynamic batch, tf.function (tests/layer_contract.py)."""
    x = np.random.rand(3, 28, 28, 1).astype("float32")
    result = check_layer_contract(small_cnn, x, directory=tmp_path)
    assert result.model.output_shape == (None, 10)
