"""Export a sparse coder (signal → code, e.g. a trained LISTA network) for TF Serving.

``base_dir/<name>/<version>/`` holds a SavedModel whose ``serving_default`` and
``sparse_code`` signatures (the same function) take ``signal`` — float32 ``(batch, m)`` — and
return ``code`` ``(batch, n)``, the sparse code ẑ, and ``reconstruction`` ``(batch, m)``,
A ẑ. The dictionary A travels with it as ``assets.extra/dictionary.npy`` (float32, ``m × n``)
with its SHA-256 in ``assets.extra/keraslab.json``, so a client can check which A the codes
refer to. Written atomically, never overwriting a version, like
:func:`keraslab.export.saved_model`.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keraslab.errors import InputSpecError
from keraslab.export.saved_model import _claim_version, write_version

SIGNAL_INPUT = "signal"
CODE_OUTPUTS = ("code", "reconstruction")
DICTIONARY_FILE = "dictionary.npy"


def dictionary_bytes(dictionary: np.ndarray) -> bytes:
    """The ``.npy`` bytes of ``dictionary`` as float32 (what the export ships and hashes)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(dictionary, np.float32), allow_pickle=False)
    return buffer.getvalue()


def saved_sparse_coder(
    model: keras.Model,
    base_dir: str | os.PathLike,
    name: str,
    version: int | None = None,
    *,
    dictionary: np.ndarray,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Export ``model`` (signals ``(batch, m)`` → codes ``(batch, n)``) with its dictionary.

    Args:
        model: maps signals to codes; its last output is used when it has several (a LISTA
            network built with ``return_all=True``).
        base_dir: parent of the TF Serving model directory (e.g. ``savedmodels``).
        name: model name (directory).
        version: positive integer; default: the next free one.
        dictionary: A, ``(m, n)``: ``reconstruction = code · Aᵀ``.
        metadata: more JSON-serializable facts for ``keraslab.json`` (NMSE, problem…).

    Returns:
        The path of the new version directory.

    Raises:
        InputSpecError: the model's input is not ``(batch, m)`` or A is not ``(m, n)``.
        ExportExistsError: that version already exists.
    """
    A = np.asarray(dictionary, np.float32)
    input_shape = tuple(getattr(model, "input_shape", ()) or ())
    if len(input_shape) != 2 or input_shape[1] is None:
        raise InputSpecError(
            f"model {model.name!r} has input shape {input_shape}; a sparse coder takes signals "
            "(batch, m) — build it with keras.Input((m,))"
        )
    m = int(input_shape[1])
    if A.ndim != 2 or A.shape[0] != m:
        raise InputSpecError(
            f"the dictionary has shape {A.shape}; it must be (m, n) with m = {m}, the signal "
            "length the model takes"
        )
    model_dir, version = _claim_version(base_dir, name, version)

    module = tf.Module()
    module.keraslab_variables = [v.value for v in model.variables]
    module.dictionary = tf.Variable(A, trainable=False, name="dictionary")

    def sparse_code(signal: tf.Tensor) -> dict[str, tf.Tensor]:
        out = model(signal, training=False)
        code = tf.cast(out[-1] if isinstance(out, (list, tuple)) else out, tf.float32)
        return {
            "code": code,
            "reconstruction": tf.matmul(code, module.dictionary, transpose_b=True),
        }

    spec = tf.TensorSpec((None, m), tf.float32, name=SIGNAL_INPUT)
    traced = tf.function(sparse_code, input_signature=[spec], autograph=False)
    module.sparse_code = traced
    concrete = traced.get_concrete_function()
    content = dictionary_bytes(A)
    info = {
        "name": name,
        "version": version,
        "keras_model": model.name,
        "task": "sparse_coding",
        "input_shape": [m],
        "input_dtype": "float32",
        "dictionary": {
            "file": DICTIONARY_FILE,
            "shape": list(A.shape),
            "sha256": hashlib.sha256(content).hexdigest(),
        },
        "signatures": {
            sig: {"inputs": [SIGNAL_INPUT], "outputs": list(CODE_OUTPUTS)}
            for sig in ("serving_default", "sparse_code")
        },
        **(metadata or {}),
    }
    return write_version(
        module,
        {"serving_default": concrete, "sparse_code": concrete},
        model_dir,
        version,
        info,
        extra_files={DICTIONARY_FILE: content},
    )


__all__ = [
    "CODE_OUTPUTS",
    "DICTIONARY_FILE",
    "SIGNAL_INPUT",
    "dictionary_bytes",
    "saved_sparse_coder",
]
