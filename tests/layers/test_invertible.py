"""Invertible layers (ψ, injective padding, the i-RevNet block) and memory-free backprop: exact
inverses, Keras contracts (config, shapes, dynamic batch, tf.function / XLA), batch-norm
statistics, gradients by reconstruction against ordinary backprop, and error messages."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.layers.invertible import (
    InjectivePad,
    InvertibleDownsampling,
    IRevNetBlock,
    space_to_depth,
)
from keraslab.layers.memory_free import memory_free_sequence

from layer_contract import check_layer_contract


def images(shape=(3, 8, 8, 8), seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def relative_error(a, b):
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return np.abs(a - b).max() / np.abs(b).max()


def trained_block(stride=1, first=False, shape=(3, 8, 8, 8), **kwargs):
    """A block whose batch-norm parameters and moving statistics are not at their init."""
    block = IRevNetBlock(stride=stride, first=first, **kwargs)
    block.build(shape)
    rng = np.random.default_rng(7)
    for v in block.weights:
        if "gamma" in v.path or "moving_variance" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape))
        elif "beta" in v.path or "moving_mean" in v.path:
            v.assign(rng.uniform(-0.5, 0.5, v.shape))
    return block


# --------------------------------------------------------------------------- ψ and padding


def test_space_to_depth_channel_order_and_exact_inverse():
    x = images((2, 6, 4, 3))
    psi = InvertibleDownsampling(2)
    y = psi(x).numpy()
    assert y.shape == (2, 3, 2, 12)
    for p in range(2):
        for q in range(2):
            # ψ(x)[b, i, j, (p·2 + q)·C + c] = x[b, 2i + p, 2j + q, c]
            np.testing.assert_array_equal(
                y[..., (2 * p + q) * 3 : (2 * p + q + 1) * 3], x[:, p::2, q::2]
            )
    np.testing.assert_array_equal(psi.inverse(y), x)
    np.testing.assert_array_equal(psi(psi.inverse(y)), y)
    np.testing.assert_array_equal(
        InvertibleDownsampling(3).inverse(space_to_depth(x[:, :6, :3], 3)), x[:, :6, :3]
    )


@pytest.mark.parametrize("position", ["start", "end"])
def test_injective_pad_and_its_left_inverse(position):
    x = images((3, 4, 4, 3))
    pad = InjectivePad(5, position=position)
    y = pad(x).numpy()
    assert y.shape == (3, 4, 4, 8) == pad.compute_output_shape((3, 4, 4, 3))
    zeros, data = (y[..., :5], y[..., 5:]) if position == "start" else (y[..., 3:], y[..., :3])
    assert not zeros.any()
    np.testing.assert_array_equal(data, x)
    np.testing.assert_array_equal(pad.inverse(y), x)


# --------------------------------------------------------------------------- the block


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(("stride", "first"), [(1, True), (1, False), (2, False)])
@pytest.mark.parametrize("batch", [1, 3])
def test_block_inverse(stride, first, training, batch):
    block = trained_block(stride, first)
    x = images((batch, 8, 8, 8))
    y = block(x, training=training)
    assert y.shape == (batch, 8 // stride, 8 // stride, 8 * stride**2)
    assert relative_error(block.inverse(y, training=training), x) <= 1e-5


def test_block_algebra_matches_the_paper():
    """y = [ψ x2, F(x2) + ψ x1] for stride 2 (Jacobsen et al. 2018, eq. 1)."""
    block = trained_block(stride=2)
    x = images()
    x1, x2 = x[..., :4], x[..., 4:]
    y = block(x, training=False).numpy()
    fx2 = block.bottleneck(tf.constant(x2), training=False).numpy()
    np.testing.assert_array_equal(y[..., :16], space_to_depth(x2))
    np.testing.assert_allclose(y[..., 16:], fx2 + space_to_depth(x1), rtol=1e-6, atol=1e-6)
    # The first block's F has no leading BN-ReLU.
    first = IRevNetBlock(first=True)
    first.build((None, 8, 8, 8))
    assert not any("bn0" in v.path for v in first.weights)
    assert sum("bn0" in v.path for v in block.weights) == 4


def test_dropout_inverse_is_exact_with_the_same_seed():
    block = trained_block(dropout=0.5)
    x = images()
    seed = block.draw_seed(training=True)
    y = block(x, training=True, seed=seed)
    assert relative_error(block.inverse(y, training=True, seed=seed), x) <= 1e-5
    assert block.draw_seed(training=False) is None
    assert IRevNetBlock().draw_seed(training=True) is None


def test_batch_norm_statistics_updated_by_training_forward_only():
    block = trained_block()
    x = images()
    before = [v.numpy().copy() for v in block.non_trainable_weights]

    def unchanged():
        return all(
            np.array_equal(a, v) for a, v in zip(before, block.non_trainable_weights, strict=True)
        )

    y = block(x, training=False)
    block(x, training=True, update_statistics=False)
    block.inverse(y, training=True)
    block.inverse(y, training=False)
    assert unchanged()
    block(x, training=True)
    assert not unchanged()


def test_batch_norm_matches_keras_batch_normalization():
    """The block's own batch norm (fused kernel) is Keras's: same output, same moving stats."""
    block = trained_block(first=False)
    reference = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    reference.build((None, 8, 8, 4))
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        getattr(reference, name).assign(getattr(block, f"bn0_{name}"))
    h = tf.constant(images()[..., 4:])
    for training in (False, True):
        ours = block._batch_norm(h, 0, training, update_statistics=True)
        np.testing.assert_allclose(ours, reference(h, training=training), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(block.bn0_moving_mean, reference.moving_mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        block.bn0_moving_variance, reference.moving_variance, rtol=1e-6, atol=1e-7
    )


def functional_stack():
    inputs = keras.Input((8, 8, 2))
    x = InvertibleDownsampling(name="psi")(inputs)
    x = InjectivePad(8, name="pad")(x)
    x = IRevNetBlock(first=True, name="b1")(x)
    outputs = IRevNetBlock(stride=2, name="b2")(x)
    return keras.Model(inputs, outputs, name="stack")


@pytest.mark.parametrize(
    ("make", "shape", "output_shape"),
    [
        (InvertibleDownsampling, (3, 6, 4, 3), (None, 3, 2, 12)),
        (lambda: InjectivePad(3, position="end"), (3, 4, 4, 3), (None, 4, 4, 6)),
        (lambda: IRevNetBlock(first=True), (3, 8, 8, 8), (None, 8, 8, 8)),
        (
            lambda: IRevNetBlock(
                stride=2,
                bottleneck_ratio=2,
                dropout=0.1,
                bn_momentum=0.8,
                kernel_initializer="he_normal",
            ),
            (3, 8, 6, 10),
            (None, 4, 3, 40),
        ),
        (functional_stack, (3, 8, 8, 2), (None, 2, 2, 64)),
    ],
    ids=["psi", "pad", "first-block", "stride-2-block", "functional-stack"],
)
def test_keras_contract(make, shape, output_shape, tmp_path):
    """Registration, config / .keras round trips, compute_output_shape, dynamic batch and
    tf.function, for each layer and for a functional model of them (tests/layer_contract.py)."""
    result = check_layer_contract(make, images(shape), directory=tmp_path)
    assert result.model.output_shape == output_shape


def test_compute_output_shape_with_unknown_sizes():
    assert InvertibleDownsampling(2).compute_output_shape((None, None, 6, 3)) == (None, None, 3, 12)
    assert IRevNetBlock(stride=2).compute_output_shape((None, 8, 6, 10)) == (None, 4, 3, 40)


@pytest.mark.parametrize("jit", [False, True])
def test_tf_function_and_xla_equal_eager(jit):
    block = trained_block(stride=2)
    x = tf.constant(images())
    for training in (False, True):
        forward = tf.function(
            lambda t, training=training: block(t, training=training, update_statistics=False),
            jit_compile=jit,
        )
        inverse = tf.function(
            lambda t, training=training: block.inverse(t, training=training), jit_compile=jit
        )
        y = forward(x)
        np.testing.assert_allclose(
            y, block(x, training=training, update_statistics=False), rtol=1e-5, atol=1e-5
        )
        assert relative_error(inverse(y), x) <= 1e-5


# --------------------------------------------------------------------------- memory-free backprop


def stack(dtype="float32", dropout=0.0):
    layers = [
        InvertibleDownsampling(dtype=dtype),
        InjectivePad(8, dtype=dtype),
        IRevNetBlock(first=True, dropout=dropout, dtype=dtype),
        IRevNetBlock(dropout=dropout, dtype=dtype),
        IRevNetBlock(stride=2, dropout=dropout, dtype=dtype),
    ]
    shape = (3, 8, 8, 2)
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    rng = np.random.default_rng(3)
    for layer in layers:
        for v in layer.weights:
            if "beta" in v.path or "moving_mean" in v.path:
                v.assign(rng.uniform(-0.5, 0.5, v.shape))
            elif "gamma" in v.path or "moving_variance" in v.path:
                v.assign(rng.uniform(0.5, 1.5, v.shape))
    return layers


def gradients(layers, x, training, memory_free, jit=None):
    weights = [v for layer in layers for v in layer.trainable_variables]
    target = tf.constant(images((3, 2, 2, 64), seed=9, dtype=x.dtype))

    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            if memory_free:
                z = memory_free_sequence(layers, x, training=training)
            else:
                z = x
                for layer in layers:
                    z = layer(z, training=training)
            loss = tf.reduce_sum(tf.sin(z) * target)
        return tape.gradient(loss, [x, *weights])

    if jit is not None:
        run = tf.function(run, jit_compile=jit)
    return [g.numpy() for g in run(tf.constant(x))]


def assert_gradients_match(ordinary, memory_free, tolerance):
    scale = max(np.abs(g).max() for g in ordinary)
    for a, b in zip(memory_free, ordinary, strict=True):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance * scale)


@pytest.mark.parametrize(
    ("training", "mode"),
    # XLA compiles slowly on 2 cores (slow tier); the training-mode case has more to get wrong.
    [
        (False, None),
        (False, False),
        (True, None),
        (True, False),
        pytest.param(True, True, marks=pytest.mark.slow),
    ],
    ids=["inference-eager", "inference-graph", "training-eager", "training-graph", "training-xla"],
)
def test_memory_free_gradients_equal_ordinary_backprop(training, mode):
    layers = stack()
    x = images((3, 8, 8, 2))
    stats = [v for layer in layers for v in layer.non_trainable_variables]
    initial = [v.numpy() for v in stats]
    ordinary = gradients(layers, x, training, memory_free=False, jit=mode)
    updated = [v.numpy() for v in stats]
    for v, value in zip(stats, initial, strict=True):
        v.assign(value)
    reconstructed = gradients(layers, x, training, memory_free=True, jit=mode)
    assert all(g is not None for g in reconstructed)
    assert_gradients_match(ordinary, reconstructed, 1e-4)
    # Moving statistics: updated once, by the forward pass, exactly as ordinary backprop does.
    for v, value in zip(stats, updated, strict=True):
        np.testing.assert_allclose(v.numpy(), value, rtol=1e-6, atol=1e-7)


def test_memory_free_gradients_in_float64_agree_to_round_off():
    layers = stack("float64")
    x = images((3, 8, 8, 2), dtype="float64")
    for training in (False, True):
        ordinary = gradients(layers, x, training, memory_free=False)
        assert_gradients_match(ordinary, gradients(layers, x, training, memory_free=True), 1e-10)


def test_memory_free_reuses_the_dropout_masks_of_its_forward_pass():
    layers = stack(dropout=0.3)
    x = images((3, 8, 8, 2))
    generators = [
        layer.seed_generator.state for layer in layers if getattr(layer, "seed_generator", None)
    ]
    start = [g.numpy() for g in generators]
    ordinary = gradients(layers, x, True, memory_free=False)
    for g, value in zip(generators, start, strict=True):
        g.assign(value)
    assert_gradients_match(ordinary, gradients(layers, x, True, memory_free=True), 1e-4)


def test_memory_free_under_mirrored_strategy(mirrored_strategy):
    x = images((4, 8, 8, 2))
    with mirrored_strategy.scope():
        layers = stack()
    weights = [v for layer in layers for v in layer.trainable_variables]

    @tf.function
    def replica_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(memory_free_sequence(layers, x, training=True)))
        return tape.gradient(loss, weights)

    halves = mirrored_strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(x[2 * ctx.replica_id_in_sync_group :][:2])
    )
    per_replica = mirrored_strategy.run(replica_step, args=(halves,))
    for replica, half in enumerate((x[:2], x[2:])):
        with tf.GradientTape() as tape:
            z = tf.constant(half)
            for layer in layers:
                z = layer(z, training=True, update_statistics=False)
            loss = tf.reduce_sum(tf.sin(z))
        expected = tape.gradient(loss, weights)
        got = [mirrored_strategy.experimental_local_results(g)[replica] for g in per_replica]
        assert_gradients_match([e.numpy() for e in expected], [g.numpy() for g in got], 1e-4)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "shape", "message"),
    [
        (
            lambda: InvertibleDownsampling(2),
            (None, 7, 8, 1),
            r"height to be a multiple of 2, got height 7.*Pad or crop.*\(e\.g\. 8\)",
        ),
        (lambda: InvertibleDownsampling(2), (None, 8, 8), "rank 3"),
        (lambda: IRevNetBlock(), (None, 8, 8, 3), r"even number of channels, got 3.*InjectivePad"),
        (lambda: IRevNetBlock(stride=2), (None, 8, 5, 4), r"even width, got 5.*Pad or crop"),
        (
            lambda: IRevNetBlock(bottleneck_ratio=8),
            (None, 8, 8, 6),
            r"bottleneck width 3 // bottleneck_ratio 8 is 0.*bottleneck_ratio <= 3",
        ),
    ],
)
def test_bad_shapes_name_the_fix(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make().build(shape)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: InvertibleDownsampling(1), "block_size must be an integer >= 2"),
        (lambda: InjectivePad(0), "pad must be an integer >= 1"),
        (lambda: InjectivePad(2, position="middle"), "position must be 'start' or 'end'"),
        (lambda: IRevNetBlock(stride=3), "stride must be 1 or 2"),
        (lambda: IRevNetBlock(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (lambda: IRevNetBlock(bottleneck_ratio=0), "bottleneck_ratio must be an integer >= 1"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
