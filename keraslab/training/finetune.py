"""Post-training Jacobian regularization: fine-tune a trained network with a Jacobian penalty.

Jakubovitz & Giryes (2018, "Improving DNN robustness to adversarial attacks using Jacobian
regularization", ECCV) show that a few epochs of fine-tuning an already trained classifier with

    L(θ) = CE(f_θ(x), y) + λ · ‖J_f(x)‖_F²,

at a low learning rate, raise its robustness to adversarial perturbations (DeepFool, FGSM, JSMA)
at almost no cost in clean accuracy — without training from scratch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import keras
import tensorflow as tf

from keraslab.ops.validate import integer, number
from keraslab.training.jacobian import JacobianFrobenius
from keraslab.training.semisupervised import MaskedSparseCategoricalCrossentropy
from keraslab.training.step import TrainingModel

__all__ = ["jacobian_finetune"]


def jacobian_finetune(
    network: keras.Model,
    dataset: tf.data.Dataset,
    weight: float,
    epochs: int = 1,
    *,
    learning_rate: float = 1e-3,
    momentum: float = 0.9,
    projections: int | None = None,
    validation_data: tf.data.Dataset | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    strategy: tf.distribute.Strategy | None = None,
    jit_compile: bool | str = "auto",
    verbose: int | str = 0,
) -> keras.callbacks.History:
    """Fine-tune a trained ``network`` in place with cross-entropy + λ‖J_f(x)‖_F² (Jakubovitz
    & Giryes 2018).

    Runs the one training step (:class:`~keraslab.training.step.TrainingModel`) with a
    :class:`~keraslab.training.jacobian.JacobianFrobenius` penalty and SGD with momentum at a
    low learning rate. The cross-entropy ignores samples labelled −1.

    Args:
        network: the trained classifier (images → logits); its weights are updated in place.
            Under a ``strategy`` it must have been built inside ``strategy.scope()``.
        dataset: batches of ``(images, labels)``.
        weight: λ.
        epochs: fine-tuning epochs (Jakubovitz & Giryes use a few).
        learning_rate: SGD learning rate (low: this is fine-tuning).
        momentum: SGD momentum.
        projections: ``None`` for the exact Frobenius norm (as in the paper), or the number of
            random projections (Hoffman et al. 2019) for a cheaper estimate.
        validation_data: evaluated after each epoch (penalty-free metrics).
        callbacks: Keras callbacks.
        strategy: a ``tf.distribute`` strategy.
        jit_compile: passed to ``compile`` (XLA).
        verbose: Keras's progress display.

    Returns:
        The Keras ``History``: per-epoch loss, accuracy and the penalty's value.
    """
    epochs = integer(epochs, "epochs", 1)
    number(learning_rate, "learning_rate", minimum=0, strict=True)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = TrainingModel(network, [JacobianFrobenius(weight, projections=projections)])
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate, momentum=momentum),
            loss=MaskedSparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=jit_compile,
        )
    return model.fit(
        dataset,
        epochs=int(epochs),
        validation_data=validation_data,
        callbacks=list(callbacks),
        verbose=verbose,
        shuffle=False,  # a tf.data.Dataset: shuffling is the dataset's business
    )
