"""IRevNet: the reference configurations, Φ⁻¹(Φ(x)) = x for both variants (untrained and
trained, odd batches), `.keras` and SavedModel round trips, XLA, memory-free backprop against
ordinary backprop, and error messages naming the fix."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab import export
from keraslab.layers.invertible import InjectivePad, IRevNetBlock
from keraslab.models.irevnet import IRevNet, irevnet_cifar, irevnet_imagenet, irevnet_mnist

from layer_contract import check_layer_contract


def images(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def relative_error(a, b):
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return np.abs(a - b).max() / np.abs(b).max()


def bijective(**kwargs):
    """16×16×3 → ψ 8×8×12 → stride 2: 4×4×48 → stride 1: 4×4×48 (768 = 16·16·3 entries)."""
    return IRevNet(
        (16, 16, 3), 10, blocks=(2, 2), strides=(2, 1), channels=(24, 24), init_ds=2, **kwargs
    )


def train_briefly(model, shape, steps=3):
    x = images((12, *shape), seed=1)
    y = np.arange(12) % 10
    model.compile(
        keras.optimizers.SGD(0.1, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=4, epochs=1, steps_per_epoch=steps, verbose=0)
    return model


# --------------------------------------------------------------------------- configurations


@pytest.mark.slow
def test_reference_cifar_configuration():
    model = irevnet_cifar()
    assert model.injective
    assert model.feature_shape == (8, 8, 512)
    assert model.compute_output_shape((None, 32, 32, 3)) == (None, 10)
    pads = [layer for layer in model.invertible_layers if isinstance(layer, InjectivePad)]
    assert [p.pad for p in pads] == [29]
    blocks = [layer for layer in model.invertible_layers if isinstance(layer, IRevNetBlock)]
    assert len(blocks) == 54 and blocks[0].first and not blocks[1].first
    assert [b.stride for b in blocks if b.stride == 2] == [2, 2]
    assert all(b.dropout == 0.1 for b in blocks)
    assert model.count_params() == 6_293_482


@pytest.mark.slow
def test_imagenet_i_revnet_300_builds_bijective():
    """i-RevNet-300 (Jacobsen et al. 2018, Table 1 (b): 125 M parameters). The parameter count
    does not depend on the image size, so a 32×32 input keeps the test cheap."""
    model = irevnet_imagenet(input_shape=(32, 32, 3))
    assert not model.injective
    assert model.count_params() == 125_239_060
    assert sum(isinstance(layer, IRevNetBlock) for layer in model.invertible_layers) == 100
    assert model.feature_shape == (1, 1, 3072)  # 32·32·3 entries: bijective
    assert irevnet_imagenet.__defaults__[0] == (224, 224, 3)
    x = images((1, 32, 32, 3))
    assert relative_error(model.inverse(model.features(x)), x) <= 1e-5


def test_mnist_configuration():
    model = irevnet_mnist()
    assert model.injective and model.feature_shape == (7, 7, 128)
    assert model(images((2, 28, 28, 1))).shape == (2, 10)


# --------------------------------------------------------------------------- inverse


@pytest.mark.parametrize("variant", ["injective", "bijective"])
def test_inverse_of_features_untrained_and_trained(variant):
    if variant == "injective":
        model, shape = irevnet_mnist(blocks=(2, 2)), (28, 28, 1)
    else:
        model, shape = bijective(), (16, 16, 3)
    assert model.injective == (variant == "injective")
    for trained in (False, True):
        if trained:
            train_briefly(model, shape)
        for batch in (1, 3):
            x = images((batch, *shape), seed=batch)
            z = model.features(x)
            assert z.shape == (batch, *model.feature_shape)
            assert relative_error(model.inverse(z), x) <= 1e-5, (trained, batch)
        # Training mode (batch statistics): exact for the same whole batch.
        x = images((5, *shape), seed=5)
        z = model.features(x, training=True)
        assert relative_error(model.inverse(z, training=True), x) <= 2e-5


# --------------------------------------------------------------------------- saving and export


def test_keras_contract_of_a_memory_free_model(tmp_path):
    """Registration, config / .keras round trips, dynamic batch, tf.function
    (tests/layer_contract.py, which moves every weight and batch-norm statistic off its
    initialisation first), then features and inverse of the model loaded back."""
    x = images((3, 16, 16, 3))
    result = check_layer_contract(
        lambda: bijective(memory_free=True, dropout=0.1, name="bij"), x, directory=tmp_path
    )
    model, loaded = result.layer, result.loaded
    assert loaded.memory_free and loaded.get_config() == model.get_config()
    z = model.features(x)
    np.testing.assert_allclose(loaded.features(x), z, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(loaded.inverse(z), x, rtol=1e-5, atol=1e-5)
    assert IRevNet.from_config(model.get_config()).count_params() == model.count_params()


@pytest.mark.slow
def test_saved_model_signatures_reload_in_a_tensorflow_only_process(tmp_path):
    """logits, features and inverse as SavedModel signatures, served without keraslab."""
    model = bijective(memory_free=True)
    x = images((3, 16, 16, 3))
    module = tf.Module()
    module.model = model
    image_spec = tf.TensorSpec((None, 16, 16, 3), tf.float32, name="image")
    feature_spec = tf.TensorSpec((None, *model.feature_shape), tf.float32, name="features")
    module.logits = tf.function(
        lambda image: {"logits": model(image, training=False)}, input_signature=[image_spec]
    )
    module.features = tf.function(
        lambda image: {"features": model.features(image)}, input_signature=[image_spec]
    )
    module.inverse = tf.function(
        lambda features: {"image": model.inverse(features)}, input_signature=[feature_spec]
    )
    signatures = {
        "serving_default": module.logits,
        "features": module.features,
        "inverse": module.inverse,
    }
    tf.saved_model.save(module, str(tmp_path / "export"), signatures=signatures)
    # What TF Serving does: load the export in a process that imports only TensorFlow.
    z = model.features(x).numpy()
    feeds = {"serving_default": {"image": x}, "features": {"image": x}, "inverse": {"features": z}}
    report, served = export.run_in_tensorflow_only_process(tmp_path / "export", feeds)
    assert report["keraslab_modules"] == []
    np.testing.assert_allclose(
        served["serving_default"]["logits"], model(x, training=False), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(served["features"]["features"], z, rtol=1e-5, atol=1e-6)
    back = served["inverse"]["image"]
    assert np.abs(back - x).max() <= 1e-5 * np.abs(x).max()


# --------------------------------------------------------------------------- XLA and memory-free


@pytest.mark.slow
def test_jit_compile_equals_eager():
    model = IRevNet(
        (8, 8, 3), 10, blocks=(1, 1), strides=(2, 1), channels=(24, 24), init_ds=2, memory_free=True
    )
    x = tf.constant(images((3, 8, 8, 3)))
    z = model.features(x)
    np.testing.assert_allclose(
        tf.function(model.features, jit_compile=True)(x), z, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        tf.function(model.inverse, jit_compile=True)(z), x, rtol=1e-5, atol=1e-5
    )

    def gradients(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(model(x, training=True)))
        return tape.gradient(loss, model.trainable_weights)

    stats = [v.numpy() for v in model.non_trainable_weights]
    reconstructed = tf.function(gradients, jit_compile=True)(x)
    for v, value in zip(model.non_trainable_weights, stats, strict=True):
        v.assign(value)
    model.memory_free = False
    stored = gradients(x)
    scale = max(float(tf.reduce_max(tf.abs(g))) for g in stored)
    for a, b in zip(reconstructed, stored, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.slow
def test_memory_free_model_gradients_equal_ordinary_backprop():
    x = tf.constant(images((4, 28, 28, 1)))
    y = np.arange(4)
    ordinary = train_briefly(irevnet_mnist(blocks=(2, 2)), (28, 28, 1), steps=1)
    memory_free = irevnet_mnist(blocks=(2, 2), memory_free=True)
    memory_free.set_weights(ordinary.get_weights())
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    results = []
    for model in (ordinary, memory_free):

        @tf.function
        def step(x, model=model):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = loss_fn(y, model(x, training=True))
            return tape.gradient(loss, [x, *model.trainable_weights])

        results.append(
            ([g.numpy() for g in step(x)], [v.numpy() for v in model.non_trainable_weights])
        )
    (expected, stats), (got, stats_mf) = results
    scale = max(np.abs(g).max() for g in expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * scale)
    for a, b in zip(stats_mf, stats, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_memory_free_with_dropout_gives_every_gradient():
    """Dropout masks are drawn once and reused by the reconstruction."""
    model = irevnet_mnist(memory_free=True, dropout=0.1, blocks=(1, 1))
    x = images((2, 28, 28, 1))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x, training=True))
    assert all(g is not None for g in tape.gradient(loss, model.trainable_weights))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"input_shape": (30, 30, 1)},
            r"stage 2 \(stride 2\).*divisible by 2.*gets 15x15.*multiple of 4",
        ),
        (
            {"input_shape": (27, 28, 1)},
            r"init_ds=2.*27x28.*Resize or pad the images to a multiple of 4",
        ),
        ({"channels": (16, 48)}, r"channels\[1\] must be 64, got 48.*Set channels\[1\] = 64"),
        ({"channels": (1, 4)}, r"cannot narrow.*channels\[0\] >= 2"),
        ({"blocks": (4,)}, "same length"),
        ({"strides": (1, 3)}, "strides must be 1 or 2"),
        ({"init_ds": 1}, "init_ds is the block size"),
        ({"bottleneck_ratio": 32}, r"bottleneck width.*16 // 32 is 0.*bottleneck_ratio <= 16"),
        ({"input_shape": (28, 28)}, r"input_shape must be \(height, width, channels\)"),
    ],
)
def test_bad_configurations_name_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        irevnet_mnist(**kwargs)


def test_bad_inputs_name_the_fix():
    model = irevnet_mnist(blocks=(1, 1))
    with pytest.raises(
        ValueError,
        match=r"shape \(batch, 28, 28, 1\), got \(2, 32, 32, 1\).*input_shape=\(32, 32, 1\)",
    ):
        model.features(np.zeros((2, 32, 32, 1), "float32"))
    with pytest.raises(ValueError, match=r"floating-point \(normalized\) images, got dtype uint8"):
        model.features(np.zeros((2, 28, 28, 1), "uint8"))
    with pytest.raises(ValueError, match=r"representations of shape \(batch, 7, 7, 128\)"):
        model.inverse(np.zeros((2, 7, 7, 64), "float32"))
