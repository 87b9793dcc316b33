"""Test-wide setup. Runs before TensorFlow executes any op, so the CPU can still be split."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Tests never try a TFDS download: offline runs must not wait on network time-outs.
os.environ["KERASLAB_OFFLINE"] = "1"

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so MirroredStrategy can be tested on a CPU-only machine.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from the same seed and the default float32 policy."""
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses ``mirrored_strategy`` is ``slow``: it builds and runs a distributed
    step on two replicas (seconds to minutes on 2 cores). The fixture marks it, not the test."""
    for item in items:
        if "mirrored_strategy" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy over the two logical CPUs for the whole session: two strategies in
    one process can hand out clashing collective-op keys ("Shape mismatch in the collective
    instance"), which made the distribution tests depend on their order. Tests that use it are
    marked ``slow`` (``pytest_collection_modifyitems`` above)."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    assert len(devices) == 2, "the CPU should have been split in two above"
    return tf.distribute.MirroredStrategy(devices)


@pytest.fixture
def run_lab():
    """Run a lab script as a student would (a subprocess, offline, ``--quick`` and one epoch
    unless told otherwise) and return ``(results.json as a dict, stdout)``. NaN or infinity
    in results.json fails the test: they are not JSON."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    labs = Path(__file__).resolve().parent.parent / "labs"

    def run(script, out, *args, quick=True, epochs=1, env=None):
        env = {**os.environ, "KERASLAB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
        flags = (["--quick"] if quick else []) + (["--epochs", str(epochs)] if epochs else [])
        proc = subprocess.run(
            [sys.executable, str(labs / script), *flags, "--out", str(out), *args],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]

        def refuse(constant):
            raise AssertionError(f"results.json holds {constant}")

        results = json.loads((Path(out) / "results.json").read_text(), parse_constant=refuse)
        return results, proc.stdout

    return run
