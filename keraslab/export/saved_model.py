"""Write versioned SavedModels in the layout TF Serving loads as is.

``base_dir/<name>/<version>/`` holds ``saved_model.pb``, ``variables/`` and
``assets.extra/keraslab.json`` (preprocessing, class names, signatures). A classifier has two
serving signatures with the same outputs: ``serving_default`` takes raw ``uint8`` pixels and
``serving_bytes`` encoded PNG/JPEG/BMP images (:func:`decode_images`). The version directory
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
from keraslab.export.warmup import WARMUP_BATCH_SIZES, WARMUP_FILE, warmup_requests

METADATA_FILE = "keraslab.json"
SERVING_INPUT = "image"
#: The outputs every classifier export has had since the first; verification requires them.
SERVING_OUTPUTS = ("logits", "probabilities", "class_id")
#: The label of ``class_id`` (a ``tf.string``), next to it in both serving signatures.
CLASS_NAME_OUTPUT = "class_name"
#: The signature taking encoded images, and its input: a ``tf.string`` batch. TF Serving's REST
#: API accepts ``{"b64": "…"}`` for string tensors, and by convention names such inputs
#: ``…_bytes``.
BYTES_SIGNATURE = "serving_bytes"
BYTES_INPUT = "image_bytes"


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


def decode_images(image_bytes: tf.Tensor, image_shape: Sequence[int]) -> tf.Tensor:
    """Encoded images → raw ``uint8`` pixels ``(batch, H, W, C)``, as a client would send them.

    Each string of the batch is decoded by ``tf.io.decode_image`` (PNG, JPEG, BMP, or a GIF's
    first frame; ``expand_animations=False``) to ``C`` channels: PNG and JPEG by their decoders
    (which convert colour to grey and grey to RGB themselves); BMP and GIF, whose decoders only
    give RGB, to grey by ITU-R 601 luma (``tf.image.rgb_to_grayscale``'s weights), rounded. An
    image of another size is resized to ``H × W`` with bilinear interpolation (antialiased when
    shrinking, like PIL's ``Image.resize``), then rounded half-to-even and clipped to
    ``uint8``: the pixels a client resizing the image itself would send. An image of the right
    size is left untouched, so a PNG (lossless) gives exactly the pixels it encodes.
    """
    height, width, channels = (int(d) for d in image_shape)
    if channels not in (1, 3):
        raise InputSpecError(
            f"encoded images can be decoded to 1 (grey) or 3 (RGB) channels, not {channels}"
        )

    def to_uint8(x: tf.Tensor) -> tf.Tensor:
        return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)

    def decode_one(encoded: tf.Tensor) -> tf.Tensor:
        if channels == 3:
            pixels = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        else:
            png_or_jpeg = tf.logical_or(
                tf.io.is_jpeg(encoded), tf.equal(tf.strings.substr(encoded, 0, 4), b"\x89PNG")
            )

            def native() -> tf.Tensor:
                return tf.io.decode_image(encoded, channels=1, expand_animations=False)

            def from_rgb() -> tf.Tensor:
                rgb = tf.io.decode_image(encoded, channels=3, expand_animations=False)
                luma = tf.tensordot(tf.cast(rgb, tf.float32), [0.2989, 0.5870, 0.1140], 1)
                return to_uint8(luma[..., None])

            pixels = tf.cond(png_or_jpeg, native, from_rgb)
        pixels.set_shape((None, None, channels))

        def resize() -> tf.Tensor:
            resized = tf.image.resize(pixels, (height, width), method="bilinear", antialias=True)
            return to_uint8(resized)

        same = tf.logical_and(
            tf.equal(tf.shape(pixels)[0], height), tf.equal(tf.shape(pixels)[1], width)
        )
        return tf.reshape(tf.cond(same, lambda: pixels, resize), (height, width, channels))

    return tf.map_fn(
        decode_one,
        image_bytes,
        fn_output_signature=tf.TensorSpec((height, width, channels), tf.uint8),
    )


def _classifier_endpoints(
    model: keras.Model, preprocessing: Preprocessing, class_names: Sequence[str]
) -> tuple[
    Callable[[tf.Tensor], dict[str, tf.Tensor]], Callable[[tf.Tensor], dict[str, tf.Tensor]]
]:
    """``serving_default`` (uint8 pixels) and ``serving_bytes`` (encoded images), same outputs."""
    names = tf.constant(list(class_names), tf.string)
    image_shape = tuple(model.input_shape[1:])

    def serve(image: tf.Tensor) -> dict[str, tf.Tensor]:
        x = preprocessing.apply(tf.cast(image, tf.float32))
        logits = tf.cast(model(x, training=False), tf.float32)
        class_id = tf.argmax(logits, axis=-1, output_type=tf.int64)
        return {
            "logits": logits,
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "class_id": class_id,
            CLASS_NAME_OUTPUT: tf.gather(names, class_id),
        }

    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        return serve(decode_images(image_bytes, image_shape))

    return serve, serve_bytes


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
    warmup_batch_sizes: Sequence[int] = WARMUP_BATCH_SIZES,
) -> Path:
    """Export a classifier as ``base_dir/name/version/`` for TF Serving, atomically.

    Signatures:
        ``serving_default``: input ``image`` — raw pixels, ``uint8`` ``(batch, H, W, C)`` with
        dynamic batch; outputs ``logits`` (float32), ``probabilities`` (softmax),
        ``class_id`` (int64 argmax) and ``class_name`` (string, ``class_names[class_id]``).
        Preprocessing is baked in.
        ``serving_bytes``: input ``image_bytes`` — a ``tf.string`` batch of encoded PNG/JPEG
        images of any size and colour mode, decoded and resized by :func:`decode_images`;
        the same outputs (models taking 1 or 3 channels; others get no ``serving_bytes``).
        ``extra_signatures``: ``{name: (fn, input_signature)}`` for model-specific endpoints
        (``features``, ``inverse``, ``scattering``…); each ``fn`` returns a dict of named tensors.

    Args:
        model: the plain network (normalized images → logits), not a training wrapper.
        base_dir: the TF Serving model base directory's parent (e.g. ``savedmodels``).
        name: model name (the directory TF Serving is pointed at).
        version: positive integer; default: the next free one.
        preprocessing: how raw pixels become network inputs (default: divide by 255).
        class_names: stored in ``assets.extra/keraslab.json`` for clients and returned as
            ``class_name`` (default: ``"0"``, ``"1"``…, one per logit).
        metadata: more JSON-serializable facts for ``keraslab.json`` (dataset, metrics…).
        warmup_batch_sizes: ``assets.extra/tf_serving_warmup_requests`` holds one
            ``PredictionLog`` per signature and batch size (:mod:`keraslab.export.warmup`),
            which TF Serving replays before serving the version; empty: no warmup file.

    Returns:
        The path of the new version directory.

    Raises:
        ExportExistsError: that version already exists (it is never overwritten).
        InputSpecError: the model's input is not ``(batch, H, W, C)``.
        ValueError: ``class_names`` does not have one name per logit.
    """
    _check_name(name, version)
    input_shape = tuple(model.input_shape) if hasattr(model, "input_shape") else None
    if input_shape is None or len(input_shape) != 4 or None in input_shape[1:]:
        raise InputSpecError(
            f"model {model.name!r} has input shape {input_shape}; export needs a fixed "
            "(batch, height, width, channels) image input — build the model with keras.Input"
        )
    preprocessing = preprocessing or Preprocessing()
    num_classes = int(model.output_shape[-1])
    labels = [str(c) for c in class_names] if class_names is not None else None
    if labels is not None and len(labels) != num_classes:
        raise ValueError(
            f"class_names has {len(labels)} names but model {model.name!r} has {num_classes} "
            "outputs; give one name per class, in the order of the outputs"
        )
    serve, serve_bytes = _classifier_endpoints(
        model, preprocessing, labels or [str(i) for i in range(num_classes)]
    )
    model_dir, version = _claim_version(base_dir, name, version)

    # A plain tf.Module that tracks the underlying tf.Variables once. (Keras 3.15's
    # keras.export.ExportArchive stores every variable twice: a 6.7 MB LeNet became a 13 MB
    # SavedModel.)
    module = tf.Module()
    module.keraslab_variables = [v.value for v in model.variables]
    image_spec = tf.TensorSpec((None, *input_shape[1:]), tf.uint8, name=SERVING_INPUT)
    bytes_spec = tf.TensorSpec((None,), tf.string, name=BYTES_INPUT)
    outputs = [*SERVING_OUTPUTS, CLASS_NAME_OUTPUT]
    endpoints: dict[str, tuple[Callable[..., Any], Sequence[tf.TensorSpec]]] = {
        "serving_default": (serve, [image_spec])
    }
    signatures: dict[str, dict[str, list[str]]] = {
        "serving_default": {"inputs": [SERVING_INPUT], "outputs": outputs}
    }
    # Image files hold grey or RGB pixels; a model taking other channel counts gets none.
    if input_shape[-1] in (1, 3):
        endpoints[BYTES_SIGNATURE] = (serve_bytes, [bytes_spec])
        signatures[BYTES_SIGNATURE] = {"inputs": [BYTES_INPUT], "outputs": outputs}
    endpoints.update(extra_signatures or {})
    concrete = {}
    for sig_name, (fn, spec) in endpoints.items():
        traced = tf.function(fn, input_signature=list(spec), autograph=False)
        setattr(module, sig_name, traced)
        concrete[sig_name] = traced.get_concrete_function()
        if sig_name not in signatures:
            signatures[sig_name] = {"inputs": [s.name for s in spec]}

    extra_files = {}
    if len(warmup_batch_sizes):
        specs = {sig: list(spec) for sig, (_, spec) in endpoints.items()}
        extra_files[WARMUP_FILE] = warmup_requests(name, specs, input_shape[1:], warmup_batch_sizes)
    info = {
        "name": name,
        "version": version,
        "keras_model": model.name,
        "input_shape": list(input_shape[1:]),
        "input_dtype": "uint8",
        "preprocessing": dataclasses.asdict(preprocessing),
        "class_names": labels,
        "signatures": signatures,
        "warmup": {
            "file": WARMUP_FILE if extra_files else None,
            "batch_sizes": [int(b) for b in warmup_batch_sizes],
            "records": len(endpoints) * len(warmup_batch_sizes),
        },
    }
    return write_version(
        module, concrete, model_dir, version, {**info, **(metadata or {})}, extra_files
    )


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
    "BYTES_INPUT",
    "BYTES_SIGNATURE",
    "CLASS_NAME_OUTPUT",
    "METADATA_FILE",
    "SERVING_INPUT",
    "SERVING_OUTPUTS",
    "Preprocessing",
    "decode_images",
    "next_version",
    "read_metadata",
    "saved_model",
    "write_version",
]
