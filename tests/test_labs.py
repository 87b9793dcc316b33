"""The labs run end to end as a student would run them (one short epoch), leaving their outputs."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # each test runs a lab in a subprocess


def test_lab01_runs_and_leaves_plots_results_and_a_verified_export(tmp_path, run_lab):
    results, _ = run_lab("01_baseline_cnn.py", tmp_path)
    for plot in ("samples.png", "learning_curves.png", "confusion_matrix.png"):
        assert (tmp_path / plot).stat().st_size > 10_000
    assert results["data"] == {"train": 4000, "test": 1000, "source": "embedded"}
    assert 0.5 < results["test_accuracy"] <= 1.0
    assert results["export"]["max_abs_logit_diff"] < 1e-4
    assert (tmp_path / "savedmodels" / "lenet" / "1" / "saved_model.pb").exists()


def test_lab02_runs_and_reports_the_scattering_properties(tmp_path, run_lab):
    """Without --quick (but one epoch) the lab also classifies CIFAR-10 where the machine has
    it: here a tiny CIFAR-10 written in the original binary format (the real one is not
    reachable from the development machine)."""
    from keraslab.data.formats import write_cifar10_binary

    rng = np.random.default_rng(0)
    batches = tmp_path / "data" / "cifar10" / "cifar-10-batches-bin"
    batches.mkdir(parents=True)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        images = rng.integers(0, 256, size=(26, 32, 32, 3), dtype=np.uint8)
        write_cifar10_binary(batches / name, images, np.arange(26, dtype=np.uint8) % 10)
    out = tmp_path / "lab"
    results, _ = run_lab(
        "02_scattering.py", out, quick=False, env={"KERASLAB_DATA": str(tmp_path / "data")}
    )
    tmp_path = out
    for plot in (
        "filters.png",
        "coefficients.png",
        "energy.png",
        "properties.png",
        "classification.png",
    ):
        assert (tmp_path / plot).stat().st_size > 10_000
    props = results["properties"]
    assert props["nonexpansive_max_ratio"] <= 1.05
    assert props["translation"]["scattering"][0] < props["translation"]["pixels"][0]
    assert props["deformation"]["scattering"][-1] < props["deformation"]["fourier_modulus"][-1]
    assert max(props["rotation_90deg_max_relative_error"].values()) < 1e-5
    assert results["scattering_linear"]["test_accuracy"] > 0.5
    cifar = results["cifar10"]
    assert set(cifar) == {"scattering_linear", "scattering_cnn"}
    assert all(0.0 <= r["test_accuracy"] <= 1.0 and r["epochs"] == 1 for r in cifar.values())


def test_lab08_finetunes_exports_and_serves_through_both_signatures(tmp_path, run_lab):
    pytest.importorskip("sklearn")
    results, stdout = run_lab("08_finetune_and_serve.py", tmp_path, "--freeze-epochs", "2")
    for plot in ("samples.png", "learning_curves.png", "predictions.png", "confusion_matrix.png"):
        assert (tmp_path / plot).stat().st_size > 10_000
    assert results["data"]["classes"] == [f"digit_{k}" for k in range(10)]
    assert (results["data"]["train"], results["data"]["validation"]) == (1199, 299)
    assert results["data"]["test"] == 299
    assert [len(h) for h in results["finetune"]["history"].values()] == [2, 1]
    export = results["export"]
    assert export["signatures"] == ["serving_bytes", "serving_default"]
    assert export["warmup_records"] == 4
    assert (tmp_path / "exports" / "digits" / "1" / "saved_model.pb").exists()
    serving = results["serving"]
    assert np.sum(serving["confusion_matrix"]) == 299
    # 3 epochs from lenet's weights already beat chance (10%) by far on the unseen test files.
    for signature in ("serving_default", "serving_bytes"):
        assert 0.3 < serving[signature]["accuracy"] <= 1.0
        assert set(serving[signature]["first_predictions"]) <= set(results["data"]["classes"])
    assert serving["same_class_both_signatures"] > 0.95
    assert '"image_bytes": {"b64": "iVBOR' in stdout  # the REST body carries base64 PNGs
