"""Cost of each training penalty: the training-step time with the penalty divided by the plain
step, on LeNet (28×28×1, keraslab.models.lenet) and an MLP 784-200-200-10, batch 64.

Every variant is the real training step (``TrainingModel.train_on_batch``: forward, loss,
penalty, backward, SGD update) compiled with ``tf.function``, with and without XLA
(``jit_compile``). After ``--warmup`` untimed calls (the first traces / compiles; its time is
recorded), the variants of a model are timed **interleaved**, one step each per round, for
``--repeats`` rounds, so a busy neighbour slows them all alike; the ratio is of medians, within
one model and one compilation mode.

With ``--steps-per-call K`` (or per model, ``lenet=20 mlp=300``) each timed call is instead
``model.fit`` over ``K`` steps compiled as one loop (``steps_per_execution=K``), and the time is
divided by ``K``: the per-step cost of a real training run, without the Python overhead of one
``train_on_batch`` call per step — the fair figure to compare with the PyTorch reference's
Python loop (``penalty_cost_torch.py``). Wall and CPU time are both recorded; on a shared
machine the CPU-time ratio is the steadier one.

Targets (issue 6): one-projection Jacobian ≤ 2× the plain step, exact Jacobian (10 classes) ≤ 4×.

    python benchmarks/penalty_cost.py --steps-per-call lenet=20 mlp=300   # the recorded run
    python benchmarks/penalty_cost.py --quick    # 3 repeats, 1 warm-up: a smoke run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from steps_per_call import parse_steps_per_call, steps_for_model  # noqa: E402

from keraslab.models import lenet  # noqa: E402
from keraslab.training import TrainingModel, machine_description  # noqa: E402
from keraslab.training.penalties import get_penalty  # noqa: E402

# name → (registry name, options); None is the plain step every ratio divides by.
VARIANTS = {
    "plain": None,
    "weight_decay": ("weight_decay", {}),
    "entropy": ("entropy", {}),
    "jacobian_projection_1": ("jacobian_projection", {"projections": 1}),
    "jacobian_projection_3": ("jacobian_projection", {"projections": 3}),
    "jacobian_exact": ("jacobian", {}),
    "jacobian_spectral_3it": ("jacobian_spectral", {"iterations": 3}),
    "input_gradient": ("input_gradient", {}),
    "invariance_3T": ("invariance", {}),
    "reconstruction": ("reconstruction", {}),
    # TensorFlow's stock second derivatives (zeros sent back through the forward pass), to
    # measure what TrainingModel's skip_zero_second_derivatives saves; not run by default.
    "jacobian_projection_1_stock": ("jacobian_projection", {"projections": 1}),
    "jacobian_exact_stock": ("jacobian", {}),
}
ABLATIONS = ("jacobian_projection_1_stock", "jacobian_exact_stock")
TARGETS = {"jacobian_projection_1": 2.0, "jacobian_exact": 4.0}


def mlp() -> keras.Model:
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(200, activation="relu", name="dense1")(x)
    x = keras.layers.Dense(200, activation="relu", name="dense2")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="mlp")


MODELS = {"lenet": lenet, "mlp": mlp}


def build(model_name: str, variant: str, jit: bool, steps_per_call: int = 1) -> TrainingModel:
    keras.utils.set_random_seed(0)
    spec = VARIANTS[variant]
    penalties = [] if spec is None else [get_penalty(spec[0], 1e-3, **spec[1])]
    model = TrainingModel(
        MODELS[model_name](), penalties, skip_zero_second_derivatives=variant not in ABLATIONS
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
        steps_per_execution=steps_per_call,
    )
    return model


def stepper(model: TrainingModel, x: tf.Tensor, y: tf.Tensor, steps_per_call: int):
    """A function doing ``steps_per_call`` training steps on the batch ``(x, y)``."""
    if steps_per_call == 1:
        return lambda: model.train_on_batch(x, y)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    return lambda: model.fit(data, epochs=1, steps_per_epoch=steps_per_call, verbose=0)


def run(args: argparse.Namespace) -> dict:
    # Every variant is a separate model, hence a separate traced step: not a retracing problem.
    tf.get_logger().setLevel("ERROR")
    rng = np.random.default_rng(0)
    # Tensors, not arrays: no host-to-tensor conversion inside the timed calls.
    x = tf.constant(rng.normal(size=(args.batch, 28, 28, 1)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size=args.batch).astype("int32"))
    variants = [v for v in VARIANTS if v == "plain" or v in args.variants]
    results = []
    for model_name in args.models:
        for jit in args.jit:
            mode = "xla" if jit else "tf.function"
            models, first = {}, {}
            k = steps_for_model(args.steps_per_call, model_name)
            for v in variants:
                models[v] = stepper(build(model_name, v, jit, k), x, y, k)
                start = time.perf_counter()
                for _ in range(args.warmup):
                    models[v]()
                first[v] = time.perf_counter() - start
                print(f"  {model_name:6s} {mode:11s} {v:24s} warm-up {first[v]:7.2f} s", flush=True)
            wall = {v: [] for v in variants}
            cpu = {v: [] for v in variants}
            for _ in range(args.repeats):
                for v in variants:
                    w0, c0 = time.perf_counter(), time.process_time()
                    models[v]()
                    wall[v].append((time.perf_counter() - w0) / k)
                    cpu[v].append((time.process_time() - c0) / k)
            plain = statistics.median(wall["plain"])
            plain_cpu = statistics.median(cpu["plain"])
            for v in variants:
                med = statistics.median(wall[v])
                row = {
                    "model": model_name,
                    "mode": mode,
                    "variant": v,
                    "median_step_s": med,
                    "ratio_to_plain": med / plain,
                    "cpu_ratio_to_plain": statistics.median(cpu[v]) / plain_cpu,
                    "median_cpu_s": statistics.median(cpu[v]),
                    "steps_per_call": k,
                    "warmup_s": first[v],
                    "step_times_s": wall[v],
                }
                if v in TARGETS:
                    row["target_ratio"] = TARGETS[v]
                    row["meets_target"] = med / plain <= TARGETS[v]
                results.append(row)
            del models
    return {"results": results}


def table(results: list[dict]) -> str:
    modes = sorted({(r["model"], r["mode"]) for r in results})
    variants = list(dict.fromkeys(r["variant"] for r in results))
    header = "| variant | " + " | ".join(f"{m} {mode}" for m, mode in modes) + " |"
    lines = [header, "|---|" + "---:|" * len(modes)]
    index = {(r["model"], r["mode"], r["variant"]): r for r in results}
    for v in variants:
        cells = []
        for m, mode in modes:
            r = index.get((m, mode, v))
            if r is None:
                cells.append("")
            elif v == "plain":
                cells.append(
                    f"{1000 * r['median_step_s']:.1f} ms (CPU {1000 * r['median_cpu_s']:.1f} ms)"
                )
            else:
                mark = "" if "meets_target" not in r else (" ✓" if r["meets_target"] else " ✗")
                cells.append(f"{r['ratio_to_plain']:.2f}×{mark} ({r['cpu_ratio_to_plain']:.2f}×)")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(path: Path, torch_path: Path | None) -> Path:
    """Per-step time of every variant, one panel per model, keraslab (tf.function, XLA) next to
    the PyTorch reference when its results exist; log scale, since the exact Jacobian is an order
    of magnitude above the rest. Written beside ``path`` as ``.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = json.loads(path.read_text())["results"]
    series = {}
    for r in rows:
        series.setdefault(f"keraslab {r['mode']}", {})[(r["model"], r["variant"])] = r
    if torch_path is not None and torch_path.exists():
        for r in json.loads(torch_path.read_text())["results"]:
            series.setdefault("PyTorch reference", {})[(r["model"], r["variant"])] = r
    models = list(dict.fromkeys(r["model"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(7.5 * len(models), 4.8), squeeze=False)
    width = 0.8 / len(series)
    for ax, model in zip(axes[0], models, strict=True):
        for i, (label, found) in enumerate(series.items()):
            xs = [j for j, v in enumerate(variants) if (model, v) in found]
            ms = [1000 * found[(model, variants[j])]["median_step_s"] for j in xs]
            ax.bar([j + (i - (len(series) - 1) / 2) * width for j in xs], ms, width, label=label)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xticks(range(len(variants)), variants, rotation=40, ha="right", fontsize=8)
        ax.set(ylabel="training step (ms, median)", title=f"{model}, batch 64")
        ax.grid(axis="y", alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=110)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[v for v in VARIANTS if v != "plain" and v not in ABLATIONS],
        choices=[v for v in VARIANTS if v != "plain"],
    )
    parser.add_argument(
        "--no-jit",
        dest="jit",
        action="store_const",
        const=[False],
        default=[False, True],
        help="only tf.function, no XLA",
    )
    parser.add_argument(
        "--steps-per-call",
        nargs="+",
        default=["1"],
        metavar="[MODEL=]K",
        help="time model.fit over K steps compiled as one loop, per step, for "
        "every model or per model (default 1: one train_on_batch call per "
        "step)",
    )
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 warm-up")
    parser.add_argument(
        "--plot",
        action="store_true",
        help="run nothing: plot --out (and penalty_cost_torch.json beside it) "
        "as per-step times, to a .png beside it",
    )
    default_out = Path(__file__).parent / "results" / "penalty_cost.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    try:
        args.steps_per_call = parse_steps_per_call(args.steps_per_call, MODELS)
    except ValueError as e:
        parser.error(str(e))
    if args.plot:
        print(f"wrote {plot(args.out, args.out.with_name('penalty_cost_torch.json'))}")
        return
    if args.quick:
        args.repeats, args.warmup = 3, 1
    start = time.time()
    info = {
        "benchmark": "penalty_cost",
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "load_average_at_start": os.getloadavg(),
        "batch": args.batch,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "steps_per_call": args.steps_per_call,
        "penalty_weight": 1e-3,
    }
    out = run(args)
    info["load_average_at_end"] = os.getloadavg()
    info["total_s"] = round(time.time() - start, 1)
    info.update(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(info, indent=1) + "\n")
    print(table(out["results"]))
    print(f"wrote {args.out} ({info['total_s']} s)")


if __name__ == "__main__":
    main()
