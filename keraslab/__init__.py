"""keraslab: a Keras 3 model zoo and training lab for the signal-processing view of deep learning.

Subpackages, lowest first (a lower one never imports a higher one):
``layers`` → ``models`` → ``training`` / ``analysis`` → ``evaluation`` → ``zoo`` → ``cli``,
with ``export`` below ``zoo`` and ``serving`` (TF Serving clients) between ``export`` and ``cli``.
``data`` and ``errors`` stand beside them and import no other part of keraslab except ``errors``;
``ops`` (autodiff products, the warp, argument checks) sits below ``training`` and ``analysis``
and imports only TensorFlow, Keras and NumPy.

``import keraslab`` is cheap: each subpackage is imported on first use
(``keraslab.zoo.list()`` works after a bare ``import keraslab``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "analysis",
    "cli",
    "data",
    "errors",
    "evaluation",
    "export",
    "layers",
    "models",
    "ops",
    "serving",
    "training",
    "zoo",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"keraslab.{name}")
    raise AttributeError(f"module 'keraslab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
