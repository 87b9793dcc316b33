import keras
import numpy as np
import pytest

from keraslab.models import lenet, resnet20, small_cnn


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


def test_keras_file_round_trip(tmp_path):
    model = small_cnn()
    x = np.random.rand(3, 28, 28, 1).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again(x), model(x), rtol=1e-6, atol=1e-6)
