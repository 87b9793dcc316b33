"""How sure a measurement repeated over runs is, and whether two of them really differ.

A metric measured on a finite test set and over a few training runs has two sources of noise:

* **test-set sampling**: an accuracy p measured on n images has the binomial standard error
  √(p(1 − p)/n) (about 1.3 points for n = 1000 at p = 0.8);
* **run to run** (labelled subset, initial weights, data order): the sample standard deviation
  s of the R runs' values, which puts a standard error s/√R on their mean.

:func:`estimate` combines them in quadrature, u = √(SE_test² + s²/R), and :func:`compare`
calls a difference between two estimates real only when |Δ| > k·√(u_a² + u_b²) (k = 2, "beyond
2σ"). That is conservative when both are scored on the same test images, whose sampling errors
are then correlated (Dietterich 1998 and Bouthillier et al. 2021 discuss what a fair comparison
of learning algorithms needs; more runs is the reliable remedy).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["Comparison", "Estimate", "compare", "estimate"]


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A measurement over runs.

    Attributes:
        mean: the mean over the runs.
        seed_std: the run-to-run sample standard deviation (``ddof=1``); ``None`` for one run,
            where it cannot be measured.
        uncertainty: the standard error of ``mean``, √(SE_test² + seed_std²/runs).
        runs: how many runs.
    """

    mean: float
    seed_std: float | None
    uncertainty: float
    runs: int

    def to_dict(self) -> dict[str, float | int | None]:
        return dataclasses.asdict(self)


def estimate(values: Sequence[float], test_examples: int | None = None) -> Estimate:
    """The mean of ``values`` (one per run) with its uncertainty.

    Args:
        values: the measurement of each run.
        test_examples: the test-set size when the values are accuracies (fractions in [0, 1]),
            whose binomial sampling error √(p(1 − p)/n) is then counted; ``None`` counts only
            the run-to-run spread (e.g. for a mean Jacobian norm).
    """
    if len(values) == 0:
        raise ValueError("estimate needs at least one value")
    runs = len(values)
    mean = float(np.mean(values))
    seed_std = float(np.std(values, ddof=1)) if runs > 1 else None
    test_se = math.sqrt(mean * (1 - mean) / test_examples) if test_examples else 0.0
    seed_se2 = seed_std**2 / runs if seed_std is not None else 0.0
    return Estimate(mean, seed_std, math.sqrt(test_se**2 + seed_se2), runs)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The difference between two estimates, ``a − b``, against the bound it must exceed.

    Attributes:
        a, b: the estimates compared.
        difference: ``a.mean − b.mean``.
        bound: k·√(u_a² + u_b²).
        sigmas: k.
    """

    a: Estimate
    b: Estimate
    difference: float
    bound: float
    sigmas: float

    @property
    def resolved(self) -> bool:
        """Whether |difference| exceeds the bound."""
        return abs(self.difference) > self.bound

    def describe(self, what: str, fmt: str = ".1%") -> str:
        """The verdict in words, e.g. ``accuracy 62.0% vs 59.7%: higher by 2.3% (> 2σ =
        2.1%)``, each number formatted with ``fmt``."""
        a, b, delta = format(self.a.mean, fmt), format(self.b.mean, fmt), abs(self.difference)
        k, bound = f"{self.sigmas:g}σ", format(self.bound, fmt)
        if not self.resolved:
            return (
                f"{what} {a} vs {b}: no difference this run can resolve "
                f"(|Δ| = {delta:{fmt}} ≤ {k} = {bound})"
            )
        word = "higher" if self.difference > 0 else "lower"
        return f"{what} {a} vs {b}: {word} by {delta:{fmt}} (> {k} = {bound})"


def compare(a: Estimate, b: Estimate, sigmas: float = 2.0) -> Comparison:
    """``a − b`` and whether it is beyond ``sigmas`` combined standard errors (see the module
    docstring)."""
    bound = sigmas * math.sqrt(a.uncertainty**2 + b.uncertainty**2)
    return Comparison(a, b, a.mean - b.mean, bound, sigmas)
