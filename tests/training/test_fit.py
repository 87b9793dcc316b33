"""fit(): run directory layout, resume after an interruption, refusing to clobber a run."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.errors import KeraslabError
from keraslab.training import AtomicCheckpoint, Recipe, fit


def net() -> keras.Model:
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(8, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def dataset(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(48, 4, 4, 1)).astype("float32")
    y = (x.reshape(48, -1).sum(1) > 0).astype("int32") + (x[:, 0, 0, 0] > 1).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


class Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_run_directory_layout(tmp_path):
    ds = dataset()
    result = fit(
        net,
        ds,
        recipe=Recipe(epochs=2),
        validation_data=ds,
        out_dir=tmp_path,
        verbose=0,
        extra_run_info={"dataset": "toy"},
    )
    assert (tmp_path / "checkpoints" / "last.weights.h5").exists()
    assert (tmp_path / "checkpoints" / "best.weights.h5").exists()
    assert (tmp_path / "history.csv").read_text().count("\n") == 3  # header + 2 epochs
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert not (tmp_path / "backup").exists()  # removed once training completed
    assert not list(tmp_path.rglob(".tmp-*"))
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["recipe"]["epochs"] == 2 and run["dataset"] == "toy"
    assert run["parameters"] == result.network.count_params()
    assert run["machine"]["tensorflow"] == tf.__version__
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    # The last checkpoint is the network as it is now.
    again = net()
    again.load_weights(tmp_path / "checkpoints" / "last.weights.h5")
    for a, b in zip(again.weights, result.network.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    ds = dataset()
    # Cosine schedule + momentum: resuming must restore the optimizer's step and slots too.
    recipe = Recipe(epochs=4, optimizer="sgd", learning_rate=0.05, schedule="cosine")
    keras.utils.set_random_seed(7)
    uninterrupted = fit(net, ds, recipe=recipe, verbose=0)

    keras.utils.set_random_seed(7)
    with pytest.raises(KeyboardInterrupt):
        fit(net, ds, recipe=recipe, out_dir=tmp_path, verbose=0, callbacks=[Interrupt(2)])
    assert not (tmp_path / "run.json").exists()
    assert (tmp_path / "backup").exists()
    keras.utils.set_random_seed(99)  # a different init: resuming must restore the weights
    resumed = fit(net, ds, recipe=recipe, out_dir=tmp_path, verbose=0)
    assert len(resumed.history["loss"]) == 2  # epochs 3 and 4 only
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for a, b in zip(uninterrupted.network.weights, resumed.network.weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    run = json.loads((tmp_path / "run.json").read_text())
    # Training time covers both sessions, not only the resumed one.
    assert run["epochs_completed"] == 4
    assert run["wall_time_s"] == pytest.approx(sum(h["epoch_time_s"] for h in history), abs=0.01)


def test_resuming_with_other_settings_is_refused(tmp_path):
    ds = dataset()
    with pytest.raises(KeyboardInterrupt):
        fit(net, ds, recipe=Recipe(epochs=4), out_dir=tmp_path, verbose=0, callbacks=[Interrupt(1)])
    with pytest.raises(KeraslabError, match="unfinished run with a different recipe"):
        fit(net, ds, recipe=Recipe(epochs=2), out_dir=tmp_path, verbose=0)
    assert (tmp_path / "backup").exists()  # the unfinished run is still resumable


def test_finished_run_is_not_overwritten_by_accident(tmp_path):
    ds = dataset()
    fit(net, ds, recipe=Recipe(epochs=1), out_dir=tmp_path, verbose=0)
    before = (tmp_path / "checkpoints" / "last.weights.h5").read_bytes()
    with pytest.raises(KeraslabError, match="already holds a finished run.*--overwrite"):
        fit(net, ds, recipe=Recipe(epochs=1), out_dir=tmp_path, verbose=0)
    assert (tmp_path / "checkpoints" / "last.weights.h5").read_bytes() == before
    (tmp_path / "notes.txt").write_text("mine")
    fit(net, ds, recipe=Recipe(epochs=2), out_dir=tmp_path, verbose=0, overwrite=True)
    # A fresh run replaced the old one completely: no stale rows, events or best value.
    assert (tmp_path / "history.csv").read_text().count("\n") == 3
    assert len(json.loads((tmp_path / "history.json").read_text())) == 2
    assert json.loads((tmp_path / "run.json").read_text())["recipe"]["epochs"] == 2
    assert len(list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"  # not a run file: kept


def test_best_checkpoint_only_moves_on_improvement(tmp_path):
    model = net()
    ckpt = AtomicCheckpoint(tmp_path, network=model, monitor="val_accuracy")
    ckpt.set_model(model)
    ckpt.on_epoch_end(0, {"val_accuracy": 0.5})
    first = (tmp_path / "best.weights.h5").read_bytes()
    model.layers[-1].kernel.assign(np.zeros((8, 3), "float32"))
    ckpt.on_epoch_end(1, {"val_accuracy": 0.4})
    assert (tmp_path / "best.weights.h5").read_bytes() == first
    assert (tmp_path / "last.weights.h5").read_bytes() != first
    ckpt.on_epoch_end(2, {"val_accuracy": 0.6})
    assert json.loads((tmp_path / "best.json").read_text()) == {
        "monitor": "val_accuracy",
        "value": 0.6,
        "epoch": 3,
    }
    # A resumed run remembers the best value instead of overwriting it with a worse epoch.
    assert AtomicCheckpoint(tmp_path, network=model).best == 0.6


def test_infinite_dataset_is_rejected():
    with pytest.raises(ValueError, match="finite"):
        fit(net, dataset().repeat(), recipe=Recipe(epochs=1), verbose=0)


def weights_of(model):
    return [np.asarray(w).copy() for w in model.weights]


def test_default_loss_is_the_cross_entropy_with_accuracy():
    """Leaving ``loss`` out is the same run as passing today's loss and metric explicitly."""
    keras.utils.set_random_seed(3)
    default = fit(net(), dataset(), recipe=Recipe(epochs=2), verbose=0)
    keras.utils.set_random_seed(3)
    explicit = fit(
        net(),
        dataset(),
        recipe=Recipe(epochs=2),
        verbose=0,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    assert default.history == explicit.history
    assert set(default.history) == {"loss", "accuracy"}
    for a, b in zip(weights_of(default.network), weights_of(explicit.network), strict=True):
        np.testing.assert_array_equal(a, b)


def two_outputs() -> keras.Model:
    inputs = keras.Input((3,))
    first = keras.layers.Dense(2, name="first")(inputs)
    second = keras.layers.Dense(2, name="second")(first)
    return keras.Model(inputs, [first, second])


def squared_error(target, estimate):
    return keras.ops.sum(keras.ops.square(estimate - target), axis=-1)


def test_custom_loss_per_output_is_what_fit_minimizes(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    z = (x @ rng.normal(size=(3, 2))).astype("float32")
    batches = tf.data.Dataset.from_tensor_slices((x, (z, z))).batch(16)
    keras.utils.set_random_seed(0)
    network = two_outputs()
    before = [float(np.mean(squared_error(z, e))) for e in network(x)]
    result = fit(
        network,
        batches,
        recipe=Recipe(epochs=30, learning_rate=3e-2),
        out_dir=tmp_path,
        tensorboard=False,
        verbose=0,
        loss=[squared_error, squared_error],
    )
    after = [float(np.mean(squared_error(z, e))) for e in network(x)]
    assert all(a < 0.1 * b for a, b in zip(after, before, strict=True)), (before, after)
    assert "accuracy" not in result.history  # no class labels here, so no default metric
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["loss"] == ["squared_error", "squared_error"]
    assert json.loads((tmp_path / "run_config.json").read_text())["loss"] == run["loss"]


def test_default_loss_leaves_the_run_config_as_before(tmp_path):
    """Runs started before ``loss=`` existed resume: their run_config.json had no loss."""
    fit(net, dataset(), recipe=Recipe(epochs=1), out_dir=tmp_path, tensorboard=False, verbose=0)
    assert "loss" not in json.loads((tmp_path / "run_config.json").read_text())
    assert "loss" not in json.loads((tmp_path / "run.json").read_text())


def test_loss_weights_reach_the_compiled_loss():
    """Weight 0 on the only loss: Adam's update m̂/(√v̂ + ε) is exactly 0, nothing moves."""
    network = net()
    initial = weights_of(network)
    fit(network, dataset(), recipe=Recipe(epochs=1), verbose=0, loss_weights=0.0)
    for a, b in zip(initial, weights_of(network), strict=True):
        np.testing.assert_array_equal(a, b)


def test_custom_loss_refuses_the_recipes_label_smoothing():
    with pytest.raises(ValueError, match="label_smoothing=0.1 applies to the default"):
        fit(
            net,
            dataset(),
            recipe=Recipe(epochs=1, label_smoothing=0.1),
            verbose=0,
            loss="mse",
        )


def test_semi_supervised_objective_trains_through_fit_on_mixed_batches():
    """The masked cross-entropy (weight α) and the reconstruction and entropy penalties of
    training.semi_supervised, on data.semi_supervised_batches, in the one training step."""
    from keraslab import data, training

    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4, 4, 1)).astype("float32")
    y = rng.integers(0, 3, size=60).astype("int32")
    batches = data.semi_supervised_batches(
        x[:6], y[:6], x[6:], labelled_per_batch=2, unlabelled_per_batch=6, seed=0
    )
    objective = training.semi_supervised(0.7, 0.5)
    result = fit(
        net(),
        batches.mixed,
        recipe=Recipe(epochs=2),
        verbose=0,
        loss=objective.loss,
        loss_weights=objective.loss_weight,
        penalties=objective.penalties,
    )
    assert set(result.history) == {"loss", "reconstruction", "entropy"}
    assert all(np.isfinite(v).all() and len(v) == 2 for v in result.history.values())
    assert result.history["reconstruction"][-1] > 0 and result.history["entropy"][-1] > 0
