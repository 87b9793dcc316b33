"""Shipping a run and recording later metrics: the manifest record, the refusals, atomicity.

Every test writes into a temporary base directory, never the repository's savedmodels/."""

import json

import pytest

from keraslab import zoo

RUN = {
    "zoo_name": "small_cnn",
    "dataset": "fashion_mnist_sample",
    "test": {"test_accuracy": 0.8125, "test_loss": 0.5, "test_examples": 1000},
    "recipe": {"epochs": 2, "batch_size": 128},
    "wall_time_s": 12.5,
    "parameters": 1234,
    "machine": {"cpu_count": 2},
    "command": "keraslab train small_cnn --epochs 2",
    "seed": 0,
}


def _run_dir(tmp_path, run=RUN, weights=b"the run's weights"):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(run))
    if weights is not None:
        zoo.run_weights(run_dir).write_bytes(weights)
    return run_dir


def _export_dir(base, name="small_cnn", version=1):
    path = base / name / str(version)
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"")
    return path


def test_publish_writes_the_weights_the_record_and_models_config(tmp_path):
    run_dir, base = _run_dir(tmp_path), tmp_path / "models"
    path = _export_dir(base)
    manifest = zoo.publish(
        "small_cnn",
        zoo.finished_run(run_dir, "small_cnn"),
        path,
        run_dir=run_dir,
        signatures=["serving_default", "features"],
        export_command="keraslab export small_cnn --run run",
        note="a remark",
    )
    assert manifest == base / zoo.MANIFEST
    assert zoo.manifest(base)["models"]["small_cnn"] == {
        "dataset": "fashion_mnist_sample",
        "version": 1,
        "savedmodel": "small_cnn/1",
        "weights": "small_cnn/keras.weights.h5",
        "signatures": ["features", "serving_default"],
        "metrics": RUN["test"],
        "epochs": 2,
        "wall_time_s": 12.5,
        "parameters": 1234,
        "recipe": RUN["recipe"],
        "seed": 0,
        "machine": {"cpu_count": 2},
        "train_command": RUN["command"],
        "export_command": "keraslab export small_cnn --run run",
        "note": "a remark",
    }
    assert (base / "small_cnn" / zoo.WEIGHTS_FILE).read_bytes() == b"the run's weights"
    assert sorted(p.name for p in (base / "small_cnn").iterdir()) == ["1", zoo.WEIGHTS_FILE]
    assert 'name: "small_cnn"' in (base / "models.config").read_text()


def test_a_failed_publish_leaves_nothing_half_written(tmp_path):
    run_dir, base = _run_dir(tmp_path, weights=None), tmp_path / "models"
    path = _export_dir(base)
    with pytest.raises(FileNotFoundError):
        zoo.publish("small_cnn", RUN, path, run_dir=run_dir, signatures=None, export_command="x")
    # Only the export itself: no weights, no temporary file, no manifest, no models.config.
    assert sorted(p.relative_to(base).as_posix() for p in base.rglob("*")) == [
        "small_cnn",
        "small_cnn/1",
        "small_cnn/1/saved_model.pb",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"zoo_name": "lenet"}, "not a finished `keraslab train small_cnn` run .*'lenet'"),
        ({"test": None}, "test metrics recorded: False"),
        ({"limit": 256}, "used --limit 256: its test accuracy is not on the whole test set"),
    ],
)
def test_only_finished_whole_test_set_runs_are_shipped(tmp_path, change, message):
    run = {k: v for k, v in {**RUN, **change}.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        zoo.finished_run(_run_dir(tmp_path, run), "small_cnn")


def _shipped(tmp_path):
    base = tmp_path / "models"
    record = {"dataset": "fashion_mnist_sample", "metrics": {"test_accuracy": 0.8125}}
    zoo.update_manifest("small_cnn", record, directory=base)
    return base, record


def test_check_recordable_refuses_what_cannot_be_recorded(tmp_path):
    base, record = _shipped(tmp_path)
    assert zoo.check_recordable("small_cnn", "fashion_mnist_sample", directory=base) == record
    refusals = [
        (
            ("alista16", "gaussian_250x500"),
            {},
            "alista16 is a sparse coder; its record comes from `keraslab export`",
        ),
        (
            ("small_cnn", "fashion_mnist_sample"),
            {"weights": "w.h5"},
            "--record measures the shipped weights: drop --weights",
        ),
        (("lenet", "fashion_mnist"), {}, f"no lenet is shipped in {base}"),
        (
            ("small_cnn", "mnist"),
            {},
            "the shipped small_cnn was measured on fashion_mnist_sample, not mnist",
        ),
    ]
    for args, kwargs, message in refusals:
        with pytest.raises(ValueError) as refused:
            zoo.check_recordable(*args, directory=base, **kwargs)
        assert str(refused.value) == f"cannot --record: {message}"


def test_record_metrics_adds_only_new_metrics_with_the_command(tmp_path):
    base, record = _shipped(tmp_path)
    same = {"test_accuracy": 0.8125}
    recorded = zoo.record_metrics("small_cnn", same, record, command="c", directory=base)
    assert recorded == zoo.RecordedMetrics([], None)
    assert zoo.manifest(base)["models"]["small_cnn"] == record  # not even the command

    more = {"test_accuracy": 0.81252, "jacobian_frobenius_mean": 3.0, "test_loss": 0.4}
    recorded = zoo.record_metrics("small_cnn", more, record, command="c", directory=base)
    assert recorded == zoo.RecordedMetrics(
        ["jacobian_frobenius_mean", "test_loss"], base / "manifest.json"
    )
    assert zoo.manifest(base)["models"]["small_cnn"] == {
        "dataset": "fashion_mnist_sample",
        # The recorded accuracy stays; only what was missing is added.
        "metrics": {"test_accuracy": 0.8125, "jacobian_frobenius_mean": 3.0, "test_loss": 0.4},
        "evaluate_command": "c",
    }


def test_record_metrics_refuses_disagreeing_weights_and_a_record_changed_meanwhile(tmp_path):
    base, record = _shipped(tmp_path)
    with pytest.raises(ValueError, match="now scores 0.8000, its record says 0.8125"):
        zoo.record_metrics("small_cnn", {"test_accuracy": 0.8}, record, command="c", directory=base)
    zoo.update_manifest("small_cnn", {**record, "version": 2}, directory=base)
    new = {"test_accuracy": 0.8125, "test_loss": 0.4}
    with pytest.raises(ValueError, match="changed while it was being evaluated"):
        zoo.record_metrics("small_cnn", new, record, command="c", directory=base)
    assert "test_loss" not in zoo.manifest(base)["models"]["small_cnn"]["metrics"]
