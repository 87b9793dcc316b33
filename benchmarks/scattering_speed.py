"""Forward and backward speed of keraslab.layers.Scattering2D against Kymatio 0.3 on CPU.

Measures, in one process and interleaved round by round (so a busy neighbour slows every
variant alike), the throughput in images per second of:

* keraslab's ``Scattering2D`` called eagerly, inside ``tf.function`` and inside
  ``tf.function(jit_compile=True)`` (XLA);
* Kymatio 0.3's TensorFlow front end (``from kymatio.tensorflow import Scattering2D``) in the
  same three modes — a variant that fails is recorded with its error;
* the backward pass of keraslab's layer: the input gradient ``d sum(S(x)) / dx`` (forward +
  backward, as a Jacobian penalty or an attack computes it), in ``tf.function`` and XLA.

Each timing is the median over ``--repeats`` rounds after ``--warmup`` untimed calls (the first
of which traces / compiles; its time is reported separately). Writes
``benchmarks/results/scattering_speed.json`` and prints a table.

    python benchmarks/scattering_speed.py            # full run, a few minutes on 2 cores
    python benchmarks/scattering_speed.py --quick    # smaller batches, fewer repeats
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from keraslab.layers import Scattering2D  # noqa: E402

CASES = [
    {"name": "cifar-like", "shape": (128, 32, 32, 3), "J": 2, "L": 8, "max_order": 2},
    {"name": "mnist-like", "shape": (256, 28, 28, 1), "J": 3, "L": 8, "max_order": 2},
]
MODES = ("eager", "tf.function", "tf.function(jit_compile=True)")


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version(), "tensorflow": tf.__version__}
    versions["keras"] = keras.__version__
    versions["numpy"] = np.__version__
    try:
        import kymatio

        versions["kymatio"] = kymatio.__version__
    except ImportError:
        versions["kymatio"] = None
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "tf_devices": [d.name for d in tf.config.list_logical_devices()],
        "versions": versions,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def wrap(fn, mode):
    if mode == "eager":
        return fn
    return tf.function(fn, jit_compile=mode.endswith("jit_compile=True)"))


def force(result):
    """Wait for the computation: fetch the outputs to NumPy."""
    return [t.numpy() for t in tf.nest.flatten(result)]


class Variant:
    """One callable to time; records why it failed instead of raising."""

    def __init__(self, library, mode, kind, fn, args):
        self.library, self.mode, self.kind = library, mode, kind
        self.fn, self.args = fn, args
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self.first_call_s = None
        self.error = None
        self.output = None

    def warm_up(self, calls):
        try:
            start = time.perf_counter()
            self.output = force(self.fn(*self.args))
            self.first_call_s = time.perf_counter() - start
            for _ in range(calls - 1):
                force(self.fn(*self.args))
        except Exception as error:  # noqa: BLE001 - a failing variant is a result, not a crash
            self.error = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"

    def time_once(self):
        if self.error is None:
            start, cpu_start = time.perf_counter(), time.process_time()
            force(self.fn(*self.args))
            self.times.append(time.perf_counter() - start)
            self.cpu_times.append(time.process_time() - cpu_start)


def build_variants(case, with_kymatio=True):
    B, H, W, C = case["shape"]
    J, L, order = case["J"], case["L"], case["max_order"]
    x = tf.constant(np.random.default_rng(0).random((B, H, W, C), dtype=np.float32))
    ours = Scattering2D(J, L=L, max_order=order)
    ours(x[:1])  # build the filters outside the timings

    def input_gradient(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            total = tf.reduce_sum(ours(images))
        return tape.gradient(total, images)

    variants = [Variant("keraslab", mode, "forward", wrap(ours, mode), (x,)) for mode in MODES]
    variants += [
        Variant("keraslab", mode, "forward+input gradient", wrap(input_gradient, mode), (x,))
        for mode in MODES[1:]
    ]
    if with_kymatio:
        # Kymatio's own layout, (B, C, H, W): transposed once, outside the timings.
        x_kymatio = tf.transpose(x, [0, 3, 1, 2])
        try:
            from kymatio.tensorflow import Scattering2D as KymatioScattering2D

            theirs = KymatioScattering2D(J=J, shape=(H, W), L=L, max_order=order)
        except Exception as error:  # noqa: BLE001
            theirs = error
        for mode in MODES:
            if isinstance(theirs, Exception):
                variant = Variant("kymatio", mode, "forward", None, ())
                variant.error = f"{type(theirs).__name__}: {theirs}"
            else:
                variant = Variant("kymatio", mode, "forward", wrap(theirs, mode), (x_kymatio,))
            variants.append(variant)
    return variants


def parity(variants):
    """Max |keraslab − kymatio| / max |kymatio| between the eager outputs, if both ran."""
    ours = next(v for v in variants if v.library == "keraslab" and v.mode == "eager")
    theirs = [v for v in variants if v.library == "kymatio" and v.output is not None]
    if ours.output is None or not theirs:
        return None
    ref = theirs[0].output[0]  # (B, C, K, h, w)
    B, C, K, h, w = ref.shape
    ref = ref.transpose(0, 3, 4, 1, 2).reshape(B, h, w, C * K)
    return float(np.abs(ours.output[0] - ref).max() / np.abs(ref).max())


def run_case(case, repeats, warmup, with_kymatio):
    variants = build_variants(case, with_kymatio)
    for variant in variants:
        variant.warm_up(warmup)
    for _ in range(repeats):  # interleaved: every variant once per round
        for variant in variants:
            variant.time_once()
    batch = case["shape"][0]
    rows = []
    for v in variants:
        row = {"library": v.library, "mode": v.mode, "pass": v.kind}
        if v.error is not None:
            row["error"] = v.error
        else:
            median = float(np.median(v.times))
            row.update(
                median_s=median,
                min_s=float(np.min(v.times)),
                images_per_s=batch / median,
                # CPU time of this process (all threads): the work done, whatever the load.
                median_cpu_s=float(np.median(v.cpu_times)),
                first_call_s=v.first_call_s,
                times_s=[round(t, 5) for t in v.times],
            )
        rows.append(row)
    best = {}
    for library in ("keraslab", "kymatio"):
        ok = [
            r
            for r in rows
            if r["library"] == library and r["pass"] == "forward" and "error" not in r
        ]
        if ok:
            best[library] = max(ok, key=lambda r: r["images_per_s"])
    summary = {}
    if len(best) == 2:
        summary["speedup_best_vs_best"] = (
            best["keraslab"]["images_per_s"] / best["kymatio"]["images_per_s"]
        )
        summary["best_modes"] = {k: v["mode"] for k, v in best.items()}
        for mode in MODES:
            pair = [
                r for r in rows if r["mode"] == mode and r["pass"] == "forward" and "error" not in r
            ]
            if len(pair) == 2:
                ours, theirs = sorted(pair, key=lambda r: r["library"] != "keraslab")
                summary[f"speedup_same_mode[{mode}]"] = (
                    ours["images_per_s"] / theirs["images_per_s"]
                )
                summary[f"cpu_time_ratio_same_mode[{mode}]"] = (
                    theirs["median_cpu_s"] / ours["median_cpu_s"]
                )
    forward = {r["mode"]: r for r in rows if r["library"] == "keraslab" and r["pass"] == "forward"}
    for r in rows:
        if r["library"] == "keraslab" and r["pass"] != "forward" and "error" not in r:
            summary[f"backward_over_forward[{r['mode']}]"] = (
                r["median_s"] / forward[r["mode"]]["median_s"]
            )
    return {
        **case,
        "shape": list(case["shape"]),
        "relative_difference_to_kymatio": parity(variants),
        "results": rows,
        "summary": summary,
    }


def print_table(report):
    for case in report["cases"]:
        B, H, W, C = case["shape"]
        print(
            f"\n{case['name']}: input ({B}, {H}, {W}, {C}), J={case['J']}, L={case['L']}, "
            f"max_order={case['max_order']}; |keraslab − kymatio| / max|kymatio| = "
            f"{case['relative_difference_to_kymatio']}"
        )
        print(
            f"  {'library':9s} {'pass':24s} {'mode':31s} {'median ms':>10s} {'images/s':>9s} "
            f"{'CPU ms':>8s}"
        )
        for r in case["results"]:
            if "error" in r:
                print(f"  {r['library']:9s} {r['pass']:24s} {r['mode']:31s}  FAILED: {r['error']}")
            else:
                print(
                    f"  {r['library']:9s} {r['pass']:24s} {r['mode']:31s} "
                    f"{r['median_s'] * 1e3:10.1f} {r['images_per_s']:9.0f} "
                    f"{r['median_cpu_s'] * 1e3:8.1f}"
                )
        for key, value in case["summary"].items():
            print(f"  {key}: {value if isinstance(value, dict) else f'{value:.2f}'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds (default 9)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    parser.add_argument("--quick", action="store_true", help="batch / 8, 3 repeats: a smoke run")
    parser.add_argument("--no-kymatio", action="store_true", help="time keraslab only")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "scattering_speed.json",
    )
    args = parser.parse_args(argv)
    cases = [dict(c) for c in CASES]
    if args.quick:
        args.repeats = min(args.repeats, 3)
        for c in cases:
            c["shape"] = (c["shape"][0] // 8, *c["shape"][1:])
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "cases": [],
    }
    for case in cases:
        report["cases"].append(run_case(case, args.repeats, args.warmup, not args.no_kymatio))
    report["machine"]["load_average_at_end"] = (
        os.getloadavg() if hasattr(os, "getloadavg") else None
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
