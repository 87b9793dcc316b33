"""The Keras contract every keraslab layer and model keeps (docs/design.md, "Contracts"), checked
the way Keras's own ``run_layer_test`` checks its layers, but from outside and on keraslab's terms.

``check_layer_contract(make, batch, directory=…)`` builds a fresh layer from ``make()`` and checks

1. a keraslab class is registered as ``keraslab>ClassName``;
2. it builds on a symbolic input with an unknown batch size, and ``compute_output_shape`` of
   that input's shape is the symbolic output's shape;
3. called eagerly on a concrete batch and on its first example (two batch sizes: the batch is
   dynamic), the outputs have the symbolic output's shape and the first example's output is
   the same either way;
4. ``tf.function`` with a relaxed batch dimension (and, with ``jit_compile=True``, XLA) gives
   the eager outputs;
5. ``get_config`` → ``from_config`` and ``serialize`` → ``deserialize`` keep the config, and the
   clone given the original's weights gives the same outputs;
6. a ``.keras`` file of a functional model around it loads back to the same weights and outputs.

Float weights are first moved off their initialisation (w ← w·U(0.9, 1.1) + U(0, 0.01): zeros
move too, and variances and thresholds stay positive), so that a round trip that silently
re-initialises a weight fails. Round trips must reproduce the outputs exactly.

Test files import it by name (``pythonpath`` in pyproject.toml puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf


def call_once(layer: Any, x: Any) -> Any:
    """The default way to apply a layer: one call on one input (Keras's inference mode)."""
    return layer(x)


@dataclasses.dataclass
class ContractResult:
    """What a contract check built, for the assertions a test adds on top.

    Attributes:
        layer: the layer under test, built, with its perturbed weights.
        outputs: its eager outputs on the whole batch (NumPy; nested like the layer's).
        model: the functional model around it that was saved.
        loaded: the same layer as loaded back from the ``.keras`` file.
    """

    layer: Any
    outputs: Any
    model: keras.Model
    loaded: Any


def _numpy(structure: Any) -> Any:
    return tf.nest.map_structure(lambda t: np.asarray(t), structure)


def _assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    tf.nest.assert_same_structure(actual, expected)
    for a, e in zip(tf.nest.flatten(actual), tf.nest.flatten(expected), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=atol, err_msg=what)


def _shapes(structure: Any) -> list[tuple[int | None, ...]]:
    return [tuple(t.shape) for t in tf.nest.flatten(structure)]


def _perturb(layer: Any, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        if keras.backend.is_float_dtype(w.dtype):
            value = np.asarray(w) * rng.uniform(0.9, 1.1, w.shape) + rng.uniform(0, 0.01, w.shape)
            w.assign(value.astype(w.dtype))


def check_layer_contract(
    make: Callable[[], Any],
    batch: np.ndarray,
    *,
    directory: Path,
    call: Callable[[Any, Any], Any] = call_once,
    jit_compile: bool = False,
    perturb: bool = True,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> ContractResult:
    """Check the Keras contract (module docstring) of ``make()`` on ``batch`` (≥ 2 examples).

    Args:
        make: returns a fresh, unbuilt layer (or model) each call.
        batch: a concrete input batch; its first axis is the batch axis.
        directory: where the ``.keras`` file goes (a test's ``tmp_path``).
        call: how to apply the layer to an input (e.g. a LISTA cell twice: ``z₁ = c(x)``,
            ``c(x, z₁)``); it must be the same computation symbolically and eagerly.
        jit_compile: also check XLA against eager.
        perturb: move float weights off their initialisation before anything is compared.
        rtol, atol: tolerance of batch 1 and graph / XLA against eager (round trips must be
            exact).

    Returns:
        what it built (:class:`ContractResult`).
    """
    assert batch.ndim >= 1 and len(batch) >= 2, "give a batch of at least two examples"
    layer = make()
    cls = type(layer)
    if cls.__module__.startswith("keraslab."):
        registered = keras.saving.get_registered_name(cls)
        assert registered == f"keraslab>{cls.__name__}", registered

    # Symbolic build, batch size unknown.
    inputs = keras.Input(batch.shape[1:], dtype=str(batch.dtype))
    symbolic = call(layer, inputs)
    model = keras.Model(inputs, symbolic)
    symbolic_shapes = _shapes(symbolic)
    assert all(s[0] is None for s in symbolic_shapes), symbolic_shapes
    computed = layer.compute_output_shape(tuple(inputs.shape))
    computed_shapes = _shape_leaves(computed)
    assert computed_shapes == symbolic_shapes, (computed_shapes, symbolic_shapes)
    if perturb:
        _perturb(layer)

    # Two batch sizes, eagerly.
    x = tf.constant(batch)
    outputs = _numpy(call(layer, x))
    first = _numpy(call(layer, x[:1]))
    for size, out in ((len(batch), outputs), (1, first)):
        expected = [(size, *s[1:]) for s in symbolic_shapes]
        assert _shapes(out) == expected, (size, _shapes(out), expected)
    _assert_close(first, tf.nest.map_structure(lambda o: o[:1], outputs), rtol, atol, "batch 1")

    # Graph (and XLA) with a relaxed batch dimension, against eager.
    spec = tf.TensorSpec((None, *batch.shape[1:]), x.dtype)
    for jit in (False, True) if jit_compile else (False,):
        compiled = tf.function(lambda t: call(layer, t), input_signature=[spec], jit_compile=jit)
        _assert_close(compiled(x), outputs, rtol, atol, f"tf.function(jit_compile={jit})")
        assert _shapes(compiled(x[:1])) == _shapes(first)

    # Config and serialization round trips: same config, and same outputs with the same weights.
    config = layer.get_config()
    clone = cls.from_config(copy.deepcopy(config))  # a functional model's from_config eats it
    assert clone.get_config() == config
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(rebuilt) is cls and rebuilt.get_config() == config
    call(clone, x)  # builds it
    clone.set_weights(layer.get_weights())
    _assert_close(_numpy(call(clone, x)), outputs, 0, 0, "from_config with the same weights")

    # A .keras file of a model around it.
    path = Path(directory) / f"{layer.name}.keras"
    model.save(path)
    loaded_model = keras.saving.load_model(path)
    assert len(loaded_model.weights) == len(model.weights)
    for a, b in zip(model.weights, loaded_model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    loaded = loaded_model.get_layer(layer.name)
    assert type(loaded) is cls
    _assert_close(_numpy(loaded_model(x)), outputs, 0, 0, ".keras round trip")
    return ContractResult(layer=layer, outputs=outputs, model=model, loaded=loaded)


def _shape_leaves(shapes: Any) -> list[tuple[int | None, ...]]:
    """``compute_output_shape``'s result (one shape, or a list / dict of them) as a flat list: a
    shape is a tuple of ints and Nones, so it cannot be flattened like other structures."""
    if isinstance(shapes, dict):
        return [s for key in sorted(shapes) for s in _shape_leaves(shapes[key])]
    if all(v is None or isinstance(v, int) for v in shapes):
        return [tuple(shapes)]
    return [s for item in shapes for s in _shape_leaves(item)]
