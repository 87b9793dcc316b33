"""The one training step of keraslab.

:class:`TrainingModel` wraps any Keras network and overrides ``train_step``: the forward pass
runs under ``tf.GradientTape``, the configured penalties are added to the compiled loss, and the
gradients of the sum are applied. Because it is an ordinary ``keras.Model``, ``model.fit``,
callbacks, ``jit_compile``, mixed precision and ``tf.distribute`` strategies work unchanged.
The wrapped network stays a plain model: that is what gets exported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from keraslab.training import second_order
from keraslab.training.penalty import Penalty


def _replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


class TrainingModel(keras.Model):
    """A network plus training-only penalties, trained by one ``GradientTape`` step.

    The step minimises L = ℓ(f(x), y) + Σ_k w_k R_k(f, x, y), where ℓ is the compiled loss and
    (w_k, R_k) the penalties. Each R_k is logged as a metric under its name.

    Args:
        network: the model to train (maps inputs to predictions).
        penalties: :class:`~keraslab.training.penalty.Penalty` instances (may be empty).
        skip_zero_second_derivatives: compute gradients without the identically zero second
            derivatives of ReLU and max-pooling (:mod:`keraslab.training.second_order`): the
            same numbers, less work. ``False`` uses TensorFlow's stock gradients (for
            comparison).

    Example:
        >>> from keraslab.models import lenet
        >>> net = lenet()
        >>> model = TrainingModel(net, penalties=[WeightDecay(1e-4)])
        >>> model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
        ...     from_logits=True), metrics=["accuracy"])
        >>> model.fit(train_ds, epochs=1)   # then export `net`, not `model`
    """

    def __init__(
        self,
        network: keras.Model,
        penalties: Sequence[Penalty] = (),
        *,
        skip_zero_second_derivatives: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", f"{network.name}_training"), **kwargs)
        penalties = list(penalties)
        for p in penalties:
            if not isinstance(p, Penalty):
                raise TypeError(f"penalties must be Penalty instances, got {type(p).__name__}")
        names = [p.name for p in penalties]
        if len(set(names)) != len(names):
            raise ValueError(f"penalty names must be unique (they name metrics), got {names}")
        clash = set(names) & {"loss", "accuracy", "compile_metrics"}
        if clash:
            raise ValueError(f"penalty names {sorted(clash)} are taken by Keras metrics; rename")
        self.network = network
        self.penalties = penalties
        self.skip_zero_second_derivatives = bool(skip_zero_second_derivatives)
        # Mean trackers are model attributes, so Keras tracks them and reports them with the
        # compiled metrics, resets them each epoch and reduces them across replicas.
        self.penalty_trackers = [keras.metrics.Mean(name=p.name) for p in penalties]
        if network.built:
            # Functional networks are built at construction; saying so lets callbacks such as
            # BackupAndRestore load weights before the first batch.
            self.built = True

    def build(self, input_shape: Any) -> None:
        if not self.network.built:
            self.network.build(input_shape)
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.network(inputs, training=training)

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
            )
            for penalty, tracker in zip(self.penalties, self.penalty_trackers, strict=True):
                value = tf.cast(penalty.value(self.network, x, y, y_pred), loss.dtype)
                tracker.update_state(value)
                # compute_loss already divided the data loss by the replica count (gradients
                # are summed across replicas); the penalty must be scaled the same way.
                loss = loss + penalty.weight * value / _replicas()
            self._loss_tracker.update_state(
                loss * _replicas(), sample_weight=tf.shape(tf.nest.flatten(x)[0])[0]
            )
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        # Penalties on input derivatives make this a double backprop; ReLU and max-pooling
        # contribute only zeros to its second-order part (see keraslab.training.second_order).
        skipping = self.skip_zero_second_derivatives
        with second_order.skip_zero_second_derivatives() if skipping else contextlib.nullcontext():
            gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data: Any) -> dict[str, Any]:
        # Penalties are training-only; their trackers would otherwise report a stale 0 as
        # "val_<penalty>".
        names = {p.name for p in self.penalties}
        return {k: v for k, v in super().test_step(data).items() if k not in names}


__all__ = ["TrainingModel"]
