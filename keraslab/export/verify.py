"""Verify an exported SavedModel the way TF Serving will use it: from a process that imports
only TensorFlow (and NumPy), with no keraslab or Keras code available.

The child process loads the version directory with ``tf.saved_model.load``, lists every
signature's named inputs and outputs, runs the requested signatures on the given inputs and
writes the outputs back. The parent compares them with what the Keras model computes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keraslab.errors import ExportVerificationError
from keraslab.export.saved_model import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    CLASS_NAME_OUTPUT,
    SERVING_INPUT,
    SERVING_OUTPUTS,
    Preprocessing,
    read_metadata,
)

# Runs in the child. Deliberately self-contained: it is what a serving host can do.
_CHILD = r"""
import json, sys
import numpy as np
import tensorflow as tf

path, inputs_file, outputs_file = sys.argv[1:4]
loaded = tf.saved_model.load(path)
LENGTHS = "@len:"  # string tensors travel as their bytes concatenated plus the lengths

def spec(s):
    return {"dtype": s.dtype.name, "shape": s.shape.as_list()}

def unpack(data, key):
    if LENGTHS + key not in data.files:
        return data[key]
    lengths, flat = data[LENGTHS + key], data[key].tobytes()
    ends = np.cumsum(lengths.ravel())
    items = [flat[e - n:e] for e, n in zip(ends, lengths.ravel(), strict=True)]
    return np.array(items, dtype=object).reshape(lengths.shape)

def pack(results, key, value):
    if value.dtype == object:
        items = [bytes(v) for v in value.ravel()]
        results[LENGTHS + key] = np.array([len(v) for v in items], np.int64).reshape(value.shape)
        results[key] = np.frombuffer(b"".join(items), np.uint8)
    else:
        results[key] = value

report = {"signatures": {}}
for key, fn in loaded.signatures.items():
    _, kwargs = fn.structured_input_signature
    report["signatures"][key] = {
        "inputs": {k: spec(v) for k, v in kwargs.items()},
        "outputs": {k: spec(v) for k, v in fn.structured_outputs.items()},
    }
if inputs_file:
    feeds = {}
    with np.load(inputs_file, allow_pickle=False) as data:
        for key in data.files:
            if not key.startswith(LENGTHS):
                run, name = key.split("__", 1)
                feeds.setdefault(run, {})[name] = unpack(data, key)
    results = {}
    for run, kwargs in feeds.items():
        # "signature#tag" runs the same signature on another feed.
        fn = loaded.signatures[run.split("#", 1)[0]]
        out = fn(**{k: tf.constant(v) for k, v in kwargs.items()})
        for name, value in out.items():
            pack(results, run + "__" + name, value.numpy())
    np.savez(outputs_file, **results)
report["keraslab_modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "keraslab")
print("KERASLAB-VERIFY " + json.dumps(report))
"""
_LENGTHS = "@len:"


def _pack(arrays: dict[str, np.ndarray], key: str, value: Any) -> None:
    """Store ``value`` under ``key`` for ``np.savez`` without pickling: a string (bytes) array
    becomes its bytes concatenated (``uint8``) plus the lengths under ``@len:key``."""
    value = np.asarray(value)
    if value.dtype.kind in "OSU":
        items = [v.encode() if isinstance(v, str) else bytes(v) for v in value.ravel()]
        arrays[_LENGTHS + key] = np.array([len(v) for v in items], np.int64).reshape(value.shape)
        arrays[key] = np.frombuffer(b"".join(items), np.uint8)
    else:
        arrays[key] = value


def _unpack(data: Any, key: str) -> np.ndarray:
    """The inverse of :func:`_pack`: string tensors come back as object arrays of ``bytes``."""
    if _LENGTHS + key not in data.files:
        return np.asarray(data[key])
    lengths, flat = data[_LENGTHS + key], data[key].tobytes()
    ends = np.cumsum(lengths.ravel())
    items = [flat[e - n : e] for e, n in zip(ends, lengths.ravel(), strict=True)]
    return np.array(items, dtype=object).reshape(lengths.shape)


@dataclasses.dataclass
class VerificationReport:
    """What :func:`verify` found.

    Attributes:
        path: the version directory.
        signatures: ``{signature: {"inputs": {name: spec}, "outputs": {name: spec}}}``.
        max_abs_diff: per ``signature/output``, the largest difference from the expected value.
        keraslab_modules_in_child: keraslab modules the TensorFlow-only process imported
            (always empty for a valid export; TensorFlow itself may import ``keras``).
        warmup_records: how many TF Serving warmup records were run through their signature.
    """

    path: Path
    signatures: dict[str, Any]
    max_abs_diff: dict[str, float]
    keraslab_modules_in_child: list[str]
    warmup_records: int = 0


def run_in_tensorflow_only_process(
    path: str | os.PathLike,
    inputs: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    *,
    timeout_s: float = 600.0,
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Load ``path`` in a fresh ``python`` that imports only TensorFlow and run signatures.

    Args:
        path: a SavedModel version directory.
        inputs: ``{signature: {input_name: array}}`` to feed; a key ``"signature#tag"`` runs
            ``signature`` once more on another feed. String inputs are arrays of ``bytes``.

    Returns:
        ``(report, outputs)``: the child's signature listing and ``{key: {output: array}}``
        (string outputs as object arrays of ``bytes``).
    """
    with tempfile.TemporaryDirectory(prefix="keraslab-verify-") as tmp:
        in_file = out_file = ""
        if inputs:
            in_file = os.path.join(tmp, "inputs.npz")
            out_file = os.path.join(tmp, "outputs.npz")
            arrays: dict[str, np.ndarray] = {}
            for sig, d in inputs.items():
                for name, v in d.items():
                    _pack(arrays, f"{sig}__{name}", v)
            np.savez(in_file, **arrays)
        # A clean environment: no PYTHONPATH, and a working directory outside the repository,
        # so the child cannot import keraslab even by accident.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, str(Path(path).resolve()), in_file, out_file],
            capture_output=True,
            text=True,
            cwd=tmp,
            env=env,
            timeout=timeout_s,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("KERASLAB-VERIFY ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise ExportVerificationError(
                f"loading {path} with TensorFlow alone failed (exit {proc.returncode}): "
                + " | ".join(tail)
            )
        report = json.loads(lines[-1].removeprefix("KERASLAB-VERIFY "))
        outputs: dict[str, dict[str, np.ndarray]] = {}
        if out_file:
            with np.load(out_file, allow_pickle=False) as data:
                for key in data.files:
                    if not key.startswith(_LENGTHS):
                        sig, name = key.split("__", 1)
                        outputs.setdefault(sig, {})[name] = _unpack(data, key)
    return report, outputs


def encode_png(images: np.ndarray) -> np.ndarray:
    """Raw ``uint8`` pixels ``(N, H, W, C)`` → an object array of N PNG files (``bytes``).

    PNG is lossless, so an export's ``serving_bytes`` signature must predict exactly what
    ``serving_default`` predicts on the pixels themselves; verification relies on that.
    """
    import tensorflow as tf

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(
            f"encode_png takes uint8 (N, H, W, C) pixels, got {images.dtype} {images.shape}"
        )
    encoded = [tf.io.encode_png(image).numpy() for image in images]
    out = np.empty(len(encoded), dtype=object)
    out[:] = encoded
    return out


def signature_checks(
    signatures: Mapping[str, tuple[Callable[..., Mapping[str, Any]], Sequence[Any]]],
    images: np.ndarray,
) -> dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """The ``checks`` argument of :func:`verify` for a model's extra signatures: each one run
    as Keras computes it, on the inputs a TF Serving client would send.

    Args:
        signatures: ``{name: (fn, input_specs)}`` as given to
            :func:`~keraslab.export.saved_model` (``extra_signatures``); each spec has a
            ``name``.
        images: raw uint8 pixels, the input named ``image`` (and, PNG-encoded by
            :func:`encode_png`, the input named ``image_bytes``).

    A signature's input named like an earlier signature's output (``inverse`` takes
    ``features``) is fed that output, so chains such as ``inverse(features(image))`` are
    verified end to end.

    Returns:
        ``{name: (inputs, expected_outputs)}`` of NumPy arrays.

    Raises:
        ValueError: a signature has an input that is neither ``image`` nor an output of an
            earlier signature.
    """
    available: dict[str, np.ndarray] = {SERVING_INPUT: images}
    checks = {}
    for sig, (fn, specs) in signatures.items():
        if any(s.name == BYTES_INPUT for s in specs) and BYTES_INPUT not in available:
            available[BYTES_INPUT] = encode_png(images)
        missing = [s.name for s in specs if s.name not in available]
        if missing:
            raise ValueError(
                f"cannot verify signature {sig!r}: no input for {missing} (an input must be "
                "'image', 'image_bytes' or an output of an earlier signature)"
            )
        feeds = {s.name: available[s.name] for s in specs}
        outputs = {k: np.asarray(v) for k, v in fn(**feeds).items()}
        checks[sig] = (feeds, outputs)
        available.update(outputs)
    return checks


def verify(
    path: str | os.PathLike,
    model: Any | None = None,
    images: np.ndarray | None = None,
    *,
    checks: Mapping[str, tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]] | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-4,
) -> VerificationReport:
    """Check an exported classifier in a TensorFlow-only process.

    Always checks that ``serving_default`` exists with the ``image`` input (uint8, dynamic batch)
    and the ``logits`` / ``probabilities`` / ``class_id`` outputs, and that keraslab was not
    needed to load it; an export that records a ``serving_bytes`` signature must have it, with
    the ``image_bytes`` string input and the same outputs. With ``model`` and ``images`` (raw
    uint8 pixels ``(N, H, W, C)``), also checks that the served logits match
    ``model(preprocess(images))`` to ``atol + rtol·max|x|`` (relative to the output's scale: an
    i-RevNet's ``inverse`` returns pixels up to 255 whose near-zero entries carry the
    round-off of the large ones), that every predicted ``class_id`` (and ``class_name``, where
    the export has it) is identical, and that ``serving_bytes`` fed the same images encoded as
    PNG (lossless) returns the same. ``checks`` adds ``{signature: (inputs, expected_outputs)}``
    comparisons for other signatures. Every record of
    ``assets.extra/tf_serving_warmup_requests`` (where there is one) is run through its
    signature in the same process and must return every output with the record's batch size.

    Raises:
        ExportVerificationError: naming the first mismatch.
    """
    path = Path(path)
    meta = read_metadata(path)
    expected: dict[str, dict[str, np.ndarray]] = {}
    feeds: dict[str, dict[str, np.ndarray]] = {}
    if model is not None and images is not None:
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise ExportVerificationError(f"verify() takes raw uint8 pixels, got {images.dtype}")
        pre = Preprocessing(**meta["preprocessing"])
        logits = np.asarray(model(pre.apply(images.astype(np.float32)), training=False))
        feeds["serving_default"] = {SERVING_INPUT: images}
        class_id = logits.argmax(-1).astype(np.int64)
        expected["serving_default"] = {"logits": logits.astype(np.float32), "class_id": class_id}
        recorded = meta.get("signatures", {})
        if CLASS_NAME_OUTPUT in recorded.get("serving_default", {}).get("outputs", []):
            names = meta.get("class_names") or [str(i) for i in range(logits.shape[-1])]
            labels = np.empty(len(class_id), dtype=object)
            labels[:] = [names[i].encode() for i in class_id]
            expected["serving_default"][CLASS_NAME_OUTPUT] = labels
        if BYTES_SIGNATURE in recorded:
            feeds[BYTES_SIGNATURE] = {BYTES_INPUT: encode_png(images)}
            expected[BYTES_SIGNATURE] = dict(expected["serving_default"])
    for sig, (inp, out) in (checks or {}).items():
        feeds[sig] = dict(inp)
        expected[sig] = dict(out)

    warmup = _warmup_feeds(path)
    report, outputs = _run_without_keraslab(path, {**feeds, **warmup})
    sigs = report["signatures"]
    _check_warmup(warmup, sigs, outputs)
    _check_signature(path, sigs, "serving_default", SERVING_INPUT, "uint8", SERVING_OUTPUTS)
    if BYTES_SIGNATURE in meta.get("signatures", {}):
        _check_signature(
            path,
            sigs,
            BYTES_SIGNATURE,
            BYTES_INPUT,
            "string",
            (*SERVING_OUTPUTS, CLASS_NAME_OUTPUT),
        )
    for sig in meta.get("signatures", {}):
        if sig not in sigs:
            raise ExportVerificationError(f"signature {sig!r} recorded in keraslab.json is missing")

    diffs = _compare(expected, outputs, atol, rtol)
    return VerificationReport(path, sigs, diffs, report["keraslab_modules"], len(warmup))


def _warmup_feeds(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """``{"signature#warmupK": inputs}`` of every warmup record of the export (none without
    the file)."""
    from keraslab.export.warmup import MAX_WARMUP_RECORDS, WARMUP_FILE, read_warmup_requests

    if not (path / "assets.extra" / WARMUP_FILE).exists():
        return {}
    records = read_warmup_requests(path)
    if len(records) > MAX_WARMUP_RECORDS:
        raise ExportVerificationError(
            f"{path}: {len(records)} warmup records; TF Serving loads at most {MAX_WARMUP_RECORDS}"
        )
    return {f"{sig}#warmup{k}": inputs for k, (_, sig, inputs) in enumerate(records)}


def _check_warmup(
    warmup: Mapping[str, Mapping[str, np.ndarray]],
    signatures: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
) -> None:
    """Each warmup record named an existing signature and got all its outputs, batch-sized."""
    for key, inputs in warmup.items():
        sig = key.split("#", 1)[0]
        batch = len(next(iter(inputs.values())))
        want = set(signatures[sig]["outputs"])
        got = outputs.get(key, {})
        if set(got) != want or any(len(v) != batch for v in got.values()):
            raise ExportVerificationError(
                f"warmup record {key} returned {sorted(got)} (batch sizes "
                f"{[len(v) for v in got.values()]}), expected {sorted(want)} of batch {batch}"
            )


def _run_without_keraslab(
    path: Path, feeds: Mapping[str, Mapping[str, np.ndarray]]
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    report, outputs = run_in_tensorflow_only_process(path, feeds)
    if report["keraslab_modules"]:
        raise ExportVerificationError(f"{path} needed keraslab to load; TF Serving cannot do that")
    return report, outputs


def _check_signature(
    path: Path,
    signatures: Mapping[str, Any],
    signature: str,
    input_name: str,
    dtype: str,
    outputs: Any,
) -> None:
    """``signature`` exists, takes ``input_name`` of ``dtype`` with a dynamic batch, and returns
    at least ``outputs``; TF Serving clients rely on exactly these."""
    found = signatures.get(signature)
    if found is None:
        raise ExportVerificationError(
            f"{path} has no {signature!r} signature: {sorted(signatures)}"
        )
    spec = found["inputs"].get(input_name)
    if spec is None or spec["dtype"] != dtype or spec["shape"][0] is not None:
        raise ExportVerificationError(
            f"{signature} input {input_name!r} must be {dtype} with a dynamic batch, "
            f"got {found['inputs']}"
        )
    missing = set(outputs) - set(found["outputs"])
    if missing:
        raise ExportVerificationError(f"{signature} lacks outputs {sorted(missing)}")


def _compare(
    expected: Mapping[str, Mapping[str, np.ndarray]],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    atol: float,
    rtol: float,
) -> dict[str, float]:
    """``{signature/output: max |served − expected|}``; raises on the first output missing,
    misshapen, with a differing integer, or off by more than ``atol + rtol·max|expected|``."""
    diffs: dict[str, float] = {}
    for sig, exp in expected.items():
        for name, want in exp.items():
            got = outputs.get(sig, {}).get(name)
            if got is None:
                raise ExportVerificationError(f"{sig} returned no output {name!r}")
            if got.shape != want.shape:
                raise ExportVerificationError(
                    f"{sig}/{name} has shape {got.shape}, expected {want.shape}"
                )
            if want.dtype.kind in "OSU":  # strings: every one identical
                bad = sum(
                    bytes(g) != bytes(w) for g, w in zip(got.ravel(), want.ravel(), strict=True)
                )
                if bad:
                    raise ExportVerificationError(
                        f"{sig}/{name}: {bad} of {want.size} strings differ from the Keras model"
                    )
                diffs[f"{sig}/{name}"] = 0.0
                continue
            if np.issubdtype(want.dtype, np.integer):
                bad = int(np.sum(got != want))
                if bad:
                    raise ExportVerificationError(
                        f"{sig}/{name}: {bad} of {want.size} values differ from the Keras model"
                    )
                diffs[f"{sig}/{name}"] = 0.0
                continue
            diff = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
            diffs[f"{sig}/{name}"] = diff
            scale = float(np.max(np.abs(want))) if want.size else 0.0
            if not diff <= atol + rtol * scale:  # also catches NaN
                raise ExportVerificationError(
                    f"{sig}/{name} differs from the Keras model by up to {diff:.3g} "
                    f"(tolerance {atol} + {rtol}·max|x| = {atol + rtol * scale:.3g})"
                )
    return diffs


def verify_sparse_coder(
    path: str | os.PathLike,
    model: Any,
    signals: np.ndarray,
    *,
    atol: float = 1e-4,
    rtol: float = 1e-4,
) -> VerificationReport:
    """Check an export of :func:`keraslab.export.saved_sparse_coder` in a TensorFlow-only
    process: ``serving_default`` and ``sparse_code`` take float32 ``signal`` with a dynamic
    batch and return ``code`` and ``reconstruction`` equal to ``model(signals)`` and
    ``code · Aᵀ`` (to ``atol + rtol·max|x|``), and the shipped ``dictionary.npy`` matches the
    SHA-256 recorded in ``keraslab.json``.

    Raises:
        ExportVerificationError: naming the first mismatch.
    """
    import hashlib

    from keraslab.export.sparse_coder import CODE_OUTPUTS, DICTIONARY_FILE, SIGNAL_INPUT

    path = Path(path)
    meta = read_metadata(path)
    content = (path / "assets.extra" / DICTIONARY_FILE).read_bytes()
    if hashlib.sha256(content).hexdigest() != meta["dictionary"]["sha256"]:
        raise ExportVerificationError(
            f"{path}: {DICTIONARY_FILE} does not match the SHA-256 in keraslab.json"
        )
    A = np.load(path / "assets.extra" / DICTIONARY_FILE, allow_pickle=False)
    signals = np.asarray(signals, np.float32)
    out = model(signals, training=False)
    code = np.asarray(out[-1] if isinstance(out, (list, tuple)) else out, np.float32)
    want = {"code": code, "reconstruction": code @ A.T}
    feeds = {sig: {SIGNAL_INPUT: signals} for sig in ("serving_default", "sparse_code")}
    report, outputs = _run_without_keraslab(path, feeds)
    sigs = report["signatures"]
    for sig in feeds:
        _check_signature(path, sigs, sig, SIGNAL_INPUT, "float32", CODE_OUTPUTS)
    diffs = _compare({sig: want for sig in feeds}, outputs, atol, rtol)
    return VerificationReport(path, sigs, diffs, report["keraslab_modules"])


__all__ = [
    "VerificationReport",
    "encode_png",
    "run_in_tensorflow_only_process",
    "signature_checks",
    "verify",
    "verify_sparse_coder",
]
