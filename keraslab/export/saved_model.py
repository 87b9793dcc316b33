"""Write versioned SavedModels in the layout TF Serving loads as is.

``base_dir/<name>/<version>/`` holds ``saved_model.pb``, ``variables/`` and
``assets.extra/keraslab.json`` (preprocessing, class names, signatures). The version directory
is first written under a hidden temporary sibling (``.tmp-…``, which TF Serving ignores because
it only loads all-digit directory names) and then renamed into place, so a server polling
``base_dir/<name>`` never sees a half-written model and an existing version is never replaced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keraslab.errors import ExportExistsError, InputSpecError

METADATA_FILE = "keraslab.json"
SERVING_INPUT = "image"
SERVING_OUTPUTS = ("logits", "probabilities", "class_id")


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Raw pixels → network input: ``x = (pixels · scale − mean) / std`` (per channel).

    ``keraslab.data`` normalizes training images exactly this way, so baking it into the
    serving signature lets clients send raw ``uint8`` pixels.
    """

    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    scale: float = 1.0 / 255.0

    def __post_init__(self) -> None:
        mean = tuple(float(m) for m in np.atleast_1d(self.mean))
        std = tuple(float(s) for s in np.atleast_1d(self.std))
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def apply(self, pixels: Any) -> Any:
        """Normalize a float tensor or array of raw pixels (works in TF graphs and NumPy)."""
        mean = np.asarray(self.mean, np.float32)
        inv_std = np.asarray([1.0 / s for s in self.std], np.float32)
        return (pixels * np.float32(self.scale) - mean) * inv_std

    def restore(self, x: Any) -> Any:
        """The inverse of :meth:`apply`: network inputs → raw pixels, ``(x · std + mean) / scale``
        (float, not rounded: an invertible model's reconstructions are compared as they are)."""
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        return (x * std + mean) * np.float32(1.0 / self.scale)


def next_version(model_dir: str | os.PathLike) -> int:
    """One more than the largest all-digit version directory in ``model_dir`` (1 if none)."""
    path = Path(model_dir)
    versions = [int(p.name) for p in path.iterdir() if p.name.isdigit()] if path.is_dir() else []
    return max(versions, default=0) + 1


def _classifier_endpoint(
    model: keras.Model, preprocessing: Preprocessing
) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    def serve(image: tf.Tensor) -> dict[str, tf.Tensor]:
        x = preprocessing.apply(tf.cast(image, tf.float32))
        logits = tf.cast(model(x, training=False), tf.float32)
        return {
            "logits": logits,
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "class_id": tf.argmax(logits, axis=-1, output_type=tf.int64),
        }

    return serve


def saved_model(
    model: keras.Model,
    base_dir: str | os.PathLike,
    name: str,
    version: int | None = None,
    *,
    preprocessing: Preprocessing | None = None,
    class_names: Sequence[str] | None = None,
    extra_signatures: dict[str, tuple[Callable[..., Any], Sequence[tf.TensorSpec]]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Export a classifier as ``base_dir/name/version/`` for TF Serving, atomically.

    Signatures:
        ``serving_default``: input ``image`` — raw pixels, ``uint8`` ``(batch, H, W, C)`` with
        dynamic batch; outputs ``logits`` (float32), ``probabilities`` (softmax) and
        ``class_id`` (int64 argmax). Preprocessing is baked in.
        ``extra_signatures``: ``{name: (fn, input_signature)}`` for model-specific endpoints
        (``features``, ``inverse``, ``scattering``…); each ``fn`` returns a dict of named tensors.

    Args:
        model: the plain network (normalized images → logits), not a training wrapper.
        base_dir: the TF Serving model base directory's parent (e.g. ``savedmodels``).
        name: model name (the directory TF Serving is pointed at).
        version: positive integer; default: the next free one.
        preprocessing: how raw pixels become network inputs (default: divide by 255).
        class_names: stored in ``assets.extra/keraslab.json`` for clients.
        metadata: more JSON-serializable facts for ``keraslab.json`` (dataset, metrics…).

    Returns:
        The path of the new version directory.

    Raises:
        ExportExistsError: that version already exists (it is never overwritten).
        InputSpecError: the model's input is not ``(batch, H, W, C)``.
    """
    _check_name(name, version)
    input_shape = tuple(model.input_shape) if hasattr(model, "input_shape") else None
    if input_shape is None or len(input_shape) != 4 or None in input_shape[1:]:
        raise InputSpecError(
            f"model {model.name!r} has input shape {input_shape}; export needs a fixed "
            "(batch, height, width, channels) image input — build the model with keras.Input"
        )
    preprocessing = preprocessing or Preprocessing()
    model_dir, version = _claim_version(base_dir, name, version)

    # A plain tf.Module that tracks the underlying tf.Variables once. (Keras 3.15's
    # keras.export.ExportArchive stores every variable twice: a 6.7 MB LeNet became a 13 MB
    # SavedModel.)
    module = tf.Module()
    module.keraslab_variables = [v.value for v in model.variables]
    image_spec = tf.TensorSpec((None, *input_shape[1:]), tf.uint8, name=SERVING_INPUT)
    endpoints: dict[str, tuple[Callable[..., Any], Sequence[tf.TensorSpec]]] = {
        "serving_default": (_classifier_endpoint(model, preprocessing), [image_spec]),
        **(extra_signatures or {}),
    }
    concrete = {}
    signatures = {"serving_default": {"inputs": [SERVING_INPUT], "outputs": list(SERVING_OUTPUTS)}}
    for sig_name, (fn, spec) in endpoints.items():
        traced = tf.function(fn, input_signature=list(spec), autograph=False)
        setattr(module, sig_name, traced)
        concrete[sig_name] = traced.get_concrete_function()
        if sig_name != "serving_default":
            signatures[sig_name] = {"inputs": [s.name for s in spec]}

    info = {
        "name": name,
        "version": version,
        "keras_model": model.name,
        "input_shape": list(input_shape[1:]),
        "input_dtype": "uint8",
        "preprocessing": dataclasses.asdict(preprocessing),
        "class_names": list(class_names) if class_names is not None else None,
        "signatures": signatures,
    }
    return write_version(module, concrete, model_dir, version, {**info, **(metadata or {})})


def _check_name(name: str, version: int | None) -> None:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"model name {name!r} must be a plain directory name")
    if version is not None and (not isinstance(version, int) or version < 1):
        raise ValueError(f"version must be a positive integer (TF Serving's rule), got {version!r}")


def _claim_version(base_dir: str | os.PathLike, name: str, version: int | None) -> tuple[Path, int]:
    """``(base_dir/name, version)`` for a new version, refusing one that exists."""
    _check_name(name, version)
    model_dir = Path(base_dir) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    version = version if version is not None else next_version(model_dir)
    final = model_dir / str(version)
    if final.exists():
        raise ExportExistsError(
            f"{final} already exists and is never overwritten; export as version "
            f"{next_version(model_dir)} (the next free one) or remove it yourself"
        )
    return model_dir, version


def write_version(
    module: tf.Module,
    signatures: dict[str, Any],
    model_dir: Path,
    version: int,
    info: dict[str, Any],
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Save ``module`` with its concrete ``signatures`` as ``model_dir/version``, atomically.

    Written under a hidden temporary sibling, with ``assets.extra/keraslab.json`` (``info`` plus
    the TensorFlow and Keras versions) and ``extra_files`` (``{name: bytes}`` in
    ``assets.extra/``), then renamed into place; a version that appears meanwhile is kept and
    this one discarded (:class:`ExportExistsError`).
    """
    final = model_dir / str(version)
    tmp = model_dir / f".tmp-{version}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        info = {**info, "tensorflow": tf.__version__, "keras": keras.__version__}
        (tmp / "assets.extra").mkdir(exist_ok=True)
        (tmp / "assets.extra" / METADATA_FILE).write_text(json.dumps(info, indent=1))
        for file_name, content in (extra_files or {}).items():
            (tmp / "assets.extra" / file_name).write_bytes(content)
        # rename() of a directory onto an existing one fails, so a version exported
        # concurrently by another process is never clobbered.
        try:
            os.rename(tmp, final)
        except OSError as exc:
            raise ExportExistsError(
                f"{final} appeared while exporting; it was kept and this export discarded"
            ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``keraslab.json`` written next to an exported SavedModel version."""
    return json.loads((Path(path) / "assets.extra" / METADATA_FILE).read_text())


__all__ = [
    "METADATA_FILE",
    "SERVING_INPUT",
    "SERVING_OUTPUTS",
    "Preprocessing",
    "next_version",
    "read_metadata",
    "saved_model",
    "write_version",
]
