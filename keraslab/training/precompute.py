"""Training the learned part of a network on precomputed outputs of its fixed front end.

A hybrid network f = h ∘ S whose front end S has no weights and no randomness (a scattering
transform, Oyallon, Belilovsky & Zagoruyko 2017) gives the same gradients for h whether S(x) is
recomputed every epoch or computed once: without augmentation the inputs x are the same each
epoch, so S(x) is too. Computing it once turns E epochs of S into one, which is most of the cost
of training a small head on CPU (measured for ``scattering_cnn`` on Fashion-MNIST: see
``savedmodels/manifest.json``). The trained variables are the network's own (the head shares
them), so checkpoints and exports are those of the whole network.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from keraslab.training.penalty import Penalty, WeightDecay

# Layers whose output changes from call to call in training: a front end with one of them
# cannot be computed once.
_RANDOM_LAYERS = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)


def split_at(network: keras.Model, layer_name: str) -> tuple[keras.Model, keras.Model]:
    """Split a functional network at a layer into ``(front, head)`` with
    ``network(x) == head(front(x))``; the head shares the network's variables.

    Raises:
        ValueError: the network is not functional with one input, has no such layer, or the
            front end has weights or random layers (it would not be fixed).
    """
    if not isinstance(network, keras.Model) or not hasattr(network, "_nodes_by_depth"):
        raise ValueError(
            f"precomputing a front end needs a functional keras.Model, got {type(network).__name__}"
        )
    if len(network.inputs) != 1:
        raise ValueError(f"precomputing needs a single-input network, {network.name} has several")
    try:
        layer = network.get_layer(layer_name)
    except ValueError:
        names = ", ".join(repr(layer.name) for layer in network.layers[:8])
        raise ValueError(
            f"{network.name} has no layer named {layer_name!r} to precompute (its first layers: "
            f"{names}); set Recipe.precompute to one of them or to None"
        ) from None
    front = keras.Model(network.inputs[0], layer.output, name=f"{network.name}_front")
    if front.weights:
        raise ValueError(
            f"the front end up to {layer_name!r} has weights ({len(front.weights)}), so its "
            "outputs change during training and cannot be precomputed; set Recipe.precompute "
            "to a layer before the first one with weights, or to None"
        )
    random = [lyr.name for lyr in front.layers if isinstance(lyr, _RANDOM_LAYERS)]
    if random:
        raise ValueError(
            f"the front end up to {layer_name!r} contains random layers {random}; "
            "it cannot be precomputed"
        )
    outputs = network.outputs[0] if len(network.outputs) == 1 else network.outputs
    head = keras.Model(layer.output, outputs, name=f"{network.name}_head")
    return front, head


def check_precompute_allowed(recipe_augment: bool, penalties: Sequence[Penalty]) -> None:
    """Precomputing is exact only without augmentation and without input-space penalties."""
    if recipe_augment:
        raise ValueError(
            "Recipe.precompute cannot be combined with augment=True: augmented images change "
            "every epoch, so their front-end outputs cannot be computed once"
        )
    input_penalties = [p.name for p in penalties if not isinstance(p, WeightDecay)]
    if input_penalties:
        raise ValueError(
            f"penalties {input_penalties} differentiate the network with respect to its input, "
            "which a precomputed front end hides; set Recipe.precompute to None to use them"
        )


def precompute(
    front: keras.Model,
    dataset: tf.data.Dataset,
    *,
    shuffle: bool,
    jit_compile: bool = True,
    progress: bool = True,
    description: str = "precomputing",
) -> tf.data.Dataset:
    """Map a batched ``(x, y)`` dataset through ``front`` once and return a dataset of
    ``(front(x), y)`` batches of the same size, held in memory; ``shuffle`` reshuffles it
    every epoch (seeded by TensorFlow's global seed, as ``keras.utils.set_random_seed`` sets).
    """
    from tqdm.auto import tqdm

    # One trace for every batch size (the last batch is smaller); XLA still compiles per shape.
    x_spec = dataset.element_spec[0]
    run = tf.function(
        lambda x: front(x, training=False),
        input_signature=[tf.TensorSpec((None, *x_spec.shape[1:]), x_spec.dtype)],
        jit_compile=jit_compile,
    )
    batches = int(tf.data.experimental.cardinality(dataset))
    features: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    batch_size = 0
    for x, y in tqdm(
        dataset, total=batches if batches > 0 else None, desc=description, disable=not progress
    ):
        features.append(run(x).numpy())
        labels.append(np.asarray(y))
        batch_size = max(batch_size, len(labels[-1]))
    if not features:
        raise ValueError("the dataset to precompute is empty")
    feature_array = np.concatenate(features)
    label_array = np.concatenate(labels)
    out = tf.data.Dataset.from_tensor_slices((feature_array, label_array))
    if shuffle:
        out = out.shuffle(len(label_array), reshuffle_each_iteration=True)
    return out.batch(batch_size).prefetch(tf.data.AUTOTUNE)


__all__ = ["check_precompute_allowed", "precompute", "split_at"]
