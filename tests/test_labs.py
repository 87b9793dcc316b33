"""Lab 01 runs end to end as a student would run it (one short epoch), leaving its outputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

LABS = Path(__file__).resolve().parent.parent / "labs"


def test_lab01_runs_and_leaves_plots_results_and_a_verified_export(tmp_path):
    env = {**os.environ, "KERASLAB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, str(LABS / "01_baseline_cnn.py"), "--epochs", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    for plot in ("samples.png", "learning_curves.png", "confusion_matrix.png"):
        assert (tmp_path / plot).stat().st_size > 10_000
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["data"] == {"train": 4000, "test": 1000, "source": "embedded"}
    assert 0.5 < results["test_accuracy"] <= 1.0
    assert results["export"]["max_abs_logit_diff"] < 1e-4
    assert (tmp_path / "savedmodels" / "lenet" / "1" / "saved_model.pb").exists()
