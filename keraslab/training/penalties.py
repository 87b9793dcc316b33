"""The registry of training penalties: every concrete penalty by name, for recipes and the
command line.

Each name is written once, in :data:`_FACTORIES`; :data:`PENALTY_NAMES`, the error messages and
the tests read it from there. A name maps to a class of :mod:`keraslab.training.penalty`'s
interface (or a small function fixing one of its options), so :func:`get_penalty` can list and
check the options a name takes from its signature. The registry imports every concrete penalty
at the top: it sits above them, and they import only the base class
(:mod:`keraslab.training.penalty`), so there is no import cycle.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from keraslab.errors import InputSpecError, KeraslabError, UnknownNameError
from keraslab.training.invariance import Invariance
from keraslab.training.jacobian import InputGradient, JacobianFrobenius, JacobianSpectral
from keraslab.training.penalty import Penalty, WeightDecay
from keraslab.training.semisupervised import PredictionEntropy, Reconstruction


def _jacobian(weight: float = 1.0, name: str | None = None) -> Penalty:
    return JacobianFrobenius(weight, projections=None, name=name)


def _jacobian_projection(
    weight: float = 1.0, projections: int = 1, name: str | None = None
) -> Penalty:
    return JacobianFrobenius(weight, projections=projections, name=name)


_FACTORIES: dict[str, Callable[..., Penalty]] = {
    "weight_decay": WeightDecay,
    "jacobian": _jacobian,
    "jacobian_projection": _jacobian_projection,
    "jacobian_spectral": JacobianSpectral,
    "input_gradient": InputGradient,
    "invariance": Invariance,
    "reconstruction": Reconstruction,
    "entropy": PredictionEntropy,
}

#: The names :func:`get_penalty` and :func:`parse_penalty` accept, in the registry's order.
PENALTY_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def _options(factory: Callable[..., Penalty]) -> list[str]:
    return [p for p in inspect.signature(factory).parameters if p not in ("self", "weight")]


def get_penalty(name: str, weight: float = 1.0, **options: Any) -> Penalty:
    """A penalty by name: ``weight_decay`` (½Σ‖W‖²), ``jacobian`` (exact ‖J_f(x)‖_F²),
    ``jacobian_projection`` (its random-projection estimate; option ``projections``, default
    1), ``jacobian_spectral`` (‖J_f(x)‖₂²; ``iterations``), ``input_gradient``
    (‖∇_x ℓ‖², double backprop), ``invariance`` (``transforms``, ``feature_layer``),
    ``reconstruction`` (``template``), ``entropy``.

    Raises:
        UnknownNameError: unknown name or option (the message lists the valid ones).
        InputSpecError: an invalid weight or option value.
    """
    if name not in _FACTORIES:
        raise UnknownNameError(f"unknown penalty {name!r}; valid names: {', '.join(PENALTY_NAMES)}")
    factory = _FACTORIES[name]
    unknown = sorted(set(options) - set(_options(factory)))
    if unknown:
        raise UnknownNameError(
            f"penalty {name!r} has no option(s) {', '.join(unknown)}; its options: "
            f"{', '.join(_options(factory)) or 'none'}"
        )
    try:
        return factory(weight, **options)
    except KeraslabError:
        raise
    except (TypeError, ValueError) as e:
        raise InputSpecError(f"invalid penalty {name!r} (weight {weight!r}): {e}") from None


def _option_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if "+" in text:  # a list, e.g. transforms=shift:2+rotate:10
        return [part for part in text.split("+") if part]
    return text


def parse_penalty(spec: str) -> Penalty:
    """A penalty from the command line's ``NAME:WEIGHT[:OPTION=VALUE,...]`` syntax.

    Examples: ``"jacobian:0.01"``, ``"jacobian_projection:0.01:projections=2"``,
    ``"jacobian_spectral:0.001:iterations=5"``,
    ``"invariance:0.1:transforms=shift:2+rotate:10"`` (a list is joined with ``+``).

    Raises:
        UnknownNameError: unknown penalty name or option (the message lists the valid ones).
        InputSpecError: a malformed spec or an invalid weight or value.
    """
    parts = str(spec).strip().split(":", 2)
    name = parts[0].strip()
    if name not in PENALTY_NAMES:
        raise UnknownNameError(
            f"unknown penalty {name!r} in {spec!r}; valid names: {', '.join(PENALTY_NAMES)}"
        )
    if len(parts) < 2 or not parts[1].strip():
        raise InputSpecError(
            f"penalty {spec!r} needs a weight: NAME:WEIGHT[:OPTION=VALUE,...], e.g. {name}:0.01"
        )
    try:
        weight = float(parts[1])
    except ValueError:
        raise InputSpecError(
            f"penalty weight {parts[1]!r} in {spec!r} is not a number "
            "(syntax: NAME:WEIGHT[:OPTION=VALUE,...])"
        ) from None
    options: dict[str, Any] = {}
    if len(parts) == 3:
        for item in filter(None, (i.strip() for i in parts[2].split(","))):
            key, sep, text = item.partition("=")
            if not sep or not key.strip():
                raise InputSpecError(f"penalty option {item!r} in {spec!r} must read OPTION=VALUE")
            options[key.strip()] = _option_value(text.strip())
    return get_penalty(name, weight, **options)


__all__ = ["PENALTY_NAMES", "get_penalty", "parse_penalty"]
