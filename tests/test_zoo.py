import json

import numpy as np
import pytest

from keraslab import data, zoo
from keraslab.errors import DatasetNotFoundError, UnknownNameError


@pytest.mark.slow
def test_every_entry_builds_for_each_of_its_datasets():
    assert {"lenet", "small_cnn", "resnet20"} <= set(zoo.names())
    for entry in zoo.list():
        for dataset in entry.datasets:
            model = zoo.build(entry.name, dataset=dataset)
            if entry.task is zoo.SPARSE_CODING:
                problem = data.PROBLEMS[dataset]
                assert model.input_shape == (None, problem["m"])
                assert model.output_shape[-1] == (None, problem["n"])
                continue
            expected = (32, 32, 3) if dataset == "cifar10" else (28, 28, 1)
            assert model.input_shape == (None, *expected)
            assert model.output_shape == (None, 10)
        summary = json.loads(json.dumps(entry.summary()))
        assert summary["recipe"] == entry.recipe.to_dict()
        assert summary["task"] == entry.task.name


def test_a_sparse_coder_is_built_from_its_problems_matrix():
    entry = zoo.get("alista16")
    assert entry.task is zoo.SPARSE_CODING
    model = zoo.build("alista16", dataset="gaussian_25x50")
    assert len(model.outputs) == 16  # every layer's estimate, for stage-wise training
    A = data.get_problem("gaussian_25x50").A
    np.testing.assert_array_equal(model.get_layer("layer_3").A.numpy(), A)
    with pytest.raises(UnknownNameError, match="sparse coder, not a classifier.*sparse_code"):
        zoo.predict("alista16", np.zeros((1, 28, 28, 1), np.uint8))


def test_an_entry_with_a_recipe_of_the_wrong_kind_is_refused():
    lenet = zoo.get("lenet")
    with pytest.raises(TypeError, match="sparse_coding entry's recipe is a StagewiseSchedule"):
        zoo.ZooEntry(**{**lenet.__dict__, "name": "x", "task": "sparse_coding"})
    with pytest.raises(ValueError, match="task must be one of"):
        zoo.ZooEntry(**{**lenet.__dict__, "name": "x", "task": "detection"})


def test_overrides_reach_the_builder():
    model = zoo.build("lenet", dense_units=32)
    assert model.get_layer("dense").units == 32


def test_unknown_names_say_what_exists():
    with pytest.raises(UnknownNameError, match="unknown zoo model 'vgg'.*lenet.*zoo list"):
        zoo.get("vgg")
    with pytest.raises(UnknownNameError, match="takes cifar10, not 'mnist'"):
        zoo.build("resnet20", dataset="mnist")


def test_load_without_shipped_weights_says_how_to_get_them(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="keraslab train small_cnn"):
        zoo.load("small_cnn", directory=tmp_path)


def test_load_uses_shipped_weights(tmp_path, monkeypatch):
    model = zoo.build("small_cnn")
    (tmp_path / "small_cnn").mkdir()
    model.save_weights(tmp_path / "small_cnn" / zoo.WEIGHTS_FILE)
    monkeypatch.setenv("KERASLAB_SAVEDMODELS", str(tmp_path))
    loaded = zoo.load("small_cnn")
    x = np.random.rand(2, 28, 28, 1).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)


def test_registering_a_duplicate_name_fails():
    with pytest.raises(ValueError, match="already registered"):
        zoo.register(zoo.get("lenet"))


@pytest.mark.slow
def test_entries_with_penalties_train_and_log_them():
    import keras

    from keraslab import data
    from keraslab.training import fit

    train = data.load("fashion_mnist_sample", "train", batch_size=32, limit=64, seed=0)
    with_penalties = [e for e in zoo.list() if getattr(e.recipe, "penalties", ())]
    assert {"lenet_jacobian", "lenet_invariance"} <= {e.name for e in with_penalties}
    for entry in with_penalties:
        keras.utils.set_random_seed(0)
        result = fit(
            zoo.build(entry.name, dataset="fashion_mnist_sample"),
            train,
            recipe=entry.recipe.replace(epochs=1),
            verbose=0,
            jit_compile=False,
        )
        logged = set(result.history) - {"loss", "accuracy"}
        assert logged, f"{entry.name}: no penalty was logged"
        assert all(result.history[k][-1] > 0 for k in logged), result.history
