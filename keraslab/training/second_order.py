"""Double backprop without the second derivatives that are identically zero.

Every input-derivative penalty of keraslab — ‖J_f(x)‖_F² and its projections, ‖J_f(x)‖₂²,
‖∇_x ℓ‖² (Drucker & LeCun 1992), the template reconstruction Jᵀf (Balestriero & Baraniuk
2017) — is trained by differentiating a backward pass with respect to the weights. For a
piecewise-linear op the backward op reads the forward activations only through a locally
constant pattern: ReLU's mask 1{x > 0}, max-pooling's argmax. Its derivative with respect to
those activations is zero almost everywhere, e.g. for g = ReluGrad(δ, x) = δ ⊙ 1{x > 0}:

    ∂g/∂δ = diag(1{x > 0}),    ∂g/∂x = 0.

TensorFlow's registered gradients return that zero as an explicit ``zeros_like`` tensor, and
the tape then back-propagates the zeros through the penalty's whole forward pass —
convolutions and matrix products on zeros: a fifth of a one-projection Jacobian step on LeNet,
half of an exact-norm step (the ablation in ``benchmarks/README.md``).

:func:`skip_zero_second_derivatives` swaps, while a gradient is being computed (or traced,
inside ``tf.function``), the gradient functions of those backward ops for ones that return
TensorFlow's own value for δ and *no gradient* (``None``) for the pattern inputs. The gradients
are the same numbers, except that a variable reached only through such a path gets ``None``
instead of zeros (the biases, for a Jacobian penalty alone). In ``TrainingModel`` that cannot
happen: the data loss reaches every weight the network's forward pass uses, so the optimizer
sees exactly the gradients it would see without the swap. (Asking the tape for zeros instead
would be wrong the other way: a weight the network never uses would then be decayed.)

The swap goes through TensorFlow's private gradient registry
(``tensorflow.python.framework.ops._gradient_registry``): the tape looks gradient functions up by
op type there and does not honour ``gradient_override_map``. If a future TensorFlow changes that
structure, the context does nothing and training is merely slower (:func:`is_supported` says
which).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["PATTERN_INPUTS", "is_supported", "skip_zero_second_derivatives"]

#: Backward op type → the indices of its inputs it reads only as a locally constant pattern,
#: so that its derivative with respect to them is zero almost everywhere.
PATTERN_INPUTS: dict[str, tuple[int, ...]] = {
    "ReluGrad": (1,),  # (δ, features)
    "Relu6Grad": (1,),
    "LeakyReluGrad": (1,),
    "MaxPoolGrad": (0, 1),  # (orig_input, orig_output, δ)
    "MaxPoolGradV2": (0, 1),  # (orig_input, orig_output, δ, ksize, strides)
}

_lock = threading.Lock()
_depth = 0
_saved: dict[str, Any] = {}


def _registry_entries() -> dict[str, Any] | None:
    try:
        from tensorflow.python.framework import ops

        entries = ops._gradient_registry._registry  # noqa: SLF001 (see the module docstring)
    except (ImportError, AttributeError):
        return None
    return entries if isinstance(entries, dict) else None


def _gradient_entry(entries: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The registry's entry for op type ``name``, if it has the expected shape."""
    entry = entries.get(name) if entries is not None else None
    return entry if isinstance(entry, dict) and callable(entry.get("type")) else None


def is_supported() -> bool:
    """Whether this TensorFlow lets :func:`skip_zero_second_derivatives` take effect."""
    entries = _registry_entries()
    return all(_gradient_entry(entries, name) for name in ("ReluGrad", "MaxPoolGrad"))


def _without_pattern_gradients(original: Callable, pattern: tuple[int, ...]) -> Callable:
    def gradient(op: Any, *grads: Any) -> list[Any]:
        results = list(original(op, *grads))
        for index in pattern:
            results[index] = None
        return results

    return gradient


@contextlib.contextmanager
def skip_zero_second_derivatives() -> Iterator[None]:
    """Within the block, gradients of ReLU / leaky ReLU / ReLU6 / max-pooling *backward* ops skip
    the identically zero derivative with respect to their forward activations (module
    docstring). Wrap the ``tape.gradient`` call of a step whose loss contains input
    derivatives. Re-entrant; from several threads it holds until the last block ends, and a
    gradient computed meanwhile in another thread also skips those zeros (same values, ``None``
    where stock TensorFlow gives zeros)."""
    global _depth
    with _lock:
        if _depth == 0:
            entries = _registry_entries() if is_supported() else None
            for name, pattern in PATTERN_INPUTS.items():
                entry = _gradient_entry(entries, name)
                if entry is not None:
                    _saved[name] = entry
                    entries[name] = {
                        **entry,
                        "type": _without_pattern_gradients(entry["type"], pattern),
                    }
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved:
                entries = _registry_entries()
                if entries is not None:
                    entries.update(_saved)
                _saved.clear()
