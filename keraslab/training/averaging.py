"""Test-time averaging over transformations: predict on T x for every t ∈ T and average.

Dieleman, De Fauw & Kavukcuoglu (2016, "Exploiting cyclic symmetry in convolutional neural
networks", ICML) average the predictions of one network over rotated and flipped copies of the
input, which makes the prediction exactly invariant to the group and typically lowers the error.
:func:`with_test_time_averaging` wraps any network into a plain functional Keras model doing that:

    inputs ──► TransformStack(T) ──► network ──► TransformAverage ──► logits

It saves and loads as ``.keras`` (both layers are registered and serializable) and exports like
any zoo model. Its output is logits, so ``softmax`` of it is the averaged prediction:

* ``average="probabilities"`` (default): log((1/|T|) Σ_t softmax(f(t x))), whose softmax is the
  mean of the probabilities (Dieleman et al.'s averaging);
* ``average="logits"``: (1/|T|) Σ_t f(t x).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from keraslab.ops.validate import integer, one_of
from keraslab.training.transforms import Identity, Shift, Transform, get_transform

__all__ = [
    "TransformAverage",
    "TransformStack",
    "default_averaging_transforms",
    "with_test_time_averaging",
]

_AVERAGES = ("probabilities", "logits")


def _as_transform(t: Transform | str | dict[str, Any]) -> Transform:
    if isinstance(t, dict):
        return keras.saving.deserialize_keras_object(t)
    return get_transform(t)


@keras.saving.register_keras_serializable(package="keraslab")
class TransformStack(keras.layers.Layer):
    """Stacks the transformed copies of a batch along the batch axis:
    ``(B, H, W, C) -> (|T|·B, H, W, C)``, copy k first ``B`` rows of ``t_k x`` in order.

    Args:
        transforms: the transformations T (:class:`~keraslab.training.transforms.Transform`
            or specs such as ``"flip"``); include :class:`Identity` to keep the original.
    """

    def __init__(self, transforms: Sequence[Transform | str | dict[str, Any]], **kwargs: Any):
        super().__init__(**kwargs)
        self.transforms = [_as_transform(t) for t in transforms]
        if not self.transforms:
            raise ValueError("TransformStack needs at least one transformation")

    def call(self, images: Any) -> Any:
        return tf.concat([t(images) for t in self.transforms], axis=0)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        batch = None if input_shape[0] is None else input_shape[0] * len(self.transforms)
        return (batch, *input_shape[1:])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "transforms": [keras.saving.serialize_keras_object(t) for t in self.transforms],
        }


@keras.saving.register_keras_serializable(package="keraslab")
class TransformAverage(keras.layers.Layer):
    """Averages ``(n·B, classes)`` outputs of n transformed copies back to ``(B, classes)``.

    ``average="probabilities"`` returns log((1/n) Σ_k softmax(z_k)) (logits of the mean
    probability, computed as a log-sum-exp of log-softmaxes for stability); ``"logits"`` returns
    (1/n) Σ_k z_k. Computes in float32 whatever the dtype policy.
    """

    def __init__(self, num_transforms: int, average: str = "probabilities", **kwargs: Any):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_transforms = integer(num_transforms, "num_transforms", 1)
        self.average = one_of(average, "average", _AVERAGES)

    def call(self, outputs: Any) -> Any:
        z = tf.cast(outputs, tf.float32)
        z = tf.reshape(z, tf.concat([[self.num_transforms, -1], tf.shape(z)[1:]], axis=0))
        if self.average == "logits":
            return tf.reduce_mean(z, axis=0)
        return tf.reduce_logsumexp(tf.nn.log_softmax(z, axis=-1), axis=0) - math.log(
            self.num_transforms
        )

    def compute_output_shape(self, input_shape: Any) -> tuple:
        batch = None if input_shape[0] is None else input_shape[0] // self.num_transforms
        return (batch, *input_shape[1:])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_transforms": self.num_transforms,
            "average": self.average,
        }


def default_averaging_transforms() -> list[Transform]:
    """The original and its four one-pixel shifts."""
    return [Identity(), Shift(1, 0), Shift(-1, 0), Shift(0, 1), Shift(0, -1)]


def with_test_time_averaging(
    network: keras.Model,
    transforms: Sequence[Transform | str] | None = None,
    *,
    average: str = "probabilities",
    name: str | None = None,
) -> keras.Model:
    """Wrap ``network`` (images → logits) into a model that averages over transformations
    (Dieleman, De Fauw & Kavukcuoglu 2016, "Exploiting cyclic symmetry in convolutional neural
    networks").

    Args:
        network: a built model with one image input and logits output; its weights are shared,
            not copied.
        transforms: the set T; default :func:`default_averaging_transforms` (identity and four
            one-pixel shifts). Use deterministic transforms: random ones make predictions random.
        average: ``"probabilities"`` (output: logits of the mean probability) or ``"logits"``.
        name: model name (default ``<network>_tta``).

    Returns:
        A functional ``keras.Model`` with the network's input shape and output ``(B, classes)``.

    Example:
        >>> from keraslab.training.transforms import Identity, Rotate, FlipLeftRight
        >>> tta = with_test_time_averaging(net, [Identity(), Rotate(90), Rotate(180), Rotate(270)])
        >>> tta.predict(images)           # invariant to rotations by multiples of 90°
    """
    transforms = default_averaging_transforms() if transforms is None else list(transforms)
    one_of(average, "average", _AVERAGES)
    if not getattr(network, "inputs", None) or len(network.inputs) != 1:
        raise ValueError(f"{network.name} must be a built model with one input")
    inputs = keras.Input(network.inputs[0].shape[1:], name=network.inputs[0].name)
    stacked = TransformStack(transforms, name="transforms")(inputs)
    outputs = TransformAverage(len(transforms), average, name="average")(network(stacked))
    return keras.Model(inputs, outputs, name=name or f"{network.name}_tta")
