"""The layer-contract helper (tests/layer_contract.py) passes a layer that keeps the contract and
fails each way a layer can break it — otherwise the tests that use it could not fail."""

import keras
import numpy as np
import pytest

from layer_contract import check_layer_contract

BATCH = np.random.default_rng(0).standard_normal((4, 6)).astype("float32")


@keras.saving.register_keras_serializable(package="contract_test")
class Scale(keras.layers.Layer):
    """y = w ⊙ x · factor: one weight and one config argument."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=input_shape[-1:], initializer="ones")

    def call(self, x):
        return x * self.w * self.factor

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="contract_test")
class ForgetsItsFactor(Scale):
    def get_config(self):
        config = super().get_config()
        del config["factor"]
        return config


@keras.saving.register_keras_serializable(package="contract_test")
class WrongOutputShape(Scale):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


@keras.saving.register_keras_serializable(package="contract_test")
class MixesTheBatch(Scale):
    def call(self, x):
        return super().call(x) - keras.ops.mean(x, axis=0)


class Unregistered(Scale):
    pass


Unregistered.__module__ = "keraslab.layers.example"  # a keraslab class must be registered


def test_a_layer_that_keeps_the_contract_passes(tmp_path):
    result = check_layer_contract(lambda: Scale(3.0, name="scale"), BATCH, directory=tmp_path)
    assert result.loaded.factor == 3.0
    # The weight was moved off its initialisation (ones) before the round trips compared it.
    assert not np.allclose(result.layer.w.numpy(), 1.0)
    np.testing.assert_allclose(result.outputs, BATCH * result.layer.w.numpy() * 3.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (ForgetsItsFactor, "from_config with the same weights"),
        (WrongOutputShape, r"\(4, 7\)"),  # computed (None, 7), called (4, 6)
        (MixesTheBatch, "batch 1"),
        (Unregistered, "Unregistered"),
    ],
)
def test_each_broken_contract_fails(cls, message, tmp_path):
    with pytest.raises(AssertionError, match=message):
        check_layer_contract(lambda: cls(3.0), BATCH, directory=tmp_path)
