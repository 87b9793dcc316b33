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
    result = fit(net, ds, recipe=Recipe(epochs=2), validation_data=ds, out_dir=tmp_path,
                 verbose=0, extra_run_info={"dataset": "toy"})  # fmt: skip
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
        fit(net, ds, recipe=Recipe(epochs=4), out_dir=tmp_path, verbose=0,
            callbacks=[Interrupt(1)])  # fmt: skip
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
        "monitor": "val_accuracy", "value": 0.6, "epoch": 3,
    }  # fmt: skip
    # A resumed run remembers the best value instead of overwriting it with a worse epoch.
    assert AtomicCheckpoint(tmp_path, network=model).best == 0.6


def test_infinite_dataset_is_rejected():
    with pytest.raises(ValueError, match="finite"):
        fit(net, dataset().repeat(), recipe=Recipe(epochs=1), verbose=0)
