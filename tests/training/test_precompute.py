"""Training on a precomputed fixed front end equals training the whole network."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.models import lenet, scattering_linear
from keraslab.training import Penalty, Recipe, WeightDecay, fit
from keraslab.training.precompute import precompute, split_at


def images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16, 16, 1)).astype("float32")
    y = (x[:, :8].mean(axis=(1, 2, 3)) > x[:, 8:].mean(axis=(1, 2, 3))).astype("int32")
    return x, y


def test_split_at_composes_back_to_the_network():
    net = scattering_linear((16, 16, 1), 2)
    front, head = split_at(net, "scattering")
    x, _ = images(5)
    assert front.output.shape[1:] == (4, 4, 81)
    np.testing.assert_allclose(head(front(x)), net(x), rtol=1e-6, atol=1e-6)
    # The head trains the network's own variables, not copies.
    assert {id(v) for v in head.trainable_weights} <= {id(v) for v in net.trainable_weights}


def test_precomputed_dataset_keeps_batches_labels_and_values():
    net = scattering_linear((16, 16, 1), 2)
    front, _ = split_at(net, "scattering")
    x, y = images(50)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    out = list(precompute(front, ds, shuffle=False, progress=False))
    assert [int(b[1].shape[0]) for b in out] == [16, 16, 16, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in out]), y)
    np.testing.assert_allclose(np.concatenate([b[0] for b in out]), front(x), atol=1e-6)


@pytest.mark.slow
def test_fit_with_precompute_gives_the_weights_of_ordinary_fit(tmp_path):
    # One batch per epoch, so the order of the samples cannot matter.
    x, y = images(64)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    results = []
    for precomputed in (None, "scattering"):
        keras.utils.set_random_seed(7)
        recipe = Recipe(epochs=3, learning_rate=1e-2, precompute=precomputed)
        out = tmp_path / str(precomputed)
        result = fit(
            lambda: scattering_linear((16, 16, 1), 2),
            ds,
            recipe=recipe,
            validation_data=ds,
            out_dir=out,
            jit_compile=False,
            verbose=0,
        )
        results.append(result)
    plain, pre = results
    for a, b in zip(plain.network.weights, pre.network.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=a.path)
    np.testing.assert_allclose(plain.history["val_loss"], pre.history["val_loss"], rtol=1e-4)
    run = json.loads((tmp_path / "scattering" / "run.json").read_text())
    assert run["precompute_time_s"] >= 0 and run["recipe"]["precompute"] == "scattering"
    assert "precompute_time_s" not in json.loads((tmp_path / "None" / "run.json").read_text())
    # The checkpoint is the whole network's.
    fresh = scattering_linear((16, 16, 1), 2)
    fresh.load_weights(tmp_path / "scattering" / "checkpoints" / "last.weights.h5")
    np.testing.assert_allclose(fresh(x), pre.network(x), atol=1e-6)


class InputNorm(Penalty):
    default_name = "input_norm"

    def value(self, network, x, y, y_pred):
        return tf.reduce_mean(tf.square(x))


@pytest.mark.parametrize(
    "builder, layer, recipe_changes, penalties, message",
    [
        (lambda: lenet((16, 16, 1), 2), "nowhere", {}, [], "no layer named 'nowhere'"),
        (lambda: lenet((16, 16, 1), 2), "pool1", {}, [], "has weights"),
        (
            lambda: scattering_linear((16, 16, 1), 2),
            "scattering",
            {"augment": True},
            [],
            "augment=True",
        ),
        (
            lambda: scattering_linear((16, 16, 1), 2),
            "scattering",
            {},
            [InputNorm()],
            "with respect to its input",
        ),
    ],
)
def test_precompute_refuses_what_it_cannot_do_exactly(
    builder, layer, recipe_changes, penalties, message
):
    x, y = images(16)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    recipe = Recipe(epochs=1, precompute=layer, **recipe_changes)
    with pytest.raises(ValueError, match=message):
        fit(builder, ds, recipe=recipe, penalties=penalties, verbose=0)


def test_weight_decay_is_allowed_with_precompute():
    x, y = images(16)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    recipe = Recipe(epochs=1, precompute="scattering")
    result = fit(
        lambda: scattering_linear((16, 16, 1), 2),
        ds,
        recipe=recipe,
        penalties=[WeightDecay(1e-4)],
        verbose=0,
    )
    assert result.history["weight_decay"][0] > 0
