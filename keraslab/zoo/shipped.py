"""Shipped zoo models: ``savedmodels/`` (or ``$KERASLAB_SAVEDMODELS``), its ``manifest.json``,
and loading an entry with its trained weights.

``<name>/<version>/`` is the SavedModel TF Serving loads, ``<name>/keras.weights.h5`` the Keras
weights :func:`load` uses, and ``manifest.json`` records each entry's measured metrics and the
commands that produced them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keras

from keraslab.errors import CorruptDataError, DatasetNotFoundError
from keraslab.files import atomic_write_text
from keraslab.zoo.registry import build, get

__all__ = [
    "MANIFEST",
    "WEIGHTS_FILE",
    "load",
    "load_weights",
    "manifest",
    "savedmodels_dir",
    "update_manifest",
]

MANIFEST = "manifest.json"
WEIGHTS_FILE = "keras.weights.h5"


def savedmodels_dir() -> Path:
    """Where shipped models live: ``$KERASLAB_SAVEDMODELS`` or the repository's ``savedmodels/``."""
    env = os.environ.get("KERASLAB_SAVEDMODELS")
    if env:
        return Path(env)
    # keraslab/zoo/shipped.py → the repository root holding keraslab/ and savedmodels/.
    return Path(__file__).resolve().parents[2] / "savedmodels"


def manifest(directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """The ``savedmodels/manifest.json`` contents (``{"models": {}}`` if there is none)."""
    path = Path(directory or savedmodels_dir()) / MANIFEST
    if not path.exists():
        return {"models": {}}
    return json.loads(path.read_text())


def update_manifest(
    name: str, record: dict[str, Any], *, directory: str | os.PathLike | None = None
) -> Path:
    """Set ``manifest.json``'s record for ``name`` (atomically: temporary file + rename)."""
    get(name)
    base = Path(directory or savedmodels_dir())
    data = manifest(base)
    data.setdefault("models", {})[name] = record
    data["models"] = dict(sorted(data["models"].items()))
    base.mkdir(parents=True, exist_ok=True)
    atomic_write_text(base / MANIFEST, json.dumps(data, indent=1) + "\n")
    return base / MANIFEST


def load(name: str, *, directory: str | os.PathLike | None = None) -> keras.Model:
    """The entry's model with its shipped trained weights.

    Raises:
        UnknownNameError: no such entry.
        DatasetNotFoundError: no trained weights are shipped for it (train and export it).
    """
    entry = get(name)
    base = Path(directory or savedmodels_dir())
    weights = base / name / WEIGHTS_FILE
    if not weights.exists():
        raise DatasetNotFoundError(
            f"no trained weights for zoo model {name!r} at {weights}; train it with "
            f"`keraslab train {name}` and ship the run with `keraslab export {name} --run "
            f"runs/{name}-{entry.dataset}`, or point KERASLAB_SAVEDMODELS at a directory "
            "holding shipped models"
        )
    record = manifest(base).get("models", {}).get(name, {})
    model = build(name, dataset=record.get("dataset", entry.dataset))
    load_weights(model, weights)
    return model


def load_weights(model: keras.Model, path: str | os.PathLike) -> keras.Model:
    """``model.load_weights(path)`` with one clear error for a missing, corrupt or mismatched
    file (Keras raises h5py's ``OSError`` or a long ``ValueError``)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"weights file {path} does not exist")
    try:
        model.load_weights(path)
    except (OSError, ValueError) as exc:
        raise CorruptDataError(
            f"cannot load {path} into {model.name!r}: {str(exc).splitlines()[0]} — is it a "
            "Keras .weights.h5 file saved from this model?"
        ) from exc
    return model
