"""Training-time penalties: the interface every regularizer of keraslab plugs into.

A penalty is a weighted scalar R(f, x, y) added to the data loss inside the one training step
(``keraslab.training.step.TrainingModel``):

    L(θ) = E[ℓ(f_θ(x), y)] + Σ_k w_k · R_k(f_θ, x, y).

Penalties are training-only: the exported model is the plain network. Concrete penalties
subclass :class:`Penalty`; besides :class:`WeightDecay` here they live in sibling modules
(``jacobian``: Jacobian Frobenius / spectral norms and double backprop; ``invariance``;
``semisupervised``: reconstruction and entropy). :func:`get_penalty` and :func:`parse_penalty`
build any of them by name, for the command line.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import keras

from keraslab.errors import InputSpecError, KeraslabError, UnknownNameError

_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class Penalty:
    """Base class of a training penalty ``weight · value(network, x, y, y_pred)``.

    Subclasses implement :meth:`value`, which runs inside the training step's
    ``tf.GradientTape`` (so it may open an inner tape on ``x`` to differentiate the network with
    respect to its input) and must return a scalar tensor: the batch mean, not yet weighted.

    Args:
        weight: the non-negative multiplier w_k.
        name: metric name under which the (unweighted) value is logged; lowercase snake case.
    """

    default_name = "penalty"

    def __init__(self, weight: float = 1.0, name: str | None = None) -> None:
        weight = float(weight)
        if not weight >= 0.0:  # also rejects NaN
            raise ValueError(f"penalty weight must be a non-negative number, got {weight}")
        name = name or self.default_name
        if not _NAME_PATTERN.match(name):
            raise ValueError(
                f"penalty name {name!r} must be lowercase snake case (it becomes a metric name)"
            )
        self.weight = weight
        self.name = name

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        """The unweighted penalty, a scalar tensor (batch mean)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"weight": self.weight, "name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(weight={self.weight}, name={self.name!r})"


class WeightDecay(Penalty):
    """Weight decay R = ½ Σ_l ‖W_l‖_F² over the kernels of the network (biases and batch-norm
    parameters excluded), the classical baseline of the large-margin regularizers (Sokolić et
    al. 2017). Here mostly as the simplest working example of the interface."""

    default_name = "weight_decay"

    def value(self, network: keras.Model, x: Any, y: Any, y_pred: Any) -> Any:
        kernels = [v for v in network.trainable_weights if v.path.endswith("kernel")]
        if not kernels:
            return keras.ops.zeros((), dtype="float32")
        return 0.5 * keras.ops.sum(
            keras.ops.stack(
                [keras.ops.sum(keras.ops.square(keras.ops.cast(k, "float32"))) for k in kernels]
            )
        )


def _factories() -> dict[str, Callable[..., Penalty]]:
    # Imported here, not at the top: the sibling modules import Penalty from this one.
    from keraslab.training.invariance import Invariance
    from keraslab.training.jacobian import InputGradient, JacobianFrobenius, JacobianSpectral
    from keraslab.training.semisupervised import PredictionEntropy, Reconstruction

    def jacobian(weight: float = 1.0, name: str | None = None) -> Penalty:
        return JacobianFrobenius(weight, projections=None, name=name)

    def jacobian_projection(
        weight: float = 1.0, projections: int = 1, name: str | None = None
    ) -> Penalty:
        return JacobianFrobenius(weight, projections=projections, name=name)

    return {
        "weight_decay": WeightDecay,
        "jacobian": jacobian,
        "jacobian_projection": jacobian_projection,
        "jacobian_spectral": JacobianSpectral,
        "input_gradient": InputGradient,
        "invariance": Invariance,
        "reconstruction": Reconstruction,
        "entropy": PredictionEntropy,
    }


#: The names :func:`get_penalty` and :func:`parse_penalty` accept.
PENALTY_NAMES = (
    "weight_decay",
    "jacobian",
    "jacobian_projection",
    "jacobian_spectral",
    "input_gradient",
    "invariance",
    "reconstruction",
    "entropy",
)


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
    factories = _factories()
    if name not in factories:
        raise UnknownNameError(f"unknown penalty {name!r}; valid names: {', '.join(PENALTY_NAMES)}")
    factory = factories[name]
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


__all__ = ["PENALTY_NAMES", "Penalty", "WeightDecay", "get_penalty", "parse_penalty"]
