"""A test-only stand-in for TF Serving's REST predict API, on 127.0.0.1.

It implements the documented request and response formats (tensorflow.org/tfx/serving/api_rest)
by running the exported SavedModel's signatures with TensorFlow:
``POST /v1/models/NAME[/versions/V]:predict`` with ``{"signature_name", "instances"}`` (row) or
``{"signature_name", "inputs"}`` (columnar); ``{"b64": …}`` for string inputs; answers
``{"predictions": …}`` or ``{"outputs": …}`` (a dict of outputs, or the value itself when the
signature has one output), string outputs as JSON strings, errors as ``{"error": …}`` with
status 400 (bad request) or 404 (unknown model, version or signature).

It is not TF Serving: no batching, no warmup, no gRPC. It serves at most ``max_requests``
requests and stops by itself after ``lifetime_s`` seconds.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import tensorflow as tf

ROUTE = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")
MAX_BODY = 64 << 20


class ServingError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class TFServingStub:
    """``with TFServingStub(base_dir) as url:`` serves every ``base_dir/NAME/VERSION`` export."""

    def __init__(self, base_dir, *, max_requests: int = 50, lifetime_s: float = 120.0):
        self.base_dir = Path(base_dir)
        self.max_requests = max_requests
        self.lifetime_s = lifetime_s
        self.requests = []  # the parsed JSON bodies received, for tests to inspect
        self._loaded = {}
        self._lock = threading.Lock()

    def load(self, name: str, version: str | None):
        model_dir = self.base_dir / name
        versions = sorted(int(p.name) for p in model_dir.glob("*") if p.name.isdigit())
        if not versions:
            raise ServingError(404, f"Servable not found for request: Latest({name})")
        chosen = int(version) if version is not None else versions[-1]
        if chosen not in versions:
            raise ServingError(404, f"Servable not found for request: Specific({name}, {chosen})")
        key = (name, chosen)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = tf.saved_model.load(str(model_dir / str(chosen)))
        return self._loaded[key]

    def predict(self, name, version, body):
        loaded = self.load(name, version)
        signature = body.get("signature_name", "serving_default")
        if signature not in loaded.signatures:
            raise ServingError(
                404, f'Serving signature name: "{signature}" not found in signature def'
            )
        fn = loaded.signatures[signature]
        _, specs = fn.structured_input_signature
        if ("instances" in body) == ("inputs" in body):
            raise ServingError(400, "Missing 'inputs' or 'instances' key")
        row = "instances" in body
        if row:
            instances = body["instances"]
            if len(specs) == 1 and not (instances and isinstance(instances[0], dict)):
                columns = {next(iter(specs)): instances}
            else:
                columns = {k: [inst[k] for inst in instances] for k in specs}
        else:
            columns = (
                body["inputs"]
                if isinstance(body["inputs"], dict)
                else {next(iter(specs)): body["inputs"]}
            )
        feeds = {}
        for key, spec in specs.items():
            if key not in columns:
                raise ServingError(400, f"Missing input: {key}")
            value = columns[key]
            if spec.dtype == tf.string:
                value = [
                    base64.b64decode(v["b64"]) if isinstance(v, dict) else v.encode() for v in value
                ]
                feeds[key] = tf.constant(value, tf.string)
            else:
                try:
                    feeds[key] = tf.constant(np.asarray(value, spec.dtype.as_numpy_dtype))
                except (ValueError, TypeError) as exc:
                    raise ServingError(400, f"Failed to process element: {key}: {exc}") from exc
        try:
            out = fn(**feeds)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            # The op's own message, as TF Serving reports it (without the eager traceback).
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            skip = ("Graph execution error", "Detected at", "<stack", "[[")
            message = next((ln for ln in lines if not ln.startswith(skip)), lines[0])
            raise ServingError(400, message) from exc
        values = {k: _json(v.numpy()) for k, v in out.items()}
        if row:
            n = len(next(iter(values.values())))
            if len(values) == 1:
                return {"predictions": next(iter(values.values()))}
            return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(n)]}
        return {"outputs": values if len(values) > 1 else next(iter(values.values()))}

    def __enter__(self) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                status, answer = 200, None
                try:
                    with stub._lock:
                        if len(stub.requests) >= stub.max_requests:
                            raise ServingError(503, "stand-in server: request limit reached")
                    match = ROUTE.match(self.path)
                    if not match:
                        raise ServingError(404, f"Malformed request: POST {self.path}")
                    length = int(self.headers.get("Content-Length", 0))
                    if length > MAX_BODY:
                        raise ServingError(400, "request body too large")
                    try:
                        body = json.loads(self.rfile.read(length))
                    except ValueError as exc:
                        raise ServingError(400, f"JSON Parse error: {exc}") from exc
                    with stub._lock:
                        stub.requests.append(body)
                    answer = stub.predict(match.group(1), match.group(2), body)
                except ServingError as exc:
                    status, answer = exc.status, {"error": str(exc)}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        # Stops by itself even if a test never leaves the with block.
        self._timer = threading.Timer(self.lifetime_s, self.server.shutdown)
        self._timer.daemon = True
        self._timer.start()
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc):
        self._timer.cancel()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


def _json(value: np.ndarray):
    """A tensor as TF Serving writes it in JSON: strings as text, numbers as lists."""
    if value.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value).tolist()
    return value.tolist()
