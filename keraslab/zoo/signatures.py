"""Model-specific serving signatures of zoo exports (beyond the raw-pixel ``serving_default``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from keraslab import models

__all__ = ["serving_signatures"]


def serving_signatures(
    model: keras.Model, preprocessing: Any
) -> dict[str, tuple[Callable[..., Any], Sequence[Any]]]:
    """Model-specific serving signatures for :func:`keraslab.export.saved_model`.

    ``scattering`` (models with a layer named ``"scattering"``): raw uint8 ``image`` →
    ``scattering``, the coefficients S_J x of the normalized image, channels-last.

    ``features`` and ``inverse`` (:class:`~keraslab.models.IRevNet`): raw uint8 ``image`` →
    ``features``, the invertible representation Φ(x) of the normalized image; and
    ``features`` → ``image``, Φ⁻¹ mapped back to raw pixels (float32, 0–255, not rounded), so
    ``inverse(features(x)) ≈ x`` holds for a TF Serving client as it does in Keras.

    Each signature's inputs are named after an earlier signature's output (or ``image``), which
    is how ``keraslab export`` chains them when it verifies the export.
    """
    import tensorflow as tf

    names = {layer.name for layer in model.layers}
    signatures: dict[str, tuple[Callable[..., Any], Sequence[Any]]] = {}
    image_spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.uint8, name="image")
    if isinstance(model, models.IRevNet):
        feature_spec = tf.TensorSpec((None, *model.feature_shape), tf.float32, name="features")

        def features(image: Any) -> dict[str, Any]:
            x = preprocessing.apply(tf.cast(image, tf.float32))
            return {"features": tf.cast(model.features(x, training=False), tf.float32)}

        def inverse(features: Any) -> dict[str, Any]:
            x = tf.cast(model.inverse(features, training=False), tf.float32)
            return {"image": preprocessing.restore(x)}

        signatures["features"] = (features, [image_spec])
        signatures["inverse"] = (inverse, [feature_spec])
    if "scattering" in names:
        front = keras.Model(model.input, model.get_layer("scattering").output)

        def scattering(image: Any) -> dict[str, Any]:
            return {"scattering": front(preprocessing.apply(tf.cast(image, tf.float32)))}

        signatures["scattering"] = (scattering, [image_spec])
    return signatures
