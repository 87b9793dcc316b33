"""keraslab.analysis.uncertainty: uncertainty of a measurement over runs, 2σ comparisons."""

import math

import pytest

from keraslab.analysis.uncertainty import Estimate, compare, estimate


def test_one_accuracy_has_the_binomial_standard_error_of_its_test_set():
    e = estimate([0.8], test_examples=1000)
    assert (e.mean, e.seed_std, e.runs) == (0.8, None, 1)
    assert e.uncertainty == pytest.approx(math.sqrt(0.8 * 0.2 / 1000))  # 1.26 points
    assert e.to_dict() == {"mean": 0.8, "seed_std": None, "uncertainty": e.uncertainty, "runs": 1}
    # Without a test-set size (not an accuracy) a single run has no measurable uncertainty.
    assert estimate([12.5]).uncertainty == 0.0


def test_runs_add_their_spread_in_quadrature():
    values = [0.70, 0.74, 0.72]
    e = estimate(values, test_examples=500)
    assert e.mean == pytest.approx(0.72) and e.seed_std == pytest.approx(0.02)  # ddof = 1
    test_se2 = 0.72 * 0.28 / 500
    assert e.uncertainty == pytest.approx(math.sqrt(test_se2 + 0.02**2 / 3))
    assert estimate([2.0, 4.0]).uncertainty == pytest.approx(math.sqrt(2.0) / math.sqrt(2))
    with pytest.raises(ValueError, match="at least one value"):
        estimate([])


def test_a_difference_counts_only_beyond_the_bound():
    a, b = Estimate(0.62, None, 0.01, 1), Estimate(0.60, None, 0.0075, 1)
    close = compare(a, b)  # 2·√(0.01² + 0.0075²) = 0.025 > 0.02
    assert close.difference == pytest.approx(0.02) and close.bound == pytest.approx(0.025)
    assert not close.resolved
    assert close.describe("accuracy") == (
        "accuracy 62.0% vs 60.0%: no difference this run can resolve (|Δ| = 2.0% ≤ 2σ = 2.5%)"
    )
    loose = compare(a, b, sigmas=1.0)
    assert loose.resolved and loose.describe("accuracy") == (
        "accuracy 62.0% vs 60.0%: higher by 2.0% (> 1σ = 1.2%)"
    )
    assert compare(b, a, sigmas=1.0).describe("FGSM accuracy", ".2f") == (
        "FGSM accuracy 0.60 vs 0.62: lower by 0.02 (> 1σ = 0.01)"
    )
