"""The one training step: equal to Keras's own step without penalties, correct with them, and
working under XLA, mixed precision and MirroredStrategy."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.errors import TrainingDivergedError
from keraslab.models import lenet as keraslab_lenet
from keraslab.training import Penalty, Recipe, TrainingModel, WeightDecay, fit


def tiny_net(seed: int = 0) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(3, 3, activation="relu", kernel_initializer=init)(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(4, kernel_initializer=init)(x)
    return keras.Model(inputs, outputs)


def batches(n=32, batch=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 4, size=n).astype("int32")
    return x, y, tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def compile_sgd(model, lr=0.1, **kwargs):
    model.compile(
        optimizer=keras.optimizers.SGD(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        **kwargs,
    )
    return model


def weights(model):
    return [np.asarray(w) for w in model.weights]


def test_without_penalties_it_equals_keras_default_step():
    _, _, ds = batches()
    plain = compile_sgd(tiny_net())
    plain.fit(ds, epochs=2, verbose=0, shuffle=False)
    wrapped = compile_sgd(TrainingModel(tiny_net()))
    wrapped.fit(ds, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(weights(plain), weights(wrapped.network), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_weight_decay_penalty_adds_its_gradient_and_is_logged():
    x, y, _ = batches(n=16, batch=16)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    lam, lr = 0.3, 0.1
    net = tiny_net()
    before = {v.path: np.asarray(v) for v in net.trainable_weights}
    # Reference gradient of the data loss alone, by hand.
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, net(x))
    paths = [v.path for v in net.trainable_weights]
    grads = dict(zip(paths, tape.gradient(loss, net.trainable_weights), strict=True))
    model = compile_sgd(TrainingModel(net, [WeightDecay(lam)]), lr=lr)
    history = model.fit(ds, validation_data=ds, epochs=1, verbose=0, shuffle=False)
    for v in net.trainable_weights:
        g = np.asarray(grads[v.path])
        if v.path.endswith("kernel"):
            g = g + lam * before[v.path]  # d/dW of λ·½‖W‖²
        np.testing.assert_allclose(np.asarray(v), before[v.path] - lr * g, rtol=1e-4, atol=1e-6)
    expected = 0.5 * sum(float(np.sum(w**2)) for k, w in before.items() if k.endswith("kernel"))
    assert history.history["weight_decay"][0] == pytest.approx(expected, rel=1e-5)
    assert "val_weight_decay" not in history.history  # penalties are training-only


class InputGradientNorm(Penalty):
    """A penalty that opens an inner tape on the input, as Jacobian penalties will."""

    default_name = "input_grad"

    def value(self, network, x, y, y_pred):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = tf.reduce_sum(network(x, training=True))
        g = tape.gradient(out, x)
        return tf.reduce_mean(tf.reduce_sum(tf.square(g), axis=[1, 2, 3]))


def test_nested_tape_penalty_trains_under_xla():
    _, _, ds = batches()
    eager = compile_sgd(TrainingModel(tiny_net(), [InputGradientNorm(0.1)]))
    h1 = eager.fit(ds, epochs=2, verbose=0, shuffle=False).history
    xla = compile_sgd(TrainingModel(tiny_net(), [InputGradientNorm(0.1)]), jit_compile=True)
    h2 = xla.fit(ds, epochs=2, verbose=0, shuffle=False).history
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-4)
    np.testing.assert_allclose(h1["input_grad"], h2["input_grad"], rtol=1e-4)
    assert h1["input_grad"][0] > 0


def test_mirrored_strategy_matches_single_device(mirrored_strategy):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2, "conftest should have split the CPU in two"
    _, _, ds = batches(n=70, batch=16)  # the last batch (6) splits unevenly-sized work
    single = fit(
        lambda: tiny_net(),
        ds,
        recipe=Recipe(epochs=2, optimizer="sgd", learning_rate=0.1, momentum=0.0),
        penalties=[WeightDecay(0.01)],
        verbose=0,
    )
    strategy = mirrored_strategy
    mirrored = fit(
        lambda: tiny_net(),
        ds,
        recipe=Recipe(epochs=2, optimizer="sgd", learning_rate=0.1, momentum=0.0),
        penalties=[WeightDecay(0.01)],
        strategy=strategy,
        verbose=0,
    )
    for a, b in zip(weights(single.network), weights(mirrored.network), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(single.history["loss"], mirrored.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(
        single.history["weight_decay"], mirrored.history["weight_decay"], rtol=1e-4
    )


def test_mixed_precision_trains_with_float32_variables():
    keras.config.set_dtype_policy("mixed_float16")
    _, _, ds = batches()
    result = fit(lambda: tiny_net(), ds, recipe=Recipe(epochs=2), verbose=0)
    assert isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(v.dtype == "float32" for v in result.network.weights)
    assert result.network.layers[1].compute_dtype == "float16"
    zoo_net = keraslab_lenet()
    assert zoo_net.get_layer("conv1").compute_dtype == "float16"
    assert zoo_net.get_layer("logits").compute_dtype == "float32"  # stable softmax
    assert np.all(np.isfinite(result.history["loss"]))
    assert result.history["loss"][1] < result.history["loss"][0]


def linear_net() -> keras.Model:
    # No ReLU: oneDNN's ReLU maps NaN to 0, which would hide the NaN this test plants.
    inputs = keras.Input((6, 6, 1))
    return keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(inputs)))


def test_nan_loss_stops_with_a_clear_error():
    x, y, _ = batches()
    x[20] = np.nan  # in the second batch
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 2.*learning rate"):
        fit(linear_net, ds, recipe=Recipe(epochs=3), verbose=0)


class NaNFromStep(Penalty):
    """Zero for the first ``start`` training steps, NaN afterwards."""

    default_name = "poison"

    def __init__(self, start):
        super().__init__(1.0)
        self.start = start
        self.calls = tf.Variable(0, trainable=False)

    def value(self, network, x, y, y_pred):
        self.calls.assign_add(1)
        return tf.where(self.calls > self.start, np.float32(np.nan), np.float32(0.0))


def test_divergence_keeps_the_last_good_checkpoint_and_strict_json(tmp_path):
    _, _, ds = batches(n=32, batch=16)  # two steps per epoch: epoch 2 diverges
    with pytest.raises(TrainingDivergedError, match="epoch 2, batch 1"):
        fit(
            linear_net,
            ds,
            recipe=Recipe(epochs=3),
            penalties=[NaNFromStep(2)],
            out_dir=tmp_path,
            verbose=0,
        )
    last = linear_net()
    last.load_weights(tmp_path / "checkpoints" / "last.weights.h5")
    assert all(np.isfinite(np.asarray(w)).all() for w in last.weights)
    history = json.loads((tmp_path / "history.json").read_text())  # strict JSON: no NaN
    # The diverged epoch is recorded, its non-finite loss as null.
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0]["loss"] > 0 and history[1]["loss"] is None


def test_penalties_must_be_penalties_with_unique_names():
    with pytest.raises(TypeError, match="Penalty"):
        TrainingModel(tiny_net(), ["jacobian"])
    with pytest.raises(ValueError, match="unique"):
        TrainingModel(tiny_net(), [WeightDecay(1.0), WeightDecay(2.0)])
    with pytest.raises(ValueError, match="non-negative"):
        WeightDecay(-1.0)
    with pytest.raises(ValueError, match="taken by Keras metrics"):
        TrainingModel(tiny_net(), [WeightDecay(1.0, name="accuracy")])


@pytest.mark.parametrize("jit", [False, True])
def test_skipping_zero_second_derivatives_trains_the_same_weights(jit, monkeypatch):
    """The default step (zeros of ReLU/max-pool second derivatives skipped) and TensorFlow's
    stock double backprop reach the same weights with the exact Jacobian penalty."""
    from keraslab.training import JacobianFrobenius, second_order

    entered = []
    original = second_order.skip_zero_second_derivatives

    def counting():
        entered.append(1)
        return original()

    monkeypatch.setattr(second_order, "skip_zero_second_derivatives", counting)
    x, y, ds = batches()
    trained = []
    for skip in (True, False):
        entered.clear()
        model = TrainingModel(
            tiny_net(), [JacobianFrobenius(0.1)], skip_zero_second_derivatives=skip
        )
        compile_sgd(model, jit_compile=jit)
        model.fit(ds, epochs=2, verbose=0)
        trained.append(weights(model))
        assert bool(entered) == skip  # the flag chooses the path (entered while tracing)
    for skipped, stock in zip(*trained, strict=True):
        np.testing.assert_allclose(skipped, stock, rtol=1e-5, atol=1e-6)
    assert not np.allclose(trained[0][0], weights(tiny_net())[0])  # it did train
