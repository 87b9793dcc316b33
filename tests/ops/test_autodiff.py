"""keraslab.ops.autodiff: the batched input VJPs/JVPs and the exact Jacobian against
``tf.GradientTape.batch_jacobian``, on a small nonlinear network."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.ops import input_jacobian, input_jvp, input_vjp, num_outputs, per_sample_sum


def network(classes=3):
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((5, 4, 2)),
            keras.layers.Conv2D(3, 3, activation="tanh"),
            keras.layers.Flatten(),
            keras.layers.Dense(classes),
        ]
    )


def inputs(batch=4):
    return tf.constant(np.random.default_rng(0).normal(size=(batch, 5, 4, 2)), tf.float32)


def tape_jacobian(net, x):
    """(B, C, ...) by TensorFlow's own per-example Jacobian."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = net(x, training=False)
    return tape.batch_jacobian(y, x).numpy()


def test_exact_jacobian_equals_the_tapes():
    net, x = network(), inputs()
    rows = input_jacobian(net, x).numpy()  # (C, B, ...)
    assert rows.shape == (3, 4, 5, 4, 2)
    np.testing.assert_allclose(np.moveaxis(rows, 0, 1), tape_jacobian(net, x), rtol=1e-5, atol=1e-6)
    # C given by the caller gives the same rows.
    np.testing.assert_array_equal(input_jacobian(net, x, 3).numpy(), rows)


def test_vjp_and_jvp_are_products_with_the_jacobian():
    net, x = network(), inputs()
    jac = tape_jacobian(net, x).reshape(4, 3, -1)  # (B, C, D)
    rng = np.random.default_rng(2)
    v = rng.normal(size=(2, 4, 3)).astype("float32")
    got = input_vjp(net, x, tf.constant(v)).numpy().reshape(2, 4, -1)
    np.testing.assert_allclose(got, np.einsum("kbc,bcd->kbd", v, jac), rtol=1e-5, atol=1e-6)
    u = rng.normal(size=(4, 5, 4, 2)).astype("float32")
    np.testing.assert_allclose(
        input_jvp(net, x, tf.constant(u)).numpy(),
        np.einsum("bcd,bd->bc", jac, u.reshape(4, -1)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_vjp_direction_from_the_outputs_is_held_constant():
    net, x = network(), inputs()
    jac = tape_jacobian(net, x).reshape(4, 3, -1)
    p = tf.nn.softmax(net(x)).numpy()
    got = input_vjp(net, x, lambda y: tf.nn.softmax(y))[0].numpy().reshape(4, -1)
    # Σ_c p_c ∇f_c: no term from differentiating the softmax itself.
    np.testing.assert_allclose(got, np.einsum("bc,bcd->bd", p, jac), rtol=1e-5, atol=1e-6)


def test_helpers_and_their_errors():
    np.testing.assert_array_equal(per_sample_sum(tf.ones([2, 3, 4])).numpy(), [12.0, 12.0])
    assert num_outputs(network(7), inputs()) == 7
    two = keras.Input((3,))
    twice = keras.Model(two, [keras.layers.Dense(2)(two), keras.layers.Dense(2)(two)])
    with pytest.raises(ValueError, match="single-output network"):
        num_outputs(twice, tf.zeros([1, 3]))
    flat = keras.Sequential([keras.Input((3,)), keras.layers.Reshape((3, 1))])
    with pytest.raises(ValueError, match=r"outputs of shape \(batch, classes\)"):
        num_outputs(flat, tf.zeros([1, 3]))
