"""A client of TF Serving's REST API for keraslab's classifier exports.

TF Serving's REST predict API (``tensorflow.org/tfx/serving/api_rest``)::

    POST http://HOST:8501/v1/models/NAME[/versions/V]:predict
    {"signature_name": "…", "instances": [{input: value}, …]}   (row format)
    {"signature_name": "…", "inputs": {input: [values…]}}        (columnar format)

answers ``{"predictions": [{output: value}, …]}`` (row) or ``{"outputs": {output: […]}}``
(columnar), or, on failure, a non-200 status with ``{"error": "…"}``. Binary string inputs are
sent as ``{"b64": "…"}``; string outputs come back as JSON strings.

:class:`Client` sends raw ``uint8`` pixels to ``serving_default`` (input ``image``) and image
files or bytes to ``serving_bytes`` (input ``image_bytes``, base64), both in the columnar
format, and returns class names and probabilities. It uses only ``urllib`` and NumPy — no
TensorFlow — so it runs on any machine that can reach the server. gRPC (port 8500) is not
offered: TF Serving's gRPC stubs come with ``tensorflow-serving-api``, which pins the full
``tensorflow`` wheel, plus ``grpcio``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keraslab.errors import InputSpecError, ServingError

__all__ = ["Client", "ServedPrediction"]

# The names keraslab.export gives its classifier signatures (tests check they agree); repeated
# here so the client imports no TensorFlow.
PIXEL_SIGNATURE, PIXEL_INPUT = "serving_default", "image"
BYTES_SIGNATURE, BYTES_INPUT = "serving_bytes", "image_bytes"


@dataclasses.dataclass
class ServedPrediction:
    """What the server answered for N images.

    Attributes:
        labels: the ``class_name`` of each image (``str(class_id)`` from an export without it).
        class_ids: ``(N,)`` int64.
        probabilities: ``(N, classes)`` float64, the softmax of the logits.
    """

    labels: list[str]
    class_ids: np.ndarray
    probabilities: np.ndarray

    @property
    def confidences(self) -> np.ndarray:
        """The probability of each predicted class, ``(N,)``."""
        return self.probabilities[np.arange(len(self.class_ids)), self.class_ids]


class Client:
    """Classify images with a model served by TF Serving (REST API).

    Example::

        client = Client("http://localhost:8501", "lenet")
        result = client.predict(["shoe.png", "shirt.jpg"])  # → serving_bytes
        result = client.predict(pixels)    # uint8 (N, 28, 28, 1) → serving_default
        print(result.labels, result.confidences)

    Args:
        url: the server's REST address, ``http://HOST:PORT`` (TF Serving's default port 8501).
        model: the model name (its directory under the server's model base path).
        version: a fixed version; default: the latest the server has loaded.
        timeout_s: how long to wait for a connection and an answer.
    """

    def __init__(
        self, url: str, model: str, *, version: int | None = None, timeout_s: float = 30.0
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"server URL {url!r} must start with http:// or https://")
        if not model or "/" in model or ":" in model:
            raise ValueError(f"model name {model!r} must be a plain name")
        if version is not None and (not isinstance(version, int) or version < 1):
            raise ValueError(f"version must be a positive integer, got {version!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        self.url = url.rstrip("/")
        self.model = model
        self.version = version
        self.timeout_s = float(timeout_s)

    @property
    def predict_url(self) -> str:
        """``…/v1/models/NAME[/versions/V]:predict``."""
        version = f"/versions/{self.version}" if self.version is not None else ""
        return f"{self.url}/v1/models/{self.model}{version}:predict"

    def predict(self, images: Any) -> ServedPrediction:
        """Classify ``images``:

        - a ``uint8`` array ``(N, H, W, C)`` (or one image ``(H, W, C)``) of raw pixels, sent
          to ``serving_default``;
        - a sequence of image files (paths) or encoded images (``bytes``: PNG, JPEG, BMP,
          GIF), sent base64-encoded to ``serving_bytes``, which decodes and resizes them; a
          ``.npy`` file holds raw pixels and goes to ``serving_default`` (don't mix the two).

        Raises:
            InputSpecError: images of another kind, or files of both kinds.
            ServingError: the server cannot be reached, times out, or answers an error.
        """
        signature, inputs = _request_inputs(images)
        body = {"signature_name": signature, "inputs": inputs}
        outputs = self._post(body)
        return _prediction(outputs, self.predict_url)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` as JSON; the response's ``outputs`` (columnar answer)."""
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            self.predict_url, data=data, headers={"Content-Type": "application/json"}
        )
        where = self.predict_url
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            message = _error_message(exc.read())
            raise ServingError(f"{where} answered HTTP {exc.code}: {message}") from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                raise ServingError(
                    f"cannot connect to {self.url}: connection refused; is TF Serving running "
                    "with its REST port published (--rest_api_port, docker -p 8501:8501)?"
                ) from exc
            if isinstance(reason, TimeoutError):
                raise ServingError(f"{where} did not answer within {self.timeout_s:g} s") from exc
            raise ServingError(f"cannot reach {self.url}: {reason}") from exc
        except TimeoutError as exc:
            raise ServingError(f"{where} did not answer within {self.timeout_s:g} s") from exc
        try:
            answer = json.loads(text)
        except ValueError as exc:
            raise ServingError(
                f"{where} answered something other than JSON: {text[:200]!r}"
            ) from exc
        if isinstance(answer, dict) and "error" in answer:
            raise ServingError(f"{where} answered an error: {answer['error']}")
        if not isinstance(answer, dict) or "outputs" not in answer:
            raise ServingError(
                f"{where} answered without 'outputs' (TF Serving's columnar response): "
                f"{str(answer)[:200]}"
            )
        outputs = answer["outputs"]
        if not isinstance(outputs, dict):
            raise ServingError(
                f"{where} answered a single output; a keraslab classifier has several"
            )
        return outputs


def _error_message(body: bytes) -> str:
    """TF Serving's ``{"error": "…"}`` body, or the body itself."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:500] or "(empty body)"
    if isinstance(answer, dict) and "error" in answer:
        return str(answer["error"])
    return str(answer)[:500]


def _request_inputs(images: Any) -> tuple[str, dict[str, Any]]:
    """``(signature, columnar inputs)`` for the images a caller gave."""
    if isinstance(images, np.ndarray):
        return PIXEL_SIGNATURE, {PIXEL_INPUT: _pixels(images).tolist()}
    if isinstance(images, (bytes, str, os.PathLike)):
        images = [images]
    if not isinstance(images, Sequence) or not len(images):
        raise InputSpecError(
            "predict() takes a uint8 array (N, H, W, C) or a non-empty list of image files or "
            f"encoded images (bytes), got {type(images).__name__}"
        )
    arrays, encoded = [], []
    for item in images:
        if isinstance(item, bytes):
            encoded.append(item)
        elif isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if not path.is_file():
                raise InputSpecError(f"image file {path} does not exist")
            if path.suffix.lower() == ".npy":
                arrays.append(_pixels(np.load(path, allow_pickle=False)))
            else:
                encoded.append(path.read_bytes())
        else:
            raise InputSpecError(
                f"cannot send {type(item).__name__} to the server: give image files or bytes"
            )
    if arrays and encoded:
        raise InputSpecError(
            "give either .npy pixel arrays or encoded image files in one call, not both (they "
            "go to different signatures)"
        )
    if arrays:
        return PIXEL_SIGNATURE, {PIXEL_INPUT: np.concatenate(arrays).tolist()}
    payload = [{"b64": base64.b64encode(b).decode("ascii")} for b in encoded]
    return BYTES_SIGNATURE, {BYTES_INPUT: payload}


def _pixels(array: Any) -> np.ndarray:
    """Raw uint8 pixels as a batch ``(N, H, W, C)``."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise InputSpecError(
            f"raw pixels must be uint8 (0–255), got {array.dtype}; convert with "
            "np.clip(x, 0, 255).astype(np.uint8) or send image files"
        )
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise InputSpecError(f"raw pixels must be (N, H, W, C) or (H, W, C), got {array.shape}")
    return array


def _prediction(outputs: dict[str, Any], where: str) -> ServedPrediction:
    missing = {"probabilities", "class_id"} - set(outputs)
    if missing:
        raise ServingError(
            f"{where} answered outputs {sorted(outputs)} without {sorted(missing)}: is it a "
            "keraslab classifier export?"
        )
    probabilities = np.asarray(outputs["probabilities"], np.float64)
    class_ids = np.asarray(outputs["class_id"], np.int64)
    names = outputs.get("class_name")
    labels = [str(n) for n in names] if names is not None else [str(i) for i in class_ids]
    return ServedPrediction(labels, class_ids, probabilities)
