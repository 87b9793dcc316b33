"""The labs run end to end as a student would run them (one short epoch), leaving their outputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

LABS = Path(__file__).resolve().parent.parent / "labs"


def run_lab(script, out, *args):
    env = {**os.environ, "KERASLAB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, str(LABS / script), "--quick", "--epochs", "1", "--out", str(out), *args],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / "results.json").read_text())


def test_lab01_runs_and_leaves_plots_results_and_a_verified_export(tmp_path):
    results = run_lab("01_baseline_cnn.py", tmp_path)
    for plot in ("samples.png", "learning_curves.png", "confusion_matrix.png"):
        assert (tmp_path / plot).stat().st_size > 10_000
    assert results["data"] == {"train": 4000, "test": 1000, "source": "embedded"}
    assert 0.5 < results["test_accuracy"] <= 1.0
    assert results["export"]["max_abs_logit_diff"] < 1e-4
    assert (tmp_path / "savedmodels" / "lenet" / "1" / "saved_model.pb").exists()


def test_lab02_runs_and_reports_the_scattering_properties(tmp_path):
    results = run_lab("02_scattering.py", tmp_path)
    for plot in ("filters.png", "coefficients.png", "energy.png", "properties.png",
                 "classification.png"):  # fmt: skip
        assert (tmp_path / plot).stat().st_size > 10_000
    props = results["properties"]
    assert props["nonexpansive_max_ratio"] <= 1.05
    assert props["translation"]["scattering"][0] < props["translation"]["pixels"][0]
    assert props["deformation"]["scattering"][-1] < props["deformation"]["fourier_modulus"][-1]
    assert max(props["rotation_90deg_max_relative_error"].values()) < 1e-5
    assert results["scattering_linear"]["test_accuracy"] > 0.5
