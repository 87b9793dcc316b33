"""The transfer recipe: a new head on every zoo classifier, frozen then unfrozen backbone."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab import models, training, zoo

CLASSIFIERS = [e.name for e in zoo.list() if e.task.classifies_images]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_zoo_classifier_gets_a_new_head_and_keeps_its_backbone(name):
    base = zoo.build(name)
    new = zoo.build(name, num_classes=3)
    head = training.classifier_head(new)
    assert head.name == "logits" and head.units == 3 and new.output_shape == (None, 3)
    # Perturb the base so a copy is distinguishable from a fresh initialization.
    for w in base.weights:
        w.assign(w * 1.05)
    copied = training.copy_backbone_weights(base, new)
    assert copied == len(base.weights) - 2  # all but the head's kernel and bias
    x = tf.random.uniform((2, *base.input_shape[1:]))
    if isinstance(base, models.IRevNet):
        # Only the head changed: features and inverse are the base's, and still invert.
        np.testing.assert_allclose(new.features(x), base.features(x), atol=1e-5)
        np.testing.assert_allclose(new.inverse(new.features(x)), x, atol=1e-4)
    else:
        penultimate = [keras.Model(m.input, training.classifier_head(m).input) for m in (base, new)]
        np.testing.assert_allclose(penultimate[1](x), penultimate[0](x), atol=1e-5)


def test_copy_refuses_another_architecture():
    with pytest.raises(ValueError, match="different backbones"):
        training.copy_backbone_weights(zoo.build("lenet"), zoo.build("small_cnn", num_classes=3))


def test_a_model_without_a_dense_head_is_refused():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Activation("relu")(inputs))
    with pytest.raises(ValueError, match="no Dense classifier head"):
        training.classifier_head(model)


def _tiny() -> keras.Model:
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def test_freeze_and_unfreeze_select_the_trainable_weights():
    model = _tiny()
    training.freeze_backbone(model)
    assert [w.path for w in model.trainable_weights] == ["logits/kernel", "logits/bias"]
    assert not model.get_layer("bn").trainable  # inference mode in Keras 3
    training.unfreeze_backbone(model)
    assert sorted(w.path for w in model.trainable_weights) == [
        "conv/bias",
        "conv/kernel",
        "logits/bias",
        "logits/kernel",
    ]
    assert not model.get_layer("bn").trainable


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 6, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int32) + (x[:, 0, 0, 0] > 1)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _values(model, *names):
    return {n: [w.numpy().copy() for w in model.get_layer(n).weights] for n in names}


def test_two_phases_train_what_they_should_and_resume(tmp_path):
    model = _tiny()
    before = _values(model, "conv", "bn", "logits")
    recipe = training.Recipe(epochs=2, batch_size=8, learning_rate=0.05)
    out = tmp_path / "run"
    phases = training.two_phase_finetune(
        model,
        _data(),
        head_recipe=recipe,
        full_recipe=None,
        out_dir=out,
        verbose=0,
        tensorboard=False,
    )
    after_head = _values(model, "conv", "bn", "logits")
    for a, b in zip(
        before["conv"] + before["bn"], after_head["conv"] + after_head["bn"], strict=True
    ):
        np.testing.assert_array_equal(a, b)  # frozen backbone, BN statistics untouched
    assert not np.allclose(before["logits"][0], after_head["logits"][0])
    assert phases.full_dir is None and (out / "head" / "run.json").exists()
    assert phases.weights == out / "checkpoints" / "last.weights.h5" and phases.weights.exists()

    phases = training.two_phase_finetune(
        model,
        _data(),
        head_recipe=recipe,
        full_recipe=recipe.replace(learning_rate=0.01, epochs=1),
        out_dir=out,
        verbose=0,
        tensorboard=False,
    )
    assert phases.head is None  # the finished head phase is not rerun
    assert phases.full is not None
    after_full = _values(model, "conv", "bn", "logits")
    assert not np.allclose(after_head["conv"][0], after_full["conv"][0])
    for a, b in zip(after_head["bn"], after_full["bn"], strict=True):
        np.testing.assert_array_equal(a, b)  # BN stays in inference mode in phase 2 as well
    assert json.loads((out / "full" / "run.json").read_text())["phase"] == "full"
    fresh = _tiny()
    fresh.load_weights(phases.weights)
    np.testing.assert_array_equal(fresh.get_layer("conv").weights[0], after_full["conv"][0])
