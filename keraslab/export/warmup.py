"""TF Serving's warmup requests: ``assets.extra/tf_serving_warmup_requests``.

TF Serving (with ``--enable_model_warmup``, the default) replays this file when it loads a
version, before the version takes traffic, so the first real request does not pay for graph
optimization and kernel initialization. The file is a TFRecord of serialized
``tensorflow.serving.PredictionLog`` messages (TF Serving's ``prediction_log.proto``), at most
1000 of them (``kMaxNumRecords`` in its ``saved_model_warmup_util``); each one holds a
``PredictRequest``: a ``ModelSpec`` (model and signature name) and the named input tensors.

Those messages are defined by ``tensorflow-serving-api``, which pins the full ``tensorflow``
wheel (it would be installed next to ``tensorflow-cpu``). The four messages needed here are
small, so this module writes them in the protobuf wire format itself (varint keys,
length-delimited fields, map entries as ``key = 1, value = 2`` messages), taking only
``TensorProto`` from TensorFlow (``tf.make_tensor_proto``). The test suite checks the bytes
against the real ``tensorflow_serving.apis.prediction_log_pb2`` when it is installed.

Field numbers (``tensorflow_serving/apis``)::

    PredictionLog  { LogMetadata log_metadata = 1; PredictLog predict_log = 6; … }
    PredictLog     { PredictRequest request = 1; PredictResponse response = 2; }
    PredictRequest { ModelSpec model_spec = 1; map<string, TensorProto> inputs = 2; … }
    ModelSpec      { string name = 1; string signature_name = 3; … }
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "MAX_WARMUP_RECORDS",
    "WARMUP_BATCH_SIZES",
    "WARMUP_FILE",
    "predict_log",
    "read_warmup_requests",
    "warmup_inputs",
    "warmup_requests",
]

#: The file TF Serving looks for in a version's ``assets.extra/``.
WARMUP_FILE = "tf_serving_warmup_requests"
#: TF Serving refuses to load a version whose warmup file holds more records.
MAX_WARMUP_RECORDS = 1000
#: Batch sizes warmed up for each signature: one request, and a small batch (TF Serving's
#: batching, when enabled, pads batches to its allowed sizes; a single image is the common
#: REST call).
WARMUP_BATCH_SIZES = (1, 8)

_LEN = 2  # wire type of length-delimited fields (strings, bytes, messages)
_VARINT = 0


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: key ``(number << 3) | 2``, length, payload."""
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


def predict_log(model_name: str, signature_name: str, inputs: Mapping[str, Any]) -> bytes:
    """A serialized ``PredictionLog`` holding the ``PredictRequest`` of ``inputs``
    (``{input name: array}``; string inputs as arrays of ``bytes``), map entries in sorted
    order so the same request always gives the same bytes."""
    spec = _field(1, model_name.encode()) + _field(3, signature_name.encode())
    request = _field(1, spec)
    for name in sorted(inputs):
        tensor = tf.make_tensor_proto(inputs[name]).SerializeToString()
        request += _field(2, _field(1, name.encode()) + _field(2, tensor))
    return _field(6, _field(1, request))


def _fields(message: bytes) -> Iterator[tuple[int, int, Any]]:
    """``(number, wire type, value)`` of each field of a serialized message: ints for varint
    and fixed-width fields, ``bytes`` for length-delimited ones."""
    i = 0

    def varint() -> int:
        nonlocal i
        value = shift = 0
        while True:
            byte = message[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while i < len(message):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            yield number, wire, varint()
        elif wire == _LEN:
            n = varint()
            yield number, wire, message[i : i + n]
            i += n
        elif wire in (1, 5):  # fixed 64 / 32 bits
            width = 8 if wire == 1 else 4
            yield number, wire, int.from_bytes(message[i : i + width], "little")
            i += width
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in a warmup record")


def _parse_predict_log(record: bytes) -> tuple[str, str, dict[str, np.ndarray]]:
    """``(model name, signature name, inputs)`` of a serialized ``PredictionLog``."""
    from tensorflow.core.framework import tensor_pb2

    logs = [v for n, w, v in _fields(record) if n == 6 and w == _LEN]
    if not logs:
        raise ValueError("warmup record is not a PredictionLog with a predict_log")
    request = b"".join(v for n, _, v in _fields(logs[0]) if n == 1)
    model = signature = ""
    inputs: dict[str, np.ndarray] = {}
    for number, _, value in _fields(request):
        if number == 1:
            for n, _, v in _fields(value):
                if n == 1:
                    model = v.decode()
                elif n == 3:
                    signature = v.decode()
        elif number == 2:
            entry = dict((n, v) for n, _, v in _fields(value))
            proto = tensor_pb2.TensorProto.FromString(entry.get(2, b""))
            inputs[entry.get(1, b"").decode()] = tf.make_ndarray(proto)
    return model, signature or "serving_default", inputs


def warmup_inputs(
    specs: Sequence[tf.TensorSpec], batch_size: int, image_shape: Sequence[int], seed: int = 0
) -> dict[str, np.ndarray]:
    """Inputs of one warmup request for a signature with input ``specs``: seeded random
    ``uint8`` pixels of ``image_shape`` for a ``uint8`` input, those pixels PNG-encoded for a
    ``string`` one, zeros for a float one (e.g. an i-RevNet's ``features``)."""
    rng = np.random.default_rng(seed + batch_size)
    pixels = rng.integers(0, 256, size=(batch_size, *image_shape), dtype=np.uint8)
    inputs: dict[str, np.ndarray] = {}
    for spec in specs:
        shape = [batch_size, *(int(d) for d in spec.shape[1:])]
        if spec.dtype == tf.string:
            encoded = np.empty(batch_size, dtype=object)
            encoded[:] = [tf.io.encode_png(p).numpy() for p in pixels]
            inputs[spec.name] = encoded
        elif spec.dtype == tf.uint8:
            inputs[spec.name] = pixels.reshape(shape)
        else:
            inputs[spec.name] = np.zeros(shape, spec.dtype.as_numpy_dtype)
    return inputs


def warmup_requests(
    model_name: str,
    signatures: Mapping[str, Sequence[tf.TensorSpec]],
    image_shape: Sequence[int],
    batch_sizes: Sequence[int] = WARMUP_BATCH_SIZES,
) -> bytes:
    """The content of ``tf_serving_warmup_requests``: for each signature (``{name: input
    specs}``) and batch size, one ``PredictionLog`` (:func:`predict_log` of
    :func:`warmup_inputs`), as TFRecord bytes.

    Raises:
        ValueError: more than :data:`MAX_WARMUP_RECORDS` records, or a batch size below 1.
    """
    if any(int(b) < 1 for b in batch_sizes):
        raise ValueError(f"warmup batch sizes must be positive, got {list(batch_sizes)}")
    count = len(signatures) * len(batch_sizes)
    if count > MAX_WARMUP_RECORDS:
        raise ValueError(
            f"{count} warmup records exceed TF Serving's limit of {MAX_WARMUP_RECORDS}; "
            "warm up fewer batch sizes"
        )
    with tempfile.TemporaryDirectory(prefix="keraslab-warmup-") as tmp:
        path = os.path.join(tmp, WARMUP_FILE)
        with tf.io.TFRecordWriter(path) as writer:
            for signature, specs in signatures.items():
                for batch in batch_sizes:
                    inputs = warmup_inputs(specs, int(batch), image_shape)
                    writer.write(predict_log(model_name, signature, inputs))
        return Path(path).read_bytes()


def read_warmup_requests(path: str | os.PathLike) -> list[tuple[str, str, dict[str, np.ndarray]]]:
    """``(model name, signature name, inputs)`` of every record of a warmup file (a version
    directory, or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / "assets.extra" / WARMUP_FILE
    return [_parse_predict_log(bytes(r.numpy())) for r in tf.data.TFRecordDataset(str(path))]
