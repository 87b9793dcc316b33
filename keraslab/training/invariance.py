"""The invariance penalty: features that do not move under a set of transformations T.

Sokolić, Giryes, Sapiro & Rodrigues (2017, "Generalization error of invariant classifiers",
AISTATS) bound the generalization error of a classifier invariant to a set of transformations
by that of one on the quotient space, smaller by a factor up to √|T|: invariance learned (or
built in) is worth data. The regularizer here asks the features before the classifier to be
invariant,

    R(x) = (1/|T|) Σ_{t ∈ T} ‖φ(t x) − φ(x)‖²   (per sample, batch mean),

where φ is the input of the network's last ``Dense`` layer (the penultimate representation),
or the output of a named layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from keraslab.errors import UnknownNameError
from keraslab.training.penalty import Penalty
from keraslab.training.transforms import (
    ElasticDeformation,
    RandomRotate,
    RandomShift,
    Transform,
    get_transform,
)

__all__ = ["Invariance", "default_invariance_transforms", "feature_extractor"]


def default_invariance_transforms() -> list[Transform]:
    """Small label-preserving changes for digits and clothes: random shifts up to ±2 pixels,
    rotations up to ±10° and elastic deformations of 1 pixel RMS (no flips: a mirrored digit is
    another symbol)."""
    return [RandomShift(2), RandomRotate(10.0), ElasticDeformation(1.0, 4.0)]


def feature_extractor(network: keras.Model, feature_layer: str | None = None) -> keras.Model:
    """A model sharing ``network``'s weights that maps its input to the features φ(x).

    Args:
        network: a functional (or Sequential) Keras model.
        feature_layer: name of the layer whose output is φ. ``None``: the *input* of the last
            ``Dense`` layer in the network's topological order — the penultimate features of
            every keraslab classifier (for LeNet the dropout output, i.e. the 512 dense units
            in inference mode).

    Raises:
        UnknownNameError: no layer of that name.
        ValueError: the network has no symbolic graph, or no ``Dense`` layer to start from.
    """
    try:
        graph = bool(network.inputs) and bool(network.outputs)
    except (AttributeError, ValueError):  # subclassed, or a Sequential not yet built
        graph = False
    if not graph:
        raise ValueError(
            f"{network.name} has no functional graph to take features from; build it with the "
            "functional API or pass the features yourself"
        )
    if feature_layer is not None:
        names = [layer.name for layer in network.layers]
        if feature_layer not in names:
            raise UnknownNameError(
                f"{network.name} has no layer named {feature_layer!r}; its layers: "
                f"{', '.join(names)}"
            )
        features = network.get_layer(feature_layer).output
    else:
        dense = [layer for layer in network.layers if isinstance(layer, keras.layers.Dense)]
        if not dense:
            raise ValueError(
                f"{network.name} has no Dense layer, so the penultimate features are not "
                "defined; pass feature_layer=<name of the layer whose output is φ>"
            )
        features = dense[-1].input
    # A single input as a tensor, not a one-element list: Keras warns when a model built on a
    # list is called with a tensor.
    inputs = network.inputs[0] if len(network.inputs) == 1 else network.inputs
    return keras.Model(inputs, features, name=f"{network.name}_features")


class Invariance(Penalty):
    """Invariance of the penultimate features to transformations (Sokolić et al. 2017,
    "Generalization error of invariant classifiers", AISTATS):

        R(x) = (1/|T|) Σ_{t ∈ T} ‖φ(t x) − φ(x)‖²,   per sample, batch mean.

    φ(x) and every φ(t x) come from one forward pass of the feature extractor on the
    concatenated batch ``[x, t_1 x, …, t_|T| x]``, in inference mode (``training=False``): a
    training-mode pass would update batch-norm moving statistics a second time and compute batch
    statistics over a batch mixing transformed copies. The gradient reaches both φ(t x) and
    φ(x). Random transformations are redrawn every step, so R is then a stochastic estimate of
    E_t ‖φ(t x) − φ(x)‖².

    Note the penalty alone can also be lowered by shrinking φ and scaling up the classifier;
    weight decay on the last layer (or a small weight here) keeps that in check.

    Args:
        weight: the multiplier.
        transforms: the set T — :class:`~keraslab.training.transforms.Transform` objects or
            specs such as ``"shift:2"``, ``"rotate:10"``, ``"flip"``, ``"elastic:1:4"``.
            Default: :func:`default_invariance_transforms`.
        feature_layer: the layer whose output is φ; default: the input of the last Dense
            layer (see :func:`feature_extractor`).
        name: metric name, ``"invariance"`` by default.
    """

    default_name = "invariance"

    def __init__(
        self,
        weight: float = 1.0,
        transforms: Sequence[Transform | str] | None = None,
        feature_layer: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(weight, name)
        if isinstance(transforms, (str, Transform)):
            transforms = [transforms]
        transforms = (
            default_invariance_transforms()
            if transforms is None
            else [get_transform(t) for t in transforms]
        )
        if not transforms:
            raise ValueError("Invariance needs at least one transformation")
        self.transforms = transforms
        self.feature_layer = feature_layer
        # One extractor per network (keyed by id): built on the first call, which may be while
        # tracing the train step — it creates no variables, only a view of the network's graph.
        self._extractors: dict[int, keras.Model] = {}

    def features(self, network: keras.Model) -> keras.Model:
        """The feature extractor φ for ``network`` (cached)."""
        key = id(network)
        if key not in self._extractors:
            self._extractors[key] = feature_extractor(network, self.feature_layer)
        return self._extractors[key]

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        x = tf.convert_to_tensor(x)
        phi = self.features(network)
        batch = [x] + [tf.cast(t(x), x.dtype) for t in self.transforms]
        feats = tf.cast(phi(tf.concat(batch, axis=0), training=False), tf.float32)
        feats = tf.reshape(feats, tf.concat([[len(batch), tf.shape(x)[0]], [-1]], axis=0))
        diff = feats[1:] - feats[:1]  # (|T|, B, features)
        per_sample = tf.reduce_mean(tf.reduce_sum(tf.square(diff), axis=-1), axis=0)
        return tf.reduce_mean(per_sample)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "transforms": [keras.saving.serialize_keras_object(t) for t in self.transforms],
            "feature_layer": self.feature_layer,
        }
