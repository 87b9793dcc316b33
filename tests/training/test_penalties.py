"""The regularization penalties of issue 6: each value against an independent computation, their
gradients, and training with them under model.fit, XLA, mixed precision and MirroredStrategy."""

import contextlib
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.errors import InputSpecError, UnknownNameError
from keraslab.training import Penalty, TrainingModel, WeightDecay
from keraslab.training.averaging import TransformAverage, with_test_time_averaging
from keraslab.training.finetune import jacobian_finetune
from keraslab.training.invariance import Invariance, feature_extractor
from keraslab.training.jacobian import InputGradient, JacobianFrobenius, JacobianSpectral
from keraslab.training.penalties import PENALTY_NAMES, get_penalty, parse_penalty
from keraslab.training.semisupervised import (
    MaskedSparseCategoricalCrossentropy,
    PredictionEntropy,
    Reconstruction,
    semi_supervised,
)
from keraslab.training.transforms import FlipLeftRight, Identity, Rotate, Shift

SHAPE = (6, 6, 1)
CLASSES = 4


def smooth_net(seed=0, *, batch_norm=False, dropout=0.0, dtype=None):
    """Conv(tanh) [→ BN] → Dense(tanh) [→ dropout] → logits: smooth, so every weight matters."""
    init = keras.initializers.GlorotUniform(seed=seed)
    binit = keras.initializers.RandomNormal(stddev=0.3, seed=seed + 1)
    kw = {"dtype": dtype} if dtype else {}
    inputs = keras.Input(SHAPE, dtype=dtype or "float32")
    x = keras.layers.Conv2D(
        3, 3, activation="tanh", kernel_initializer=init, bias_initializer=binit, **kw
    )(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization(beta_initializer=binit, gamma_initializer="ones", **kw)(
            x
        )
    x = keras.layers.Flatten(**kw)(x)
    x = keras.layers.Dense(
        5, activation="tanh", kernel_initializer=init, bias_initializer=binit, **kw
    )(x)
    if dropout:
        x = keras.layers.Dropout(dropout, **kw)(x)
    outputs = keras.layers.Dense(
        CLASSES, kernel_initializer=init, bias_initializer=binit, name="logits", **kw
    )(x)
    return keras.Model(inputs, outputs)


def linear_net(W):
    inputs = keras.Input(SHAPE)
    dense = keras.layers.Dense(W.shape[1], name="logits")
    net = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.kernel.assign(W)
    return net


def data(n=8, seed=0, dtype="float32", labels=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *SHAPE)).astype(dtype)
    y = rng.integers(0, CLASSES, size=n).astype("int32")
    return (x, y) if labels else x


def fd_jacobians(net, x, eps=1e-6):
    """Per-sample Jacobians (B, C, D) of a float64 network by central finite differences."""
    x = np.asarray(x, np.float64)
    b, d = x.shape[0], x[0].size
    jac = np.zeros((b, CLASSES, d))
    flat = x.reshape(b, d)
    for i in range(d):
        step = np.zeros_like(flat)
        step[:, i] = eps
        plus = net((flat + step).reshape(x.shape), training=False).numpy()
        minus = net((flat - step).reshape(x.shape), training=False).numpy()
        jac[:, :, i] = (plus - minus) / (2 * eps)
    return jac


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def value(penalty, net, x, y=None, y_pred=None):
    x = tf.constant(x)
    if y_pred is None:
        y_pred = net(x, training=False)
    return float(penalty.value(net, x, None if y is None else tf.constant(y), y_pred))


# ------------------------------------------------------------------ values, exactly


def test_linear_model_jacobian_norms_are_those_of_its_matrix():
    W = np.random.default_rng(3).normal(size=(int(np.prod(SHAPE)), CLASSES)).astype("float32")
    net = linear_net(W)
    x = data(labels=False)
    assert value(JacobianFrobenius(1.0), net, x) == pytest.approx(float(np.sum(W**2)), rel=1e-5)
    sigma = np.linalg.svd(W, compute_uv=False)[0]
    spectral = value(JacobianSpectral(1.0, iterations=30), net, x)
    assert spectral == pytest.approx(float(sigma**2), rel=1e-4)
    assert value(JacobianSpectral(1.0, iterations=0), net, x) <= sigma**2 * (1 + 1e-5)


class SubclassedLinear(keras.Model):
    def __init__(self):
        super().__init__()
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(CLASSES)

    def call(self, x, training=None):
        return self.dense(self.flatten(x))


def test_jacobian_penalties_accept_subclassed_models():
    net = SubclassedLinear()
    x = data(labels=False)
    net(x)
    expected = float(np.sum(np.asarray(net.dense.kernel) ** 2))
    assert value(JacobianFrobenius(1.0), net, x) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="no functional graph"):
        feature_extractor(net)


def test_penalties_equal_finite_difference_computations_on_a_nonlinear_network():
    keras.config.set_dtype_policy("float64")
    net = smooth_net(dtype="float64")
    x, y = data(n=3, dtype="float64")
    y[1] = -1  # unlabelled: contributes 0 to the input gradient
    jac = fd_jacobians(net, x)  # (B, C, D)
    logits = net(x, training=False).numpy()
    frob = np.mean(np.sum(jac**2, axis=(1, 2)))
    spec = np.mean([np.linalg.svd(j, compute_uv=False)[0] ** 2 for j in jac])
    p = softmax(logits)
    onehot = np.eye(CLASSES)[np.maximum(y, 0)]
    grad_ce = np.einsum("bc,bcd->bd", p - onehot, jac) * (y >= 0)[:, None]
    x_hat = np.einsum("bc,bcd->bd", p, jac)
    x_hat_argmax = jac[np.arange(3), logits.argmax(-1)]
    flat = x.reshape(3, -1)
    assert value(JacobianFrobenius(1.0), net, x) == pytest.approx(frob, rel=1e-5)
    assert value(JacobianSpectral(1.0, iterations=40), net, x) == pytest.approx(spec, rel=1e-4)
    got = value(InputGradient(1.0), net, x, y)
    assert got == pytest.approx(np.mean(np.sum(grad_ce**2, axis=1)), rel=1e-5)
    got = value(Reconstruction(1.0, reduction="sum"), net, x)
    assert got == pytest.approx(np.mean(np.sum((flat - x_hat) ** 2, axis=1)), rel=1e-5)
    got = value(Reconstruction(1.0), net, x)  # the default: mean over the input entries
    assert got == pytest.approx(np.mean(np.mean((flat - x_hat) ** 2, axis=1)), rel=1e-5)
    got = value(Reconstruction(1.0, template="argmax", reduction="sum"), net, x)
    assert got == pytest.approx(np.mean(np.sum((flat - x_hat_argmax) ** 2, axis=1)), rel=1e-5)
    entropy = np.mean(-np.sum(p * np.log(p), axis=1))
    assert value(PredictionEntropy(1.0), net, x) == pytest.approx(entropy, rel=1e-6)


def test_exact_jacobian_matches_a_per_class_loop_in_inference_mode():
    net = smooth_net(batch_norm=True, dropout=0.5)
    x = tf.constant(data(labels=False))
    expected = 0.0
    for c in range(CLASSES):  # the independent reference: C separate backward passes
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = net(x, training=False)[:, c]
        expected += tf.reduce_sum(tf.square(tape.gradient(out, x)), axis=[1, 2, 3])
    moving = [np.asarray(v) for v in net.non_trainable_weights]
    got = value(JacobianFrobenius(1.0), net, x)
    assert got == pytest.approx(float(tf.reduce_mean(expected)), rel=1e-5)
    # The penalty's own forward pass is in inference mode: no batch-norm update.
    for before, after in zip(moving, net.non_trainable_weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(after))


def test_projection_estimator_is_unbiased():
    net = smooth_net()
    x = data(n=4, labels=False)
    exact = value(JacobianFrobenius(1.0), net, x)
    # Every sample draws its own direction: 1000 copies of the batch are 1000 independent draws.
    many = np.tile(x, (1000, 1, 1, 1))
    for projections in (1, 3):
        estimate = value(JacobianFrobenius(1.0, projections=projections), net, many)
        assert estimate == pytest.approx(exact, rel=0.03)
    single = [value(JacobianFrobenius(1.0, projections=1), net, x[:1]) for _ in range(3)]
    assert len(set(single)) == 3  # random, and redrawn at every call


def test_invariance_equals_the_feature_distance_and_finds_the_penultimate_layer():
    net = smooth_net()
    x = data(labels=False)
    phi = keras.Model(net.input, net.get_layer("logits").input)
    transforms = [Shift(1, 0), Rotate(90), FlipLeftRight()]
    f0 = phi(x).numpy()
    expected = np.mean(
        [np.sum((phi(t(x)).numpy() - f0) ** 2, axis=1) for t in transforms], axis=0
    ).mean()
    assert value(Invariance(1.0, transforms), net, x) == pytest.approx(expected, rel=1e-5)
    dense_name = [layer.name for layer in net.layers if isinstance(layer, keras.layers.Dense)][0]
    named = Invariance(1.0, ["flip"], feature_layer=dense_name)
    expected = np.mean(np.sum((phi(x[:, :, ::-1]).numpy() - f0) ** 2, axis=1))
    assert value(named, net, x) == pytest.approx(expected, rel=1e-5)

    from keraslab.models import lenet

    assert feature_extractor(lenet()).output.shape == (None, 512)  # input of "logits"
    with pytest.raises(UnknownNameError, match="no layer named 'nope'"):
        feature_extractor(net, "nope")
    inputs = keras.Input(SHAPE)
    no_dense = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(ValueError, match="feature_layer"):
        feature_extractor(no_dense)


def test_invariance_is_zero_for_an_invariant_network():
    inputs = keras.Input(SHAPE)
    # 1×1 convolutions and global pooling: invariant to any permutation of pixels, flips too.
    h = keras.layers.Conv2D(3, 1, activation="tanh")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    net = keras.Model(inputs, keras.layers.Dense(CLASSES)(h))
    assert value(Invariance(1.0, [FlipLeftRight()]), net, data(labels=False)) < 1e-10
    assert value(Invariance(1.0, [Shift(1, 0)]), net, data(labels=False)) > 1e-4


# ------------------------------------------------------------------ gradients


def test_gradients_reach_every_weight_that_matters():
    net = smooth_net(batch_norm=True)
    x, y = (tf.constant(a) for a in data())
    last_bias = net.get_layer("logits").bias.path
    last_layer = {v.path for v in net.get_layer("logits").trainable_weights}
    cases = {
        # The Jacobian does not depend on the output bias; everything else shapes it.
        JacobianFrobenius(1.0): {last_bias},
        JacobianFrobenius(1.0, projections=1): {last_bias},
        JacobianSpectral(1.0, iterations=2): {last_bias},
        Reconstruction(1.0): {last_bias},
        InputGradient(1.0): set(),
        # The features stop before the classifier.
        Invariance(1.0, ["shift:1", "rotate:10"]): last_layer,
    }
    for penalty, unused in cases.items():
        with tf.GradientTape() as tape:
            v = penalty.value(net, x, y, net(x, training=True))
        grads = tape.gradient(v, net.trainable_weights)
        for w, g in zip(net.trainable_weights, grads, strict=True):
            if w.path in unused:
                assert g is None or float(tf.reduce_max(tf.abs(g))) == 0.0, (penalty, w.path)
            else:
                assert g is not None, (penalty, w.path)
                assert float(tf.reduce_max(tf.abs(g))) > 0, (penalty, w.path)


# ------------------------------------------------------------------ training


def batches(n=32, batch=16, seed=0):
    x, y = data(n=n, seed=seed)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def compile_sgd(model, lr=0.05, **kwargs):
    model.compile(
        optimizer=keras.optimizers.SGD(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        **kwargs,
    )
    return model


def deterministic_penalties():
    return [JacobianFrobenius(0.1), InputGradient(0.1), WeightDecay(0.01)]


def random_penalties():
    return [
        JacobianFrobenius(0.1, projections=2),
        JacobianSpectral(0.05, iterations=2),
        Invariance(0.1, ["shift:1", "rotate:10", "elastic:0.5:2"]),
        Reconstruction(0.01),
        PredictionEntropy(0.1),
    ]


@pytest.mark.slow
def test_composed_penalties_train_and_log_and_xla_matches_eager():
    eager = compile_sgd(TrainingModel(smooth_net(), deterministic_penalties()))
    h1 = eager.fit(batches(), epochs=2, verbose=0, shuffle=False).history
    xla = compile_sgd(TrainingModel(smooth_net(), deterministic_penalties()), jit_compile=True)
    h2 = xla.fit(batches(), epochs=2, verbose=0, shuffle=False).history
    for key in ("loss", "jacobian", "input_gradient", "weight_decay"):
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-4)
        assert h1[key][0] > 0
    for a, b in zip(eager.network.weights, xla.network.weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_randomized_penalties_train_under_xla():
    model = compile_sgd(
        TrainingModel(smooth_net(batch_norm=True), random_penalties()), jit_compile=True
    )
    h = model.fit(batches(), epochs=1, verbose=0, shuffle=False).history
    for p in random_penalties():
        assert np.isfinite(h[p.name][0]) and h[p.name][0] > 0, p.name


@pytest.mark.slow
def test_mixed_precision_penalties_are_float32_and_close_to_full_precision():
    x, y = data()
    reference = [value(p, smooth_net(), x, y) for p in deterministic_penalties()[:2]]
    keras.config.set_dtype_policy("mixed_float16")
    net = smooth_net()
    assert net.layers[1].compute_dtype == "float16"
    for p, ref in zip(deterministic_penalties()[:2], reference, strict=True):
        out = p.value(net, tf.constant(x), tf.constant(y), net(x))
        assert out.dtype == tf.float32
        assert float(out) == pytest.approx(ref, rel=2e-2)
    penalties = deterministic_penalties()[:2] + random_penalties()
    model = compile_sgd(TrainingModel(smooth_net(batch_norm=True), penalties), jit_compile=False)
    history = model.fit(batches(), epochs=1, verbose=0, shuffle=False).history
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert set(history) >= {p.name for p in penalties}
    for key, values in history.items():
        assert np.all(np.isfinite(values)), key


def train_with_jacobian(ds, strategy=None):
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = compile_sgd(TrainingModel(smooth_net(), [JacobianFrobenius(0.1)]), lr=0.05)
    return model, model.fit(ds, epochs=2, verbose=0, shuffle=False).history


def test_mirrored_strategy_matches_single_device_with_the_jacobian_penalty(mirrored_strategy):
    ds = batches(n=64, batch=16)  # 8 samples per replica
    single, h1 = train_with_jacobian(ds)
    mirrored, h2 = train_with_jacobian(ds, mirrored_strategy)
    for a, b in zip(single.network.weights, mirrored.network.weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    for key in ("loss", "jacobian"):
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-4)
    # Every other penalty runs per replica too. (Not under XLA: MirroredStrategy with
    # jit_compile fails on split CPUs even without penalties, "variable on a different device".)
    penalties = [InputGradient(0.1), *random_penalties()]
    with mirrored_strategy.scope():
        model = compile_sgd(TrainingModel(smooth_net(batch_norm=True), penalties))
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False).history
    for p in penalties:
        assert np.isfinite(history[p.name][0]) and history[p.name][0] > 0, p.name


def test_jacobian_finetune_lowers_the_jacobian_norm():
    x, y = data(n=32)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    net = smooth_net()
    before = value(JacobianFrobenius(1.0), net, x)
    history = jacobian_finetune(net, ds, weight=1.0, epochs=3, learning_rate=0.05)
    assert value(JacobianFrobenius(1.0), net, x) < 0.8 * before
    assert len(history.history["jacobian"]) == 3
    with pytest.raises(ValueError, match="epochs"):
        jacobian_finetune(net, ds, weight=1.0, epochs=0)


# ------------------------------------------------------------------ semi-supervised


def test_masked_cross_entropy_ignores_unlabelled_samples_and_round_trips():
    logits = np.random.default_rng(0).normal(size=(4, CLASSES)).astype("float32")
    y = np.array([1, -1, 3, -1])
    loss = MaskedSparseCategoricalCrossentropy()
    log_p = np.log(softmax(logits))
    expected = -(log_p[0, 1] + log_p[2, 3]) / 4  # divided by the whole batch
    assert float(loss(y, logits)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(np.full(4, -1), logits)) == 0.0
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(again, MaskedSparseCategoricalCrossentropy) and again.from_logits


def test_semi_supervised_loss_is_the_weighted_sum_of_its_three_terms():
    obj = semi_supervised()  # α = 0.7, β = 0.5
    assert obj.loss_weight == 0.7
    assert [(type(p).__name__, p.weight) for p in obj.penalties] == [
        ("Reconstruction", pytest.approx(0.15)),
        ("PredictionEntropy", pytest.approx(0.15)),
    ]
    x, y = data(n=8)
    y[::2] = -1
    net = smooth_net()
    ce = float(MaskedSparseCategoricalCrossentropy()(y, net(x)))
    r, e = (value(p, net, x) for p in (Reconstruction(1.0), PredictionEntropy(1.0)))
    model = TrainingModel(net, obj.penalties)
    # A zero learning rate: the logged loss is the objective at the initial weights.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=obj.loss, loss_weights=obj.loss_weight)
    h = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert h["loss"][0] == pytest.approx(0.7 * ce + 0.15 * r + 0.15 * e, rel=1e-5)
    assert h["reconstruction"][0] == pytest.approx(r, rel=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        semi_supervised(alpha=1.5)


# ------------------------------------------------------------------ test-time averaging


def test_test_time_averaging_is_invariant_and_round_trips(tmp_path):
    net = smooth_net()
    x = data(labels=False)
    tta = with_test_time_averaging(net, [Identity(), FlipLeftRight()])
    out = tta(x).numpy()
    np.testing.assert_allclose(out, tta(x[:, :, ::-1]).numpy(), rtol=1e-5, atol=1e-6)
    mean_p = (softmax(net(x).numpy()) + softmax(net(x[:, :, ::-1]).numpy())) / 2
    np.testing.assert_allclose(softmax(out), mean_p, rtol=1e-5, atol=1e-6)
    logits = with_test_time_averaging(net, [Identity(), "flip"], average="logits")(x).numpy()
    np.testing.assert_allclose(logits, (net(x) + net(x[:, :, ::-1])).numpy() / 2, rtol=1e-5)
    tta.save(tmp_path / "tta.keras")
    again = keras.saving.load_model(tmp_path / "tta.keras")
    np.testing.assert_allclose(again(x).numpy(), out, rtol=1e-6)
    with pytest.raises(ValueError, match="average"):
        TransformAverage(2, "median")


# ------------------------------------------------------------------ the registry


def concrete_penalty_classes(cls=Penalty):
    found = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("keraslab."):
            found |= {sub} | concrete_penalty_classes(sub)
    return found


def test_parse_penalty_builds_every_named_penalty():
    built = set()
    for name in PENALTY_NAMES:
        p = parse_penalty(f"{name}:0.01")
        assert p.weight == 0.01 and p.name == name
        built.add(type(p))
    # The registry is the one list of names: every penalty keraslab defines has one.
    assert built == concrete_penalty_classes()
    p = parse_penalty("jacobian_projection:0.5:projections=3")
    assert isinstance(p, JacobianFrobenius) and p.projections == 3
    assert parse_penalty("jacobian:1e-3").projections is None
    p = parse_penalty("invariance:0.1:transforms=shift:2+rotate:10+flip,feature_layer=dense")
    names = [type(t).__name__ for t in p.transforms]
    assert names == ["RandomShift", "RandomRotate", "FlipLeftRight"]
    assert p.feature_layer == "dense"
    assert get_penalty("jacobian_spectral", 2.0, iterations=7).iterations == 7
    # fit() records every penalty's config in run.json.
    for name in PENALTY_NAMES:
        json.dumps(get_penalty(name, 0.5).get_config())


def test_parse_penalty_errors_name_the_problem():
    with pytest.raises(UnknownNameError, match="valid names: weight_decay, jacobian, "):
        parse_penalty("jacobain:0.01")
    with pytest.raises(UnknownNameError, match="valid names"):
        get_penalty("frobenius", 1.0)
    with pytest.raises(InputSpecError, match="needs a weight"):
        parse_penalty("jacobian")
    with pytest.raises(InputSpecError, match="not a number"):
        parse_penalty("jacobian:lots")
    with pytest.raises(InputSpecError, match="non-negative"):
        parse_penalty("jacobian:-1")
    with pytest.raises(UnknownNameError, match="its options: projections, name"):
        parse_penalty("jacobian_projection:0.1:iterations=3")
    with pytest.raises(InputSpecError, match="projections must be >= 1"):
        parse_penalty("jacobian_projection:0.1:projections=0")
    with pytest.raises(InputSpecError, match="OPTION=VALUE"):
        parse_penalty("jacobian_spectral:0.1:iterations")
    with pytest.raises(UnknownNameError, match="unknown transform 'spin'"):
        parse_penalty("invariance:0.1:transforms=spin")
