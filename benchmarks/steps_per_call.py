"""``--steps-per-call`` of the penalty-cost benchmarks (``penalty_cost.py`` and its PyTorch
reference, which must not import TensorFlow): how many training steps one timed call runs,
for every model or per model."""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT = "*"


def parse_steps_per_call(items: Iterable[str], models: Iterable[str]) -> dict[str, int]:
    """``["20"]`` → ``{"*": 20}``; ``["lenet=20", "mlp=300"]`` → per model.

    Raises:
        ValueError: an item that is not ``K`` or ``MODEL=K`` with a known model and K ≥ 1.
    """
    known = set(models)
    table = {}
    for item in items:
        model, _, k = item.rpartition("=")
        if model and model not in known or not k.isdigit() or int(k) < 1:
            raise ValueError(f"--steps-per-call takes K or MODEL=K with K >= 1, got {item!r}")
        table[model or DEFAULT] = int(k)
    return table


def steps_for_model(table: dict[str, int], model: str) -> int:
    """The steps per call for ``model``: its own entry, else the default, else 1."""
    return table.get(model, table.get(DEFAULT, 1))
