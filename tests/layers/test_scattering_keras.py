"""Scattering2D as a Keras 3 layer: config, shapes, saving, tf.function / XLA, distribution,
gradients (first and second order), SavedModel export, and its error messages."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab import export
from keraslab.layers import Scattering2D
from keraslab.layers.scattering import num_coefficients

from layer_contract import check_layer_contract

SIZE = 16
J, L = 2, 4
K = num_coefficients(J, L)  # 1 + 8 + 16 = 25


def images(batch=3, channels=2, seed=0, dtype="float32"):
    return np.random.default_rng(seed).random((batch, SIZE, SIZE, channels)).astype(dtype)


def scattering_model(channels=2, **kwargs):
    inputs = keras.Input((SIZE, SIZE, channels))
    return keras.Model(inputs, Scattering2D(J, L=L, name="scattering", **kwargs)(inputs))


# --------------------------------------------------------------------------- the Keras contract


@pytest.mark.parametrize(
    "kwargs",
    [
        {"J": J, "L": L},
        {"J": 3, "L": 6, "max_order": 1, "output_layout": "paths", "dtype": "float64"},
    ],
    ids=["default", "paths-float64"],
)
def test_keras_contract(kwargs, tmp_path):
    """Registration, symbolic build, dynamic batch, compute_output_shape, tf.function (and XLA
    for the default layout), config and .keras round trips."""
    default = "max_order" not in kwargs
    result = check_layer_contract(
        lambda: Scattering2D(**kwargs, name="scattering"),
        images(),
        directory=tmp_path,
        jit_compile=default,
    )
    config = result.layer.get_config()
    assert {k: config[k] for k in ("J", "L", "max_order", "output_layout")} == {
        "max_order": 2,
        "output_layout": "channels",
        **{k: v for k, v in kwargs.items() if k != "dtype"},
    }
    if default:
        assert result.model.output_shape == (None, SIZE // 4, SIZE // 4, 2 * K)
    else:  # J = 3, order 1: 1 + 6·3 paths per channel, (batch, 2, 2, channels, paths)
        assert result.model.output_shape == (None, 2, 2, 2, 1 + 6 * 3)


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


def test_no_weights_and_mixed_precision_output_dtype():
    layer = Scattering2D(J, L=L, dtype="mixed_float16")
    out = layer(images())
    assert layer.weights == []
    assert out.dtype == "float16"
    reference = Scattering2D(J, L=L)(images())
    np.testing.assert_allclose(out.numpy().astype("float32"), reference, rtol=2e-3, atol=2e-3)


# --------------------------------------------------------------------------- saving


@pytest.mark.slow
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

    # What TF Serving does: load each export in a process that imports only TensorFlow.
    for directory, signature, image_input, output in (
        ("archive", "serve", "inputs", "output_0"),
        ("module", "serving_default", "images", "scattering"),
    ):
        report, served = export.run_in_tensorflow_only_process(
            tmp_path / directory, {signature: {image_input: x}}
        )
        assert report["keraslab_modules"] == []
        np.testing.assert_allclose(served[signature][output], expected, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ graph, XLA, distribution


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


@pytest.mark.slow
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
