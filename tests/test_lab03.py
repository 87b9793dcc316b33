"""Lab 03 (invertible networks) runs end to end as a student would run it (one epoch on the
embedded Fashion-MNIST sample), leaving its plots and sensible numbers in results.json."""

import pytest

pytestmark = pytest.mark.slow  # runs the lab in a subprocess


def test_lab03_runs_and_reports_invertibility_and_separation(tmp_path, run_lab):
    results, _ = run_lab("03_invertible.py", tmp_path)
    for plot in ("psi.png", "reconstruction.png", "separation.png", "pca.png", "interpolation.png"):
        assert (tmp_path / plot).stat().st_size > 10_000, plot
    assert results["psi"]["exact"]
    assert results["block"]["relative_error"] <= 1e-5
    assert results["model"]["feature_shape"] == [7, 7, 128]
    for when in ("untrained", "trained"):
        reconstruction = results["reconstruction"][when]
        assert reconstruction["num_examples"] == 1000
        assert reconstruction["max_relative_error"] <= 1e-4, when
    assert results["training"]["epochs"] == 1
    assert 0.1 < results["test_accuracy"] <= 1.0

    separation = results["separation"]
    for when in ("untrained", "trained"):
        curves = separation[when]
        assert curves["depths"] == list(range(9))
        for key in ("linear_probe", "nearest_neighbor"):
            assert len(curves[key]) == 9 and all(0.0 <= v <= 1.0 for v in curves[key])
        assert all(0.0 < r < 1.0 for r in curves["ratio"])
    trained = separation["trained"]
    # Depth 0 is four sub-grid means of the image (close to chance); the last block separates
    # far better (measured after 1 epoch: probe 0.20 → 0.74, 1-NN 0.22 → 0.66).
    assert trained["linear_probe"][-1] > trained["linear_probe"][0] + 0.2
    assert trained["nearest_neighbor"][-1] > trained["nearest_neighbor"][0] + 0.2
    assert 0.5 < separation["pixels"]["linear_probe"] <= 1.0

    assert len(results["pca"]["components_for_90pct_variance"]) == 9
    assert max(results["interpolation"]["endpoint_errors"]) <= 1e-4
    assert (tmp_path / "run" / "run.json").exists()
