"""Lab 05 (regularized training) runs end to end as a student would run it (one short epoch)."""

import pytest

pytestmark = pytest.mark.slow  # runs the lab in a subprocess


CONDITIONS = ("none", "weight decay", "Jacobian (1 projection)", "Jacobian (exact)", "invariance")


def check_measurements(summary, runs, epsilons):
    for key in ("test_accuracy", "fgsm_accuracy"):
        assert 0.0 <= summary[key]["mean"] <= 1.0
    assert summary["jacobian_mean"]["mean"] > 0
    (run,) = runs
    curve = run["fgsm"]
    assert curve["epsilons"] == epsilons and curve["samples"] == 1000
    assert curve["accuracy"][0] == run["test_accuracy"]  # ε = 0 is the clean accuracy
    assert curve["accuracy"][-1] <= curve["accuracy"][0]
    for where in ("jacobian_test", "jacobian_train"):
        stats = run[where]
        assert 0 < stats["min"] <= stats["q50"] <= stats["max"]


def test_lab05_compares_penalties_and_semi_supervised_training(tmp_path, run_lab):
    results, stdout = run_lab("05_regularization.py", tmp_path)
    for plot in (
        "regularization.png",
        "fgsm_curves.png",
        "jacobian_norms.png",
        "fgsm_examples.png",
        "semi_supervised.png",
    ):
        assert (tmp_path / plot).stat().st_size > 10_000, plot
    setup = results["setup"]
    assert results["repeats"] == 1 and results["epochs"] == 1
    assert setup["labelled"] == 500 and setup["test_images"] == 1000
    assert setup["fgsm_epsilon"] in setup["fgsm_epsilons"] and setup["fgsm_epsilons"][0] == 0.0
    assert list(results["conditions"]) == list(CONDITIONS)
    for name in CONDITIONS:
        condition = results["conditions"][name]
        check_measurements(condition["summary"], condition["runs"], setup["fgsm_epsilons"])
    # Even one epoch on 500 images beats chance (10 classes) by a wide margin.
    assert results["conditions"]["none"]["summary"]["test_accuracy"]["mean"] > 0.3
    # The penalties were trained and logged under their names.
    finals = {n: results["conditions"][n]["runs"][0]["final_train"] for n in CONDITIONS}
    assert finals["weight decay"]["weight_decay"] > 0
    assert finals["Jacobian (1 projection)"]["jacobian_projection"] > 0
    assert finals["Jacobian (exact)"]["jacobian"] > 0
    assert finals["invariance"]["invariance"] > 0
    semi = results["semi_supervised"]
    assert semi["labelled"] == 50 and semi["alpha"] == 0.7
    assert [p["type"] for p in semi["penalties"]] == ["Reconstruction", "PredictionEntropy"]
    assert list(semi["conditions"]) == ["supervised only", "semi-supervised"]
    for condition in semi["conditions"].values():
        check_measurements(condition["summary"], condition["runs"], setup["fgsm_epsilons"])
    assert set(results["verdicts"]) == {*CONDITIONS[1:], "semi-supervised vs supervised only"}
    assert "single runs" in stdout and (tmp_path / "summary.txt").exists()
