"""The callbacks every keraslab training run gets by default.

Written so that nothing on disk is lost: checkpoints and the JSON history are written to a
temporary sibling and renamed over the old file (``os.replace`` is atomic on POSIX and Windows),
and ``keras.callbacks.BackupAndRestore`` lets an interrupted run resume where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import keras

from keraslab.files import atomic_path, atomic_write_text


def _to_float(value: Any) -> float:
    return float(value.numpy() if hasattr(value, "numpy") else value)


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the network's weights as ``last.weights.h5`` every epoch and ``best.weights.h5``
    whenever ``monitor`` improves, each atomically.

    Only the wrapped network is saved (not the training wrapper or the optimizer: resuming is
    ``BackupAndRestore``'s job), so ``network.load_weights(".../best.weights.h5")`` works on a
    freshly built zoo model.

    Args:
        directory: where the two files go.
        network: the model whose weights to save (defaults to the model being trained).
        monitor: metric to watch, e.g. ``"val_accuracy"`` (falls back to ``"accuracy"``/``"loss"``
            when absent).
        mode: ``"max"`` or ``"min"``.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        network: keras.Model | None = None,
        monitor: str = "val_accuracy",
        mode: str = "max",
    ) -> None:
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.directory = Path(directory)
        self.network = network
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = None
        self._state_path = self.directory / "best.json"
        if self._state_path.exists():
            # A resumed run must not let its first epoch overwrite an earlier, better "best".
            self.best = json.loads(self._state_path.read_text()).get("value")

    def _save(self, name: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.directory / f"{name}.weights.h5") as tmp:
            (self.network or self.model).save_weights(tmp)

    def _monitored(self, logs: dict[str, Any]) -> tuple[str, float, str] | None:
        candidates = [(self.monitor, self.mode), (self.monitor.removeprefix("val_"), self.mode)]
        candidates.append(("loss", "min"))  # the last resort is always minimised
        for key, mode in candidates:
            if key in logs:
                return key, _to_float(logs[key]), mode
        return None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if "loss" in logs and not math.isfinite(_to_float(logs["loss"])):
            # A diverged epoch must not replace the last good weights.
            return
        self._save("last")
        found = self._monitored(logs)
        if found is None or not math.isfinite(found[1]):
            return
        key, value, mode = found
        better = (
            self.best is None
            or (mode == "max" and value > self.best)
            or (mode == "min" and value < self.best)
        )
        if better:
            self.best = value
            self._save("best")
            atomic_write_text(
                self._state_path, json.dumps({"monitor": key, "value": value, "epoch": epoch + 1})
            )


class JsonHistory(keras.callbacks.Callback):
    """Keeps ``history.json``: a list with one ``{"epoch": n, "epoch_time_s": t, metric: value,
    …}`` per epoch (non-finite values become ``null``, so the file is strict JSON).

    Rewritten atomically after every epoch. On resume, entries from epochs that are being
    re-run are dropped, so the file always describes one consistent run, and the sum of
    ``epoch_time_s`` is the run's training time across interruptions.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        self.path = Path(path)
        self.records: list[dict[str, float | None]] = []
        self._epoch_start = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.path.exists():
            self.records = json.loads(self.path.read_text())

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        record: dict[str, float | None] = {
            "epoch": epoch + 1,
            "epoch_time_s": round(time.perf_counter() - self._epoch_start, 3),
        }
        for k, v in (logs or {}).items():
            value = _to_float(v)
            record[k] = value if math.isfinite(value) else None
        self.records = [r for r in self.records if r["epoch"] < epoch + 1] + [record]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.records, indent=1))


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss and remembers where it happened.

    Unlike ``keras.callbacks.TerminateOnNaN`` it records ``diverged_at`` so the caller can raise
    one clear error (``keraslab.training.fit`` raises ``TrainingDivergedError``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.diverged_at: dict[str, Any] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = _to_float(loss)
        if not math.isfinite(value):
            self.diverged_at = {"epoch": self._epoch + 1, "batch": batch + 1, "loss": value}
            self.model.stop_training = True


def default_callbacks(
    out_dir: str | os.PathLike,
    *,
    network: keras.Model | None = None,
    monitor: str = "val_accuracy",
    tensorboard: bool = True,
    backup: bool = True,
) -> list[keras.callbacks.Callback]:
    """The standard set: NaN guard, CSV + JSON history, TensorBoard logs, best/last checkpoints
    and ``BackupAndRestore`` (so rerunning the same command after an interruption resumes).

    Layout under ``out_dir``: ``history.csv``, ``history.json``, ``tensorboard/``,
    ``checkpoints/{best,last}.weights.h5``, ``backup/`` (removed when training completes).
    The progress bar is Keras's own (``fit(verbose=1)``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    callbacks: list[keras.callbacks.Callback] = [StopOnNaN()]
    if backup:
        callbacks.append(keras.callbacks.BackupAndRestore(str(out / "backup")))
    callbacks += [
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
        JsonHistory(out / "history.json"),
        AtomicCheckpoint(out / "checkpoints", network=network, monitor=monitor),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out / "tensorboard"), write_graph=False))
    return callbacks


__all__ = ["AtomicCheckpoint", "JsonHistory", "StopOnNaN", "default_callbacks"]
