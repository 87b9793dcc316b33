"""Transfer learning: a trained classifier's backbone with a new head, trained in two phases.

The recipe is the Keras transfer-learning guide's ("Transfer learning & fine-tuning",
keras.io/guides/transfer_learning): (1) freeze the backbone and train only the new classifier
head; (2) optionally unfreeze the backbone and train everything with a much lower learning rate.
BatchNormalization layers stay frozen, hence in inference mode (Keras 3 runs a
``trainable=False`` BatchNormalization layer with its moving statistics), in *both* phases, as
the guide recommends: updating their statistics on a small new dataset would undo what the
backbone learned. Layers without weights (e.g. the scattering front end) are unaffected.

Both phases run through :func:`keraslab.training.fit` (progress bars, history, TensorBoard,
checkpoints, resume, penalties), one run directory each: ``OUT/head`` and ``OUT/full``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from keraslab.errors import KeraslabError
from keraslab.files import atomic_path
from keraslab.training.fit import TrainResult, fit
from keraslab.training.penalty import Penalty
from keraslab.training.recipes import Recipe

__all__ = [
    "HEAD_LAYER",
    "FinetunePhases",
    "classifier_head",
    "copy_backbone_weights",
    "freeze_backbone",
    "two_phase_finetune",
    "unfreeze_backbone",
]

#: The name every zoo image classifier gives the Dense layer that produces its logits.
HEAD_LAYER = "logits"


def classifier_head(model: keras.Model) -> keras.layers.Dense:
    """The Dense layer producing ``model``'s logits: the layer named :data:`HEAD_LAYER`, or
    else the last Dense layer (the one whose units are the number of classes).

    Raises:
        ValueError: the model has no such Dense layer.
    """
    layers = [layer for layer in model._flatten_layers(include_self=False)]
    named = [layer for layer in layers if layer.name == HEAD_LAYER]
    dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    head = named[-1] if named else (dense[-1] if dense else None)
    if not isinstance(head, keras.layers.Dense):
        raise ValueError(
            f"{model.name!r} has no Dense classifier head (a Dense layer named {HEAD_LAYER!r}, "
            "or a last Dense layer) to replace; give its logits layer that name"
        )
    return head


def copy_backbone_weights(source: keras.Model, target: keras.Model) -> int:
    """Copy every weight of ``source`` into ``target`` but the classifier head's.

    Both must be built by the same builder with the same configuration except the number of
    classes (so their weights come in the same order with the same shapes, the head's aside).

    Returns:
        The number of weights copied.

    Raises:
        ValueError: the two models' backbones differ.
    """
    skip_source = {id(w) for w in classifier_head(source).weights}
    skip_target = {id(w) for w in classifier_head(target).weights}
    src = [w for w in source.weights if id(w) not in skip_source]
    dst = [w for w in target.weights if id(w) not in skip_target]
    shapes = [tuple(w.shape) for w in src], [tuple(w.shape) for w in dst]
    if shapes[0] != shapes[1]:
        raise ValueError(
            f"{source.name!r} and {target.name!r} have different backbones; build the new "
            "model with the base's builder and config, changing only num_classes"
        )
    for s, d in zip(src, dst, strict=True):
        d.assign(s)
    return len(src)


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return list(model._flatten_layers(include_self=False))


def freeze_backbone(model: keras.Model) -> keras.layers.Dense:
    """Phase 1: only the classifier head trains; every other layer is frozen (and
    BatchNormalization runs in inference mode). Returns the head."""
    head = classifier_head(model)
    model.trainable = True
    for layer in _all_layers(model):
        layer.trainable = False
    head.trainable = True
    return head


def unfreeze_backbone(model: keras.Model) -> None:
    """Phase 2: everything trains except BatchNormalization layers, which stay frozen and in
    inference mode (the guide's advice for fine-tuning)."""
    model.trainable = True
    for layer in _all_layers(model):
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)


@dataclasses.dataclass
class FinetunePhases:
    """What :func:`two_phase_finetune` returns.

    Attributes:
        network: the fine-tuned network.
        head: phase 1's result (``None`` when it had finished before and was not rerun).
        full: phase 2's result (``None`` without a phase 2 or when it was not rerun).
        head_dir, full_dir: the phases' run directories (``full_dir`` ``None`` without phase 2).
        weights: the final weights, ``OUT/checkpoints/last.weights.h5``.
    """

    network: keras.Model
    head: TrainResult | None
    full: TrainResult | None
    head_dir: Path
    full_dir: Path | None
    weights: Path


def two_phase_finetune(
    network: keras.Model,
    train_data: Any,
    *,
    head_recipe: Recipe,
    full_recipe: Recipe | None,
    out_dir: str | os.PathLike,
    validation_data: Any = None,
    penalties: Sequence[Penalty] = (),
    overwrite: bool = False,
    verbose: int | str = "auto",
    jit_compile: bool | str = "auto",
    tensorboard: bool = True,
    extra_run_info: dict[str, Any] | None = None,
) -> FinetunePhases:
    """Train ``network``'s head with the backbone frozen (``head_recipe``), then, when
    ``full_recipe`` is given, everything but BatchNormalization (``full_recipe``, typically a
    learning rate 10× lower), each phase through :func:`fit` in its own run directory
    (``out_dir/head``, ``out_dir/full``).

    An interrupted call resumes where it stopped when called again: a finished phase is not
    rerun (its last weights are loaded), an unfinished one resumes from its last epoch.

    Args:
        network: the base network with its new head (:func:`copy_backbone_weights`).
        train_data, validation_data: batched ``tf.data`` of normalized images and labels.
        head_recipe, full_recipe: the two phases' recipes (penalties included).
        out_dir: the run directory; the final weights are copied to
            ``out_dir/checkpoints/last.weights.h5``.
        penalties: training penalties for both phases, after the recipes' own.
        overwrite: start both phases afresh even if they had finished.
        verbose, jit_compile, tensorboard: passed to :func:`fit`.
        extra_run_info: merged into each phase's ``run.json``.
    """
    out = Path(out_dir)
    head_dir, full_dir = out / "head", (out / "full" if full_recipe is not None else None)

    def phase(
        recipe: Recipe, where: Path, name: str, redo: bool
    ) -> tuple[TrainResult | None, bool]:
        if (where / "run.json").exists() and not redo:
            network.load_weights(where / "checkpoints" / "last.weights.h5")
            return None, False
        result = fit(
            network,
            train_data,
            recipe=recipe,
            validation_data=validation_data,
            out_dir=where,
            penalties=penalties,
            overwrite=redo,
            verbose=verbose,
            jit_compile=jit_compile,
            tensorboard=tensorboard,
            extra_run_info={**(extra_run_info or {}), "phase": name},
        )
        return result, True

    freeze_backbone(network)
    head, ran = phase(head_recipe, head_dir, "head", overwrite)
    full = None
    if full_recipe is not None and full_dir is not None:
        unfreeze_backbone(network)
        # A rerun head phase makes any earlier phase 2 stale.
        full, _ = phase(full_recipe, full_dir, "full", overwrite or ran)
    elif (out / "full").exists() and overwrite:
        shutil.rmtree(out / "full")
    elif (out / "full").exists():
        raise KeraslabError(
            f"{out / 'full'} holds a fine-tuning phase this call does not run (epochs=0); "
            "choose another output directory or pass overwrite=True"
        )
    last = (full_dir or head_dir) / "checkpoints" / "last.weights.h5"
    weights = out / "checkpoints" / "last.weights.h5"
    weights.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights) as tmp:
        shutil.copyfile(last, tmp)
    return FinetunePhases(network, head, full, head_dir, full_dir, weights)
