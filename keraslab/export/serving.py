"""TF Serving configuration for a directory of exported models.

TF Serving serves several models from one ``--model_config_file`` (a text protobuf
``ModelServerConfig``); :func:`models_config` writes it for the models under a base directory,
as they will be mounted inside the server (by default ``/models/<name>``, the convention of the
``tensorflow/serving`` Docker image). With ``--enable_batching`` the server groups concurrent
requests into one batch, configured by ``--batching_parameters_file`` (a text protobuf
``BatchingParameters``): :func:`batching_parameters` writes it, next to ``models.config``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path

from keraslab.files import atomic_write_text

MODELS_CONFIG_FILE = "models.config"
BATCHING_PARAMETERS_FILE = "batching_parameters.txt"


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's server-side batching (``BatchingParameters`` in its
    ``session_bundle_config.proto``; the fields are ``Int64Value`` wrappers, hence
    ``max_batch_size { value: 64 }`` in the text format).

    Defaults, for the small image classifiers of the zoo on a CPU server:

    Attributes:
        max_batch_size: 64, the largest batch the latency benchmark measures; larger batches of
            28×28 images gain little per image on CPU and make every request in them wait for
            the whole batch.
        batch_timeout_micros: 1000 (1 ms): how long a batch may wait to fill. This is the
            latency a lone request pays; a zoo model answers one image in about a millisecond,
            so a longer wait would dominate it.
        max_enqueued_batches: 100: the queue's bound; beyond it TF Serving refuses requests
            (``UNAVAILABLE``) instead of letting latency grow without limit.
        num_batch_threads: 4: batches processed in parallel; set it to the server's CPU
            cores (TF Serving's own advice), each batch then runs on one.
    """

    max_batch_size: int = 64
    batch_timeout_micros: int = 1000
    max_enqueued_batches: int = 100
    num_batch_threads: int = 4

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name == "batch_timeout_micros" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(
                    f"BatchingParameters.{field.name} must be an integer ≥ {minimum}, got {value!r}"
                )


def batching_parameters(params: BatchingParameters | None = None) -> str:
    """The ``--batching_parameters_file`` text for TF Serving (defaults of
    :class:`BatchingParameters`)."""
    params = params or BatchingParameters()
    return "".join(
        f"{field.name} {{ value: {getattr(params, field.name)} }}\n"
        for field in dataclasses.fields(params)
    )


def models_config(names: Iterable[str], mount_point: str = "/models") -> str:
    """The ``models.config`` text for TF Serving, one entry per model name (sorted).

    Serve with::

        docker run -p 8500:8500 -p 8501:8501 -v "$PWD/savedmodels:/models" tensorflow/serving \\
            --model_config_file=/models/models.config --enable_model_warmup=true \\
            --enable_batching=true --batching_parameters_file=/models/batching_parameters.txt
    """
    entries = []
    for name in sorted(set(names)):
        if not name or "/" in name or '"' in name:
            raise ValueError(f"{name!r} is not a valid model directory name")
        entries.append(
            "  config {\n"
            f'    name: "{name}"\n'
            f'    base_path: "{mount_point.rstrip("/")}/{name}"\n'
            '    model_platform: "tensorflow"\n'
            "  }\n"
        )
    return "model_config_list {\n" + "".join(entries) + "}\n"


def write_models_config(
    base_dir: str | os.PathLike,
    mount_point: str = "/models",
    batching: BatchingParameters | None = None,
) -> Path:
    """Write ``base_dir/models.config`` (atomically) for every model directory in ``base_dir``
    that holds at least one numeric version, and ``base_dir/batching_parameters.txt``
    (:func:`batching_parameters` of ``batching``) next to it. Returns the ``models.config``
    path."""
    base = Path(base_dir)
    names = [
        p.name
        for p in base.iterdir()
        if p.is_dir() and any(v.is_dir() and v.name.isdigit() for v in p.iterdir())
    ]
    path = base / MODELS_CONFIG_FILE
    atomic_write_text(path, models_config(names, mount_point))
    atomic_write_text(base / BATCHING_PARAMETERS_FILE, batching_parameters(batching))
    return path


__all__ = [
    "BATCHING_PARAMETERS_FILE",
    "MODELS_CONFIG_FILE",
    "BatchingParameters",
    "batching_parameters",
    "models_config",
    "write_models_config",
]
