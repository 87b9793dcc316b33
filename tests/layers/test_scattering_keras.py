"""Scattering2D as a Keras 3 layer: config, shapes, saving, tf.function / XLA, distribution,
gradients (first and second order), SavedModel export, and its error messages."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.layers import Scattering2D
from keraslab.layers.scattering import num_coefficients

SIZE = 16
J, L = 2, 4
K = num_coefficients(J, L)  # 1 + 8 + 16 = 25


def images(batch=3, channels=2, seed=0, dtype="float32"):
    return np.random.default_rng(seed).random((batch, SIZE, SIZE, channels)).astype(dtype)


def scattering_model(channels=2, **kwargs):
    inputs = keras.Input((SIZE, SIZE, channels))
    return keras.Model(inputs, Scattering2D(J, L=L, name="scattering", **kwargs)(inputs))


# --------------------------------------------------------------------------- config and shapes


def test_registered_and_config_round_trip():
    layer = Scattering2D(3, L=6, max_order=1, output_layout="paths", name="s", dtype="float64")
    config = layer.get_config()
    assert {k: config[k] for k in ("J", "L", "max_order", "output_layout")} == {
        "J": 3,
        "L": 6,
        "max_order": 1,
        "output_layout": "paths",
    }
    assert keras.saving.get_registered_name(Scattering2D) == "keraslab>Scattering2D"
    clone = Scattering2D.from_config(config)
    assert clone.get_config() == config
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(rebuilt) is Scattering2D and rebuilt.get_config() == config


@pytest.mark.parametrize(
    ("layout", "input_shape", "expected"),
    [
        ("channels", (None, 28, 28, 3), (None, 7, 7, 3 * 81)),
        ("channels", (5, 30, 17, 1), (5, 7, 4, 81)),
        ("channels", (None, 28, 28, None), (None, 7, 7, None)),
        ("paths", (None, 28, 28, 3), (None, 7, 7, 3, 81)),
    ],
)
def test_compute_output_shape(layout, input_shape, expected):
    layer = Scattering2D(2, output_layout=layout)
    assert layer.compute_output_shape(input_shape) == expected
    if None not in input_shape[1:]:
        batch = 2 if input_shape[0] is None else input_shape[0]
        out = layer(np.zeros((batch, *input_shape[1:]), "float32"))
        assert tuple(out.shape) == (batch, *expected[1:])


def test_functional_model_has_dynamic_batch():
    model = scattering_model()
    assert model.output_shape == (None, SIZE // 4, SIZE // 4, 2 * K)
    for batch in (1, 4):
        assert model.predict(images(batch), verbose=0).shape == (batch, 4, 4, 2 * K)


def test_no_weights_and_mixed_precision_output_dtype():
    layer = Scattering2D(J, L=L, dtype="mixed_float16")
    out = layer(images())
    assert layer.weights == []
    assert out.dtype == "float16"
    reference = Scattering2D(J, L=L)(images())
    np.testing.assert_allclose(out.numpy().astype("float32"), reference, rtol=2e-3, atol=2e-3)


# --------------------------------------------------------------------------- saving


def test_keras_file_round_trip(tmp_path):
    model = scattering_model()
    expected = model.predict(images(), verbose=0)
    path = tmp_path / "scattering.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("scattering"), Scattering2D)
    np.testing.assert_allclose(loaded.predict(images(), verbose=0), expected, rtol=1e-6)


def test_saved_model_export_reloads_in_a_tensorflow_only_process(tmp_path):
    """ExportArchive and a plain tf.Module both give SavedModels that need only TensorFlow."""
    model = scattering_model()
    x = images()
    expected = model(x).numpy()

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        model.call,
        input_signature=[tf.TensorSpec((None, SIZE, SIZE, 2), tf.float32)],
    )
    archive.write_out(str(tmp_path / "archive"), verbose=False)

    module = tf.Module()
    module.model = model
    module.serve = tf.function(
        lambda images: {"scattering": model(images)},
        input_signature=[tf.TensorSpec((None, SIZE, SIZE, 2), tf.float32, name="images")],
    )
    tf.saved_model.save(
        module, str(tmp_path / "module"), signatures={"serving_default": module.serve}
    )

    reloaded = tf.saved_model.load(str(tmp_path / "module"))
    np.testing.assert_allclose(reloaded.serve(x)["scattering"], expected, rtol=1e-6, atol=1e-7)

    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", expected)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import tensorflow as tf
        x = np.load({str(tmp_path / "x.npy")!r})
        expected = np.load({str(tmp_path / "expected.npy")!r})
        archive = tf.saved_model.load({str(tmp_path / "archive")!r})
        signature = tf.saved_model.load({str(tmp_path / "module")!r}).signatures["serving_default"]
        outs = [archive.serve(x).numpy(), signature(images=tf.constant(x))["scattering"].numpy()]
        assert "keraslab" not in sys.modules
        for out in outs:
            np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
        print("ok")
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


# ------------------------------------------------------------------ graph, XLA, distribution


def test_tf_function_and_xla_equal_eager():
    layer = Scattering2D(J, L=L)
    x = tf.constant(images())
    eager = layer(x).numpy()
    graph = tf.function(layer)(x).numpy()
    xla = tf.function(layer, jit_compile=True)(x).numpy()
    np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xla, eager, rtol=1e-5, atol=1e-6)


def test_relaxed_batch_shape_in_tf_function():
    layer = Scattering2D(J, L=L)
    f = tf.function(layer, input_signature=[tf.TensorSpec((None, SIZE, SIZE, 2), tf.float32)])
    for batch in (1, 3):
        assert f(images(batch)).shape == (batch, 4, 4, 2 * K)


def test_mirrored_strategy_over_two_cpus_matches_single_device(mirrored_strategy):
    x = images(batch=4)
    y = np.arange(4) % 3
    strategy = mirrored_strategy
    with strategy.scope():
        inputs = keras.Input((SIZE, SIZE, 2))
        features = keras.layers.Flatten()(Scattering2D(J, L=L)(inputs))
        model = keras.Model(inputs, keras.layers.Dense(3)(features))
        model.compile(
            optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
    single = Scattering2D(J, L=L)(x).numpy()
    scatter = keras.Model(model.input, model.layers[1].output)
    np.testing.assert_allclose(scatter.predict(x, batch_size=4, verbose=0), single, rtol=1e-5)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    # A custom loop: each replica scatters its half of the batch on its own device.
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        layer = Scattering2D(J, L=L)
    halves = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(x[2 * ctx.replica_id_in_sync_group :][:2])
    )
    per_replica = strategy.run(tf.function(layer), args=(halves,))
    gathered = np.concatenate([t.numpy() for t in strategy.experimental_local_results(per_replica)])
    np.testing.assert_allclose(gathered, single, rtol=1e-5)


# --------------------------------------------------------------------------- gradients


def test_input_gradient_matches_finite_differences():
    layer = Scattering2D(J, L=L, dtype="float64")
    rng = np.random.default_rng(5)
    x = tf.constant(rng.random((2, SIZE, SIZE, 1)) + 0.5)
    weights = tf.constant(rng.standard_normal((2, 4, 4, K)))

    def f(t):
        return tf.reduce_sum(weights * layer(t))

    with tf.GradientTape() as tape:
        tape.watch(x)
        value = f(x)
    gradient = tape.gradient(value, x).numpy()
    eps = 1e-6
    for seed in range(3):
        direction = np.random.default_rng(seed).standard_normal(x.shape)
        numeric = (f(x + eps * direction) - f(x - eps * direction)).numpy() / (2 * eps)
        np.testing.assert_allclose(np.sum(gradient * direction), numeric, rtol=1e-6)


def test_nested_tapes_for_a_jacobian_penalty_in_graph_and_xla():
    """d/dW ||d f / d x||², f = Dense(Scattering(x)): the penalty training steps need."""
    layer = Scattering2D(J, L=L)
    dense = keras.layers.Dense(3)
    x = tf.constant(images(batch=2))
    dense.build((None, 4 * 4 * 2 * K))

    def penalty_and_gradients(t):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(t)
                logits = dense(tf.reshape(layer(t), [tf.shape(t)[0], -1]))
                total = tf.reduce_sum(logits)
            input_gradient = inner.gradient(total, t)
            penalty = tf.reduce_sum(input_gradient**2)
        # The input gradient flows back through the scattering's own backward pass, and the
        # outer tape differentiates that (the bias does not enter the penalty).
        return penalty, outer.gradient(penalty, dense.kernel)

    eager_penalty, eager_grad = penalty_and_gradients(x)
    assert eager_grad is not None and np.all(np.isfinite(eager_grad))
    assert float(tf.reduce_sum(tf.abs(eager_grad))) > 0
    for jit in (False, True):
        penalty, grad = tf.function(penalty_and_gradients, jit_compile=jit)(x)
        np.testing.assert_allclose(penalty, eager_penalty, rtol=1e-4)
        np.testing.assert_allclose(
            grad, eager_grad, rtol=1e-3, atol=1e-5 * np.abs(eager_grad).max()
        )


def test_gradient_is_finite_on_a_constant_image():
    """The modulus is not differentiable at 0; a blank image must still give finite gradients."""
    x = tf.zeros((1, SIZE, SIZE, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(Scattering2D(J, L=L)(x))
    assert np.all(np.isfinite(tape.gradient(out, x)))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"J": 0}, "J must be an integer >= 1"),
        ({"J": 2.5}, "J must be an integer >= 1"),
        ({"J": 2, "L": 0}, "L must be an integer >= 1"),
        ({"J": 2, "max_order": 3}, "max_order must be 1 or 2"),
        ({"J": 2, "output_layout": "channels_first"}, "output_layout must be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Scattering2D(**kwargs)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((None, 28, 28), r"rank 3.*Add a channel axis"),
        ((None, 2, 28, 28, 1), "rank 5"),
        ((None, None, None, 1), r"known height and width.*keras.Input\(shape="),
        ((None, 28, 3, 1), r"at least 2\*\*J = 4 pixels.*got 28x3.*Use J <= 1"),
    ],
)
def test_bad_input_shapes_fail_at_build(shape, message):
    with pytest.raises(ValueError, match=message):
        Scattering2D(2).build(shape)
    with pytest.raises(ValueError, match=message):
        keras.Model(inputs := keras.Input(batch_shape=shape), Scattering2D(2)(inputs))


def test_integer_images_fail_with_the_fix():
    message = r"floating-point images, got dtype uint8.*Rescaling"
    with pytest.raises(ValueError, match=message):
        Scattering2D(2)(keras.Input((28, 28, 1), dtype="uint8"))
    with pytest.raises(ValueError, match=message):
        Scattering2D(2)(np.zeros((1, 28, 28, 1), "uint8"))


def test_other_image_size_than_built_fails():
    layer = Scattering2D(2)
    layer(np.zeros((1, 28, 28, 1), "float32"))
    with pytest.raises(ValueError, match="built for 28x28 images.*one Scattering2D layer per"):
        layer(np.zeros((1, 32, 32, 1), "float32"))
