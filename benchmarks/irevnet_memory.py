"""Peak training memory and step time of an i-RevNet against its depth, with and without
memory-free backprop (Gomez et al., 2017; keraslab.layers.memory_free).

Each configuration (depth × {ordinary, memory-free}) runs in a fresh subprocess, so one's
allocations never count against another's. The model is one stage of ``depth`` stride-1
i-RevNet blocks on a ``batch × 32 × 32 × 64`` input (bijective, no padding), wide enough that
activations, not weights, dominate. In the subprocess: build, run ``--warmup`` training steps
(the first traces the ``tf.function``), reset TensorFlow's allocator statistics, run
``--steps`` timed steps, and read the peak of ``tf.config.experimental.get_memory_info("CPU:0")``
over them. The training step is plain ``tf.function`` (no XLA) with SGD, run with one inter-op
thread so that the peak does not depend on which independent ops happen to run together.

Writes ``benchmarks/results/irevnet_memory.json`` and prints a table.

    python benchmarks/irevnet_memory.py            # depths 2, 8, 32; about 2-4 minutes on 2 cores
    python benchmarks/irevnet_memory.py --quick    # batch 8, depths 2 and 8
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "irevnet_memory.json"


def measure(depth: int, memory_free: bool, batch: int, steps: int, warmup: int) -> dict:
    """One configuration, in this process (the parent runs it in a fresh child)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    # One op at a time: with parallel inter-op scheduling, which independent ops happen to run
    # together changes the peak by several activations from run to run.
    tf.config.threading.set_inter_op_parallelism_threads(1)
    sys.path.insert(0, str(ROOT))
    from keraslab.models.irevnet import IRevNet

    keras.utils.set_random_seed(0)
    model = IRevNet(
        (32, 32, 64), 10, blocks=(depth,), strides=(1,), channels=(32,), memory_free=memory_free
    )
    optimizer = keras.optimizers.SGD(0.01)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tf.constant(np.random.default_rng(0).standard_normal((batch, 32, 32, 64)), tf.float32)
    y = tf.constant(np.arange(batch) % 10)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    for _ in range(warmup):
        step(x, y).numpy()
    tf.config.experimental.reset_memory_stats("CPU:0")
    baseline = tf.config.experimental.get_memory_info("CPU:0")["current"]
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(x, y).numpy()
        times.append(time.perf_counter() - start)
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    weights = sum(int(np.prod(v.shape)) * 4 for v in model.weights)
    activation = batch * 32 * 32 * 64 * 4
    return {
        "depth": depth,
        "memory_free": memory_free,
        "batch": batch,
        "peak_bytes": int(peak),
        "resident_before_steps_bytes": int(baseline),
        "peak_above_resident_bytes": int(peak - baseline),
        "weights_bytes": weights,
        "one_activation_bytes": activation,
        "step_time_s_median": statistics.median(times),
        "step_times_s": times,
    }


def run_child(args: argparse.Namespace, depth: int, memory_free: bool) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        f"--depth={depth}",
        f"--batch={args.batch}",
        f"--steps={args.steps}",
        f"--warmup={args.warmup}",
    ] + (["--memory-free"] if memory_free else [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(
            f"depth {depth}, memory_free={memory_free} failed:\n{out.stderr[-3000:]}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--quick", action="store_true", help="batch 8, depths 2 and 8")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--depth", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-free", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = measure(args.depth, args.memory_free, args.batch, args.steps, args.warmup)
        print(json.dumps(result))
        return
    if args.quick:
        args.batch, args.depths = 8, [2, 8]

    started = time.time()
    runs = [run_child(args, d, mf) for d in args.depths for mf in (False, True)]
    by = {(r["depth"], r["memory_free"]): r for r in runs}
    lo, hi = min(args.depths), max(args.depths)
    summary = {
        f"peak_growth_{lo}_to_{hi}_blocks": {
            name: by[hi, mf]["peak_bytes"] / by[lo, mf]["peak_bytes"]
            for name, mf in (("ordinary", False), ("memory_free", True))
        },
        "step_time_ratio_memory_free_over_ordinary": {
            str(d): by[d, True]["step_time_s_median"] / by[d, False]["step_time_s_median"]
            for d in args.depths
        },
    }
    report = {
        "benchmark": "irevnet_memory",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "setup": {
            "model": "IRevNet((32, 32, 64), blocks=(depth,), strides=(1,), channels=(32,))",
            "batch": args.batch,
            "steps": args.steps,
            "warmup": args.warmup,
            "step": "tf.function GradientTape + SGD, training=True",
        },
        "runs": runs,
        "summary": summary,
        "wall_time_s": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    mib = 2.0**20
    print(f"{'depth':>5} {'memory-free':>11} {'peak MiB':>9} {'weights MiB':>11} {'step s':>7}")
    for r in runs:
        print(
            f"{r['depth']:>5} {str(r['memory_free']):>11} {r['peak_bytes'] / mib:>9.1f} "
            f"{r['weights_bytes'] / mib:>11.1f} {r['step_time_s_median']:>7.3f}"
        )
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
