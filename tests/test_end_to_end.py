"""The spine end to end: embedded data → zoo model → train → export → TF-only reload."""

import json

import numpy as np
import pytest

from keraslab import data, export, zoo
from keraslab.cli import main
from keraslab.errors import ExportVerificationError
from keraslab.training import Recipe, fit

pytestmark = pytest.mark.slow  # each test trains, exports and reloads in another process


def test_train_export_verify_identical_predictions(tmp_path):
    spec = data.get_spec("fashion_mnist_sample")
    train = data.load("fashion_mnist_sample", "train", batch_size=64, seed=0)
    test = data.load("fashion_mnist_sample", "test", batch_size=256)
    result = fit(
        lambda: zoo.build("lenet", dataset="fashion_mnist_sample"),
        train,
        recipe=Recipe(epochs=1),
        validation_data=test,
        out_dir=tmp_path / "run",
        verbose=0,
    )
    # One epoch on 4,000 images is far from converged but well above chance (10 %).
    assert result.history["val_accuracy"][-1] > 0.6

    path = export.saved_model(
        result.network,
        tmp_path / "models",
        "lenet",
        preprocessing=export.Preprocessing(spec.mean, spec.std),
        class_names=spec.class_names,
    )
    raw = data.load_arrays("fashion_mnist_sample", "test").images[:200]
    report = export.verify(path, result.network, raw)  # raises on any mismatch
    assert report.max_abs_diff["serving_default/class_id"] == 0.0

    # The same predictions as the Keras pipeline's own normalisation gives.
    batch = next(iter(data.load("fashion_mnist_sample", "test", batch_size=200)))[0]
    keras_ids = np.argmax(result.network.predict(batch, verbose=0), axis=1)
    _, served = export.run_in_tensorflow_only_process(path, {"serving_default": {"image": raw}})
    np.testing.assert_array_equal(served["serving_default"]["class_id"], keras_ids)


def test_cli_train_evaluate_export(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--dataset", "fashion_mnist_sample"]
    assert main(["train", "small_cnn", *args, "--epochs", "1", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "small_cnn on fashion_mnist_sample: test accuracy" in out
    record = json.loads((run / "run.json").read_text())
    assert record["command"].startswith("keraslab train small_cnn")
    assert 0.3 < record["test"]["test_accuracy"] <= 1.0

    weights = str(run / "checkpoints" / "last.weights.h5")
    assert main(["evaluate", "small_cnn", *args, "--weights", weights]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test_accuracy"] == record["test"]["test_accuracy"]

    base = str(tmp_path / "models")
    assert main(["export", "small_cnn", "--run", str(run), "--base-dir", base]) == 0
    out = capsys.readouterr().out
    assert "predictions identical" in out and "recorded small_cnn" in out
    assert 'name: "small_cnn"' in (tmp_path / "models" / "models.config").read_text()
    shipped = zoo.manifest(base)["models"]["small_cnn"]
    assert shipped["metrics"] == record["test"] and shipped["savedmodel"] == "small_cnn/1"
    assert shipped["train_command"] == record["command"]
    assert shipped["export_command"].startswith("keraslab export small_cnn --run")
    # The published weights are the run's: zoo.load gives the evaluated model back.
    x = data.load_arrays("fashion_mnist_sample", "test").images[:8].astype("float32") / 255
    trained = zoo.build("small_cnn", dataset="fashion_mnist_sample")
    trained.load_weights(weights)
    np.testing.assert_allclose(zoo.load("small_cnn", directory=base)(x), trained(x), rtol=1e-6)
    # Robustness measured later joins the shipped record, with the command that measured it;
    # what was already recorded stays as it was.
    argv = ["evaluate", "small_cnn", *args, "--base-dir", base, "--robustness", "--record"]
    assert main(argv) == 0
    assert (
        "recorded jacobian_frobenius_mean, fgsm_accuracy, transformed_accuracy for small_cnn"
        in capsys.readouterr().out
    )
    updated = zoo.manifest(base)["models"]["small_cnn"]
    assert {k: updated["metrics"][k] for k in record["test"]} == record["test"]
    assert set(updated["metrics"]["fgsm_accuracy"]) == {"0.02", "0.05", "0.1"}
    transformed = updated["metrics"]["transformed_accuracy"]
    assert len(transformed) == 3 and all(0.0 < a <= 1.0 for a in transformed.values())
    assert updated["evaluate_command"].startswith("keraslab evaluate small_cnn")
    assert main(["evaluate", "small_cnn", *args, "--base-dir", base, "--record"]) == 0
    assert "nothing new to record for small_cnn" in capsys.readouterr().out
    assert zoo.manifest(base)["models"]["small_cnn"] == updated  # command not overwritten
    assert main([*argv[:-2], "--weights", weights, "--record"]) == 2
    assert "cannot --record: --record measures the shipped weights" in capsys.readouterr().err
    # A second export with the same explicit version is refused, and the first one is kept.
    argv = ["export", "small_cnn", *args, "--weights", weights, "--base-dir", base]
    assert main([*argv, "--version", "1", "--no-verify"]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert (tmp_path / "models" / "small_cnn" / "1" / "saved_model.pb").exists()


def test_runs_on_a_subset_are_not_shipped(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "small_cnn", "--dataset", "fashion_mnist_sample", "--epochs", "1"]
    assert main([*argv, "--limit", "256", "--out", str(run)]) == 0
    base = tmp_path / "models"
    assert main(["export", "small_cnn", "--run", str(run), "--base-dir", str(base)]) == 2
    assert "used --limit 256" in capsys.readouterr().err
    assert not base.exists() or not any(base.iterdir())


def test_cli_penalties_are_trained_logged_and_recorded(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "small_cnn", "--dataset", "fashion_mnist_sample", "--epochs", "1"]
    argv += ["--limit", "256", "--out", str(run)]
    argv += ["--penalty", "jacobian_projection:0.01", "--penalty", "weight_decay:1e-4"]
    assert main(argv) == 0
    record = json.loads((run / "run.json").read_text())
    assert record["recipe"]["penalties"] == ["jacobian_projection:0.01", "weight_decay:1e-4"]
    assert [p["type"] for p in record["penalties"]] == ["JacobianFrobenius", "WeightDecay"]
    history = json.loads((run / "history.json").read_text())
    logged = [k for k in history[0] if "jacobian" in k]
    assert logged and all(history[0][k] > 0 for k in logged)


def test_irevnet_export_has_features_and_an_inverse_back_to_pixels(tmp_path, capsys):
    """The exported i-RevNet's `inverse(features(x))` gives back the raw pixels, checked by
    `keraslab export` in a TensorFlow-only process and again here through the SavedModel."""
    import tensorflow as tf

    weights = tmp_path / "w.weights.h5"
    zoo.build("irevnet_mnist").save_weights(weights)
    base = tmp_path / "models"
    argv = ["export", "irevnet_mnist", "--dataset", "fashion_mnist_sample"]
    argv += ["--weights", str(weights), "--base-dir", str(base)]
    assert main(argv) == 0
    assert (
        "signatures ['features', 'inverse', 'serving_bytes', 'serving_default']"
        in capsys.readouterr().out
    )
    loaded = tf.saved_model.load(str(base / "irevnet_mnist" / "1"))
    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    z = loaded.signatures["features"](image=tf.constant(pixels))["features"]
    assert tuple(z.shape) == (3, 7, 7, 128)
    back = loaded.signatures["inverse"](features=z)["image"].numpy()
    assert np.abs(back - pixels).max() <= 1e-5 * 255 * 10


def test_sparse_coder_cli_train_evaluate_export(tmp_path, capsys):
    """Issue 5's zoo path on the small 25 × 50 problem: `keraslab train alista16` trains it
    stage-wise and records per-layer NMSE and the ISTA/FISTA baselines, `evaluate` measures the
    same numbers, `export` ships a verified `sparse_code` SavedModel with the dictionary."""
    run = tmp_path / "run"
    args = ["--dataset", "gaussian_25x50"]
    assert main(["train", "alista16", *args, "--max-steps", "50", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "alista16 on gaussian_25x50: test NMSE" in out and "ISTA 1000 iterations" in out
    record = json.loads((run / "run.json").read_text())
    test = record["test"]
    assert len(test["test_nmse_db_per_layer"]) == 16 and test["test_examples"] == 1000
    assert abs(test["test_nmse_db"] - test["test_nmse_db_per_layer"][-1]) < 1e-3
    # FISTA converges faster than ISTA at equal iterations; both are far from their start.
    assert test["baselines_nmse_db"]["fista_16"] < test["baselines_nmse_db"]["ista_16"] < -2
    assert record["recipe"]["max_steps"] == 50 and len(record["training"]["stages"]) == 48

    weights = str(run / "checkpoints" / "last.weights.h5")
    assert main(["evaluate", "alista16", *args, "--weights", weights]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test_nmse_db"] == test["test_nmse_db"]

    base = tmp_path / "models"
    assert main(["export", "alista16", "--run", str(run), "--base-dir", str(base)]) == 0
    out = capsys.readouterr().out
    assert "dictionary SHA-256 matches" in out and "recorded alista16" in out
    shipped = zoo.manifest(base)["models"]["alista16"]
    assert shipped["metrics"] == test and shipped["signatures"] == [
        "serving_default",
        "sparse_code",
    ]
    served = export.read_metadata(base / "alista16" / "1")
    assert served["dataset"] == "gaussian_25x50" and served["test"] == test
    # Tampering with the shipped dictionary is caught by the verifier.
    dictionary = base / "alista16" / "1" / "assets.extra" / "dictionary.npy"
    np.save(dictionary, np.zeros((25, 50), np.float32))
    model = zoo.load_weights(zoo.build("alista16", dataset="gaussian_25x50"), weights)
    signals, _ = data.get_problem("gaussian_25x50").sample(4)
    with pytest.raises(ExportVerificationError, match="does not match the SHA-256"):
        export.verify_sparse_coder(base / "alista16" / "1", model, signals)
