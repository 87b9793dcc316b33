"""zoo.finetune: a shipped classifier, a new head, the user's images; what the run records."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from keraslab import data, zoo
from keraslab.errors import DatasetNotFoundError, KeraslabError


def _arrays(n=24, size=8):
    """Two visibly different classes: dark and bright squares of another size than the base's."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.integers(0, 60, size=(n, size, size), dtype=np.uint8) + (150 * y)[:, None, None]
    return x.astype(np.uint8), y


def test_finetune_records_what_it_was_finetuned_from(tmp_path):
    out = tmp_path / "run"
    run = zoo.finetune(
        "lenet",
        images=_arrays(),
        name="squares",
        out_dir=out,
        freeze_epochs=1,
        epochs=1,
        batch_size=8,
        validation_split=0.25,
        verbose=0,
    )
    assert run.network.output_shape == (None, 2)
    assert run.class_names == ("0", "1")
    record = json.loads((out / "run.json").read_text())
    shipped = zoo.manifest()["models"]["lenet"]
    assert record["finetuned_from"] == {
        "base": "lenet",
        "base_version": shipped["version"],
        "base_dataset": "fashion_mnist",
        "base_test_accuracy": shipped["metrics"]["test_accuracy"],
    }
    assert record["finetune_name"] == "squares" and record["class_names"] == ["0", "1"]
    assert record["data"]["kind"] == "arrays" and record["data"]["images_per_class"] == [12, 12]
    assert record["epochs"] == {"head": 1, "full": 1}
    assert record["recipe"]["full"]["learning_rate"] == pytest.approx(1e-4)
    assert record["validation"]["validation_examples"] == 6
    assert 0 <= record["validation"]["validation_accuracy"] <= 1
    for phase in ("head", "full"):  # both phases are fit runs of their own
        assert json.loads((out / phase / "run.json").read_text())["phase"] == phase
        assert (out / phase / "history.json").exists()
    assert zoo.finetuned_run(out)["finetune_name"] == "squares"
    with pytest.raises(KeraslabError, match="already holds a finished fine-tuning run"):
        zoo.finetune("lenet", images=_arrays(), name="squares", out_dir=out, verbose=0)


@pytest.mark.slow
def test_finetune_with_the_jacobian_penalty(tmp_path):
    out = tmp_path / "run"
    zoo.finetune(
        "lenet",
        images=_arrays(),
        name="squares",
        out_dir=out,
        freeze_epochs=1,
        epochs=1,
        batch_size=8,
        penalties=["jacobian_projection:0.01:projections=1"],
        verbose=0,
    )
    for phase in ("head", "full"):
        phase_run = json.loads((out / phase / "run.json").read_text())
        assert [p["type"] for p in phase_run["penalties"]] == ["JacobianFrobenius"]
        assert phase_run["recipe"]["penalties"] == ["jacobian_projection:0.01:projections=1"]


def test_the_backbone_starts_from_the_shipped_weights(tmp_path):
    # One head-only epoch: every layer but the head keeps the shipped values exactly.
    run = zoo.finetune(
        "lenet",
        images=_arrays(),
        name="squares",
        out_dir=tmp_path / "run",
        freeze_epochs=1,
        validation_split=0,
        batch_size=8,
        verbose=0,
    )
    shipped = zoo.load("lenet")
    for layer in ("conv1", "conv2", "dense"):
        ours, theirs = run.network.get_layer(layer).weights, shipped.get_layer(layer).weights
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert run.metrics == {}


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match="'lenet_jacobian' is a zoo entry"):
        zoo.finetune("lenet", images=_arrays(), name="lenet_jacobian", out_dir=tmp_path)
    with pytest.raises(ValueError, match="alista16 is a sparse coder"):
        zoo.finetune("alista16", images=_arrays(), name="x", out_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="'small_cnn' is not shipped"):
        zoo.finetune("small_cnn", images=_arrays(), name="x", out_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        zoo.finetune("lenet", images=tmp_path / "nowhere", name="x", out_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="freeze_epochs must be >= 1"):
        zoo.finetune("lenet", images=_arrays(), name="x", out_dir=tmp_path, freeze_epochs=0)
    with pytest.raises(ValueError, match="not a finished `keraslab finetune` run"):
        zoo.export_finetuned(tmp_path, tmp_path / "exports")


def test_labelled_images_from_a_dataset_are_accepted(tmp_path):
    import tensorflow as tf

    x, y = _arrays()
    labelled = data.labelled_dataset(
        tf.data.Dataset.from_tensor_slices((x[..., None], y)),
        data.get_spec("fashion_mnist"),
        ["dark", "bright"],
        batch_size=8,
    )
    run = zoo.finetune("lenet", images=labelled, name="squares", out_dir=tmp_path / "r", verbose=0)
    assert run.class_names == ("dark", "bright")
    assert json.loads((tmp_path / "r" / "run.json").read_text())["data"]["kind"] == "tf.data"


def test_an_interrupted_finetune_resumes_without_redoing_a_finished_phase(tmp_path):
    out = tmp_path / "run"
    kwargs = dict(
        images=_arrays(),
        name="squares",
        out_dir=out,
        freeze_epochs=1,
        epochs=1,
        batch_size=8,
        validation_split=0,
        verbose=0,
    )
    first = zoo.finetune("lenet", **kwargs)
    phase_runs = [(out / p / "run.json").read_text() for p in ("head", "full")]
    final = [w.numpy().copy() for w in first.network.weights]
    # As if stopped after both phases, before the fine-tuning run was recorded. (A phase
    # stopped mid-way resumes from its last epoch: that is fit's resume, tested with fit.)
    (out / "run.json").unlink()
    again = zoo.finetune("lenet", **kwargs)
    # Neither finished phase was rerun: their run.json are untouched, the weights the same.
    assert [(out / p / "run.json").read_text() for p in ("head", "full")] == phase_runs
    for a, b in zip(final, again.network.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())
    assert json.loads((out / "run.json").read_text())["epochs"] == {"head": 1, "full": 1}


@pytest.mark.slow
def test_scattering_hybrid_keeps_its_fixed_front_end(tmp_path):
    base = zoo.load("scattering_linear")
    run = zoo.finetune(
        "scattering_linear",
        images=_arrays(),
        name="squares",
        out_dir=tmp_path / "run",
        freeze_epochs=1,
        epochs=1,
        batch_size=8,
        validation_split=0,
        verbose=0,
    )
    x = np.random.default_rng(1).normal(size=(2, 28, 28, 1)).astype(np.float32)
    for layer in ("scattering", "scattering_bn"):  # no weights / frozen BatchNormalization
        ours = keras.Model(run.network.input, run.network.get_layer(layer).output)
        theirs = keras.Model(base.input, base.get_layer(layer).output)
        np.testing.assert_allclose(ours(x), theirs(x), atol=1e-6)
    assert run.network.output_shape == (None, 2)
