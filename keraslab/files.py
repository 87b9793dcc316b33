"""Atomic file writes, so that nothing on disk is ever left half-written.

A file is written under a hidden temporary sibling ``.tmp-<pid>-<name>`` and renamed over its
target with ``os.replace``, which is atomic on POSIX and Windows: a reader (TF Serving, a
resumed run, another process reading the manifest) sees the old file or the new one, never a
torn one. The temporary name keeps the target's suffix, because Keras only writes weights to
names ending in ``.weights.h5``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields the temporary sibling to write ``path``'s new content to; when the block ends
    without an exception it replaces ``path``, otherwise it is removed and ``path`` is untouched.

    Example:
        >>> with atomic_path(run / "last.weights.h5") as tmp:
        ...     model.save_weights(tmp)
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """``Path(path).write_text(text)``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
