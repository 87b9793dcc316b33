"""TF Serving configuration for a directory of exported models.

TF Serving serves several models from one ``--model_config_file`` (a text protobuf
``ModelServerConfig``); :func:`models_config` writes it for the models under a base directory,
as they will be mounted inside the server (by default ``/models/<name>``, the convention of the
``tensorflow/serving`` Docker image).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from keraslab.files import atomic_write_text


def models_config(names: Iterable[str], mount_point: str = "/models") -> str:
    """The ``models.config`` text for TF Serving, one entry per model name (sorted).

    Serve with::

        docker run -p 8500:8500 -p 8501:8501 -v "$PWD/savedmodels:/models" tensorflow/serving \\
            --model_config_file=/models/models.config
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


def write_models_config(base_dir: str | os.PathLike, mount_point: str = "/models") -> Path:
    """Write ``base_dir/models.config`` (atomically) for every model directory in ``base_dir``
    that holds at least one numeric version."""
    base = Path(base_dir)
    names = [
        p.name
        for p in base.iterdir()
        if p.is_dir() and any(v.is_dir() and v.name.isdigit() for v in p.iterdir())
    ]
    path = base / "models.config"
    atomic_write_text(path, models_config(names, mount_point))
    return path


__all__ = ["models_config", "write_models_config"]
