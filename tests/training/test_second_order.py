"""skip_zero_second_derivatives: same gradients, less work, registry restored."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops

from keraslab.models import lenet
from keraslab.training.jacobian import JacobianFrobenius
from keraslab.training.second_order import is_supported, skip_zero_second_derivatives


def _net() -> keras.Model:
    keras.utils.set_random_seed(3)
    return lenet()


def _penalty_gradients(net, x, y=None):
    penalty = JacobianFrobenius(1.0)  # exact: deterministic
    with tf.GradientTape() as tape:
        value = penalty.value(net, x, None, None)
        if y is not None:
            value += tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, net(x), from_logits=True)
            )
    return tape.gradient(value, net.trainable_variables)


def test_this_tensorflow_supports_the_swap():
    # The pinned TensorFlow must keep the private registry layout the module relies on;
    # otherwise the penalties silently lose their speed-up.
    assert is_supported()


def test_gradients_are_the_same_numbers_and_pattern_only_paths_become_none():
    net = _net()
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 28, 28, 1)), tf.float32)
    y = tf.constant([0, 3, 7, 9])
    reference = _penalty_gradients(net, x, y)
    with skip_zero_second_derivatives():
        skipped = _penalty_gradients(net, x, y)
    for variable, want, got in zip(net.trainable_variables, reference, skipped, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=variable.path)

    # The penalty alone does not depend on the biases (ReLU masks and max-pool argmaxes aside):
    # TensorFlow computes exact zeros for them, the skipping version no gradient at all.
    paths = [v.path for v in net.trainable_variables]
    plain = dict(zip(paths, _penalty_gradients(net, x), strict=True))
    with skip_zero_second_derivatives():
        skipped = dict(zip(paths, _penalty_gradients(net, x), strict=True))
    for path in ("conv1/bias", "conv2/bias", "dense/bias"):
        assert plain[path] is not None and not np.any(plain[path].numpy())
        assert skipped[path] is None
    for path in ("conv1/kernel", "conv2/kernel", "dense/kernel", "logits/kernel"):
        np.testing.assert_allclose(skipped[path], plain[path], rtol=1e-6, atol=1e-9)
        assert np.any(skipped[path].numpy())


def _count_ops(net, x, skip: bool) -> dict[str, int]:
    @tf.function
    def gradients(x):
        if skip:
            with skip_zero_second_derivatives():
                return _penalty_gradients(net, x)
        return _penalty_gradients(net, x)

    graph = gradients.get_concrete_function(x).graph
    counts: dict[str, int] = {}
    for op in graph.get_operations():
        counts[op.type] = counts.get(op.type, 0) + 1
    return counts


def test_the_traced_double_backprop_does_less_work():
    net = _net()
    x = tf.TensorSpec((None, 28, 28, 1), tf.float32)
    full, skipped = _count_ops(net, x, skip=False), _count_ops(net, x, skip=True)
    # Without the swap, zeros flow back through the penalty's forward convolutions: each of the
    # two conv layers gets filter gradients for the zero path as well.
    assert skipped["Conv2DBackpropFilter"] < full["Conv2DBackpropFilter"]
    assert sum(skipped.values()) < sum(full.values())


def test_the_registry_is_restored_even_after_an_error_and_when_nested():
    before = {name: ops._gradient_registry.lookup(name) for name in ("ReluGrad", "MaxPoolGrad")}
    with pytest.raises(RuntimeError, match="boom"), skip_zero_second_derivatives():
        with skip_zero_second_derivatives():
            assert ops._gradient_registry.lookup("ReluGrad") is not before["ReluGrad"]
        assert ops._gradient_registry.lookup("ReluGrad") is not before["ReluGrad"]
        raise RuntimeError("boom")
    for name, function in before.items():
        assert ops._gradient_registry.lookup(name) is function
