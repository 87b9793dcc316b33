"""keraslab.analysis.robustness: FGSM and Jacobian norms against independent computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.analysis.robustness import (
    FGSMCurve,
    PixelRange,
    fgsm,
    fgsm_accuracy,
    jacobian_frobenius_norms,
    jacobian_norms,
)
from keraslab.errors import InputSpecError

SHAPE = (5, 4, 2)
D = int(np.prod(SHAPE))


def linear_net(W, b):
    """f(x) = Wᵀ vec(x) + b, so J_f(x) = Wᵀ for every x."""
    inputs = keras.Input(SHAPE)
    dense = keras.layers.Dense(W.shape[1])
    net = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.kernel.assign(W)
    dense.bias.assign(b)
    return net


def relu_net(seed=0):
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(
        3, 3, padding="same", activation="relu", kernel_initializer=init, bias_initializer="ones"
    )(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(4, kernel_initializer=init)(x))


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def test_linear_jacobian_norm_is_the_frobenius_norm_of_w(rng):
    W, b = rng.normal(size=(D, 3)).astype("float32"), rng.normal(size=3).astype("float32")
    x = rng.normal(size=(7, *SHAPE)).astype("float32")
    norms = jacobian_frobenius_norms(linear_net(W, b), x).numpy()
    np.testing.assert_allclose(norms, np.full(7, np.linalg.norm(W)), rtol=1e-5)
    # With respect to raw pixels: ∂f/∂x_raw = ∂f/∂x_n / σ, per channel (the last axis).
    std = np.array([0.5, 0.25], np.float32)
    per_channel = W.reshape(*SHAPE, 3) / std[:, None]
    raw = jacobian_frobenius_norms(linear_net(W, b), x, std=std).numpy()
    np.testing.assert_allclose(raw, np.full(7, np.linalg.norm(per_channel)), rtol=1e-5)


def test_jacobian_norms_match_batch_jacobian_over_a_dataset(rng):
    net = relu_net()
    x = rng.normal(size=(10, *SHAPE)).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = net(xt, training=False)
    expected = np.linalg.norm(tape.batch_jacobian(out, xt).numpy().reshape(10, -1), axis=1)
    assert expected.std() > 0  # the ReLU network's Jacobian varies with x
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(10, "int32"))).batch(4)
    result = jacobian_norms(net, ds)
    np.testing.assert_allclose(result.norms, expected, rtol=1e-5)
    assert result.wrt == "model input"
    d = result.to_dict()
    assert d["samples"] == 10
    assert d["mean"] == pytest.approx(expected.mean(), rel=1e-5)
    assert d["rms"] == pytest.approx(np.sqrt(np.mean(expected**2)), rel=1e-5)
    assert d["min"] <= d["q05"] <= d["q50"] <= d["q95"] <= d["max"]
    assert "values" not in d and len(result.to_dict(values=True)["values"]) == 10
    # Arrays batch themselves; max_samples stops early.
    np.testing.assert_allclose(jacobian_norms(net, x, batch_size=3).norms, expected, rtol=1e-5)
    assert jacobian_norms(net, ds, max_samples=5).norms.shape == (5,)
    raw = jacobian_norms(net, ds, std=0.5)
    np.testing.assert_allclose(raw.norms, expected / 0.5, rtol=1e-5)
    assert raw.wrt == "raw pixels"


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_fgsm_on_a_linear_model_moves_the_logits_by_the_predicted_amount(rng):
    W, b = rng.normal(size=(D, 3)).astype("float32"), rng.normal(size=3).astype("float32")
    net = linear_net(W, b)
    mean, std = (0.5, 0.4), (0.25, 0.5)
    # Raw pixels well inside [0, 1], so that a step of ε = 0.05 never reaches the clip.
    raw = rng.uniform(0.2, 0.8, size=(6, *SHAPE)).astype("float32")
    x = (raw - np.array(mean, np.float32)) / np.array(std, np.float32)
    y = rng.integers(0, 3, size=6)
    eps = 0.05
    adv = fgsm(net, x, y, eps, mean=mean, std=std).numpy()
    # ∇_x CE(Wᵀx + b, y) = W (softmax(f) − e_y), by hand.
    flat = x.reshape(6, D)
    grad = (softmax(flat @ W + b) - np.eye(3)[y]) @ W.T
    step = np.sign(grad).reshape(6, *SHAPE) * (eps / np.array(std, np.float32))
    np.testing.assert_allclose(adv, x + step, atol=1e-6)
    # In raw pixels every value moved by exactly ε.
    adv_raw = adv * np.array(std, np.float32) + np.array(mean, np.float32)
    np.testing.assert_allclose(np.abs(adv_raw - raw), eps, atol=1e-6)
    # The logits move by Wᵀδ exactly (the model is linear), and the loss goes up.
    logits, adv_logits = net(x).numpy(), net(adv).numpy()
    np.testing.assert_allclose(adv_logits - logits, step.reshape(6, D) @ W, atol=1e-4)
    ce = -np.log(softmax(logits)[np.arange(6), y])
    adv_ce = -np.log(softmax(adv_logits)[np.arange(6), y])
    assert np.all(adv_ce > ce)
    # fgsm_accuracy (all ε in one pass, per-channel σ) agrees with attacking ε by ε.
    epsilons = [0.0, 0.05, 0.5]
    curve = fgsm_accuracy(net, (x, y), epsilons, mean=mean, std=std, batch_size=4)
    for e, acc in zip(epsilons, curve.accuracy, strict=True):
        attacked = fgsm(net, x, y, e, mean=mean, std=std)
        assert acc == pytest.approx(np.mean(net(attacked).numpy().argmax(1) == y)), e


def test_fgsm_clips_to_the_valid_pixel_range(rng):
    W, b = rng.normal(size=(D, 3)).astype("float32"), np.zeros(3, "float32")
    mean, std = 0.3, 0.4
    raw = rng.choice([0.0, 0.01, 0.5, 0.99, 1.0], size=(8, *SHAPE)).astype("float32")
    x = (raw - mean) / std
    y = rng.integers(0, 3, size=8)
    adv = fgsm(linear_net(W, b), x, y, 0.2, mean=mean, std=std).numpy()
    low, high = PixelRange((mean,), (std,)).bounds()
    assert adv.min() >= low.numpy()[0] - 1e-6 and adv.max() <= high.numpy()[0] + 1e-6
    adv_raw = adv * std + mean
    assert adv_raw.min() >= -1e-6 and adv_raw.max() <= 1 + 1e-6
    assert np.abs(adv_raw - raw).max() <= 0.2 + 1e-6
    # The pixels at 0 or 1 that were pushed outwards stayed at 0 or 1, and some were.
    assert np.any((raw == 0) & (np.abs(adv_raw) < 1e-6))
    assert np.any((raw == 1) & (np.abs(adv_raw - 1) < 1e-6))


def test_fgsm_accuracy_zero_epsilon_is_clean_and_the_curve_matches_a_numpy_attack(rng):
    # Two classes, f(x) = Wᵀx: the attack lowers the margin (w_y − w_other)·x linearly in ε
    # until pixels clip, so the accuracy can only go down; compute it in NumPy.
    W = rng.normal(size=(D, 2)).astype("float32")
    net = linear_net(W, np.zeros(2, "float32"))
    raw = rng.uniform(0.0, 1.0, size=(200, *SHAPE)).astype("float32")
    flat = raw.reshape(200, D)
    y = (flat @ W).argmax(1)
    flip = rng.random(200) < 0.2  # some wrong labels, so clean accuracy is not 1
    y = np.where(flip, 1 - y, y).astype("int32")
    epsilons = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.3]
    ds = tf.data.Dataset.from_tensor_slices((raw, y)).batch(64)
    curve = fgsm_accuracy(net, ds, epsilons)
    assert isinstance(curve, FGSMCurve) and curve.samples == 200
    clean = np.mean((flat @ W).argmax(1) == y)
    assert curve.clean_accuracy == pytest.approx(clean)
    assert curve.at(0.0) == pytest.approx(clean)
    w_diff = W[:, y].T - W[:, 1 - y].T  # (200, D): w_y − w_other per sample
    for eps, acc in zip(epsilons, curve.accuracy, strict=True):
        adv = np.clip(flat - eps * np.sign(w_diff), 0, 1)
        assert acc == pytest.approx(np.mean(np.sum(w_diff * adv, 1) > 0)), eps
    assert all(a >= b for a, b in zip(curve.accuracy, curve.accuracy[1:], strict=False))
    assert curve.accuracy[-1] < curve.accuracy[0]
    # Arrays and max_samples give the same numbers on the same samples.
    part = fgsm_accuracy(net, (raw, y), epsilons, batch_size=50, max_samples=100)
    assert part.samples == 100
    assert part.accuracy == fgsm_accuracy(net, (raw[:100], y[:100]), epsilons).accuracy
    d = curve.to_dict()
    assert d["epsilons"] == epsilons and len(d["accuracy"]) == len(epsilons)
    with pytest.raises(KeyError, match="not measured"):
        curve.at(0.07)


def test_bad_arguments_name_the_fix(rng):
    net = linear_net(np.ones((D, 2), "float32"), np.zeros(2, "float32"))
    x = np.zeros((2, *SHAPE), "float32")
    with pytest.raises(InputSpecError, match="raw pixel units"):
        fgsm(net, x, [0, 1], 8)
    with pytest.raises(InputSpecError, match="needs labels"):
        fgsm_accuracy(net, tf.data.Dataset.from_tensor_slices(x).batch(2), [0.1])
    with pytest.raises(InputSpecError, match="empty"):
        fgsm_accuracy(net, (x, np.zeros(2)), [])
    with pytest.raises(InputSpecError, match="positive"):
        fgsm(net, x, [0, 1], 0.1, std=0.0)
    with pytest.raises(InputSpecError, match="labels"):
        fgsm_accuracy(net, (x, np.zeros(3)), [0.1])
