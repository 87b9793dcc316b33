"""NMSE per layer of stage-wise trained LISTA-family networks, against ISTA and FISTA.

The experiment of Chen, Liu, Wang & Yin (2018, Fig. 3–4) and Liu, Chen, Wang & Yin (2019): on
the sparse-coding problem of :func:`keraslab.data.synthetic.sparse_coding_problem` (Gaussian
``A`` 250 × 500 with unit columns, Bernoulli(0.1) × N(0, 1) codes), noiseless and at 40 dB SNR,

* each variant of :func:`keraslab.models.lista.lista` (``lista``, ``lista_tied``, ``lista_cp``,
  ``lista_cpss``, ``alista``) with 16 layers, initialised from ``A`` with ``λ = 0.4`` (the
  default of the authors' code), is trained **stage-wise** as Chen et al. do (after Borgerding
  et al., 2017): for ``t = 1 … T``, first the parameters new in layer ``t`` alone on the loss of
  layer ``t``'s output, at learning rate ``lr``; then every layer up to ``t`` on the same loss at
  ``0.2·lr`` and at ``0.02·lr`` (Adam, ``lr = 5e-4``, batches of 64 fresh examples). Each stage
  runs until the validation NMSE of layer ``t`` has not improved for ``--patience`` steps (at
  most ``--max-steps``), and keeps its best weights. The tied LISTA has one set of parameters
  for every layer, so all three of its stages train them (at the three rates);
* ISTA and FISTA run 1000 iterations for ``λ ∈ {0.1, 0.03, 0.01, 0.003}``.

NMSE is ``10·log10(Σ‖ẑ − z‖² / Σ‖z‖²)`` over a fixed test set of 1000 examples
(:func:`keraslab.models.lista.nmse_db`), for every layer / iteration. Writes
``benchmarks/results/lista_nmse.json`` and prints a summary.

    python benchmarks/lista_nmse.py            # the full run: ~10-16 h on 2 CPU cores
    python benchmarks/lista_nmse.py --quick    # a 25 × 50 problem, 4 layers: ~1 min
    python benchmarks/lista_nmse.py --max-steps 1000 --patience 200   # ~3-4 h

Time of the full run, estimated from measured XLA step times on 2 shared Xeon cores (a batch
of 64 through ``t`` layers costs about 3.5 ms · t forward and backward, for every variant):
one stage of ``S`` steps at depth ``t`` is ``S · 3.5 ms · t``, so one variant at one noise level
is at most ``3 · 4000 · 3.5 ms · (1 + … + 16) ≈ 1.6 h``, and the ten trainings ≈ 16 h if no
stage stops early (early stopping and the cheaper ALISTA steps bring it nearer 10 h); ISTA /
FISTA add minutes. Chen et al. train far longer per stage on a GPU, so expect this run's
curves to lie somewhat above the papers'.

``--quick`` writes ``results/lista_nmse_quick.json`` unless ``--out`` is given, so a smoke run
never overwrites the full results.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from keraslab.data.synthetic import SparseCodingProblem, sparse_coding_problem  # noqa: E402
from keraslab.layers.sparse import FISTA, ISTA  # noqa: E402
from keraslab.models.lista import VARIANTS, lista, nmse_db  # noqa: E402
from keraslab.training.sparse_coding import (  # noqa: E402
    STAGES,
    StagewiseSchedule,
    train_stagewise,
)

RESULTS = Path(__file__).resolve().parent / "results"


@dataclasses.dataclass
class Config:
    m: int = 250
    n: int = 500
    p: float = 0.1
    snrs_db: tuple[float, ...] = (math.inf, 40.0)
    T: int = 16
    init_lam: float = 0.4
    variants: tuple[str, ...] = VARIANTS
    batch_size: int = 64
    lr: float = 5e-4
    max_steps: int = 4000
    # Per-variant limits replacing max_steps (--steps VARIANT=N): the coupled variants converge
    # in a few hundred steps a stage, untied LISTA needs several times more.
    steps_by_variant: dict[str, int] = dataclasses.field(default_factory=dict)
    val_every: int = 50
    patience: int = 500
    val_size: int = 1000
    test_size: int = 1000
    solver_iterations: int = 1000
    solver_lams: tuple[float, ...] = (0.1, 0.03, 0.01, 0.003)
    seed: int = 0
    jit: bool = True  # XLA: ~2x faster steps for the 16-layer LISTA, slower to compile


QUICK = {
    "m": 25,
    "n": 50,
    "T": 4,
    "max_steps": 60,
    "val_every": 10,
    "patience": 30,
    "val_size": 200,
    "test_size": 200,
    "solver_iterations": 50,
    "jit": False,  # a smoke run is mostly compilation
}


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
        },
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


# --------------------------------------------------------------------------- training


def train_variant(problem, variant, cfg, x_val, z_val, x_test, z_test, bar) -> dict:
    """One variant, trained stage-wise by the library (keraslab.training.sparse_coding)."""
    keras.utils.set_random_seed(cfg.seed)
    model = lista(problem.A, T=cfg.T, variant=variant, lam=cfg.init_lam, return_all=True)
    initial = [float(nmse_db(z_hat, z_test)) for z_hat in model(x_test)]
    # The same training stream for every variant (a fair comparison).
    schedule = StagewiseSchedule(
        learning_rate=cfg.lr,
        max_steps=cfg.steps_by_variant.get(variant, cfg.max_steps),
        patience=cfg.patience,
        validate_every=cfg.val_every,
        jit_compile=cfg.jit,
    )
    result = train_stagewise(
        model,
        problem.dataset(cfg.batch_size, seed=cfg.seed + 10),
        (x_val, z_val),
        schedule=schedule,
    )
    bar.update(cfg.T * len(STAGES))
    final = [float(nmse_db(z_hat, z_test)) for z_hat in model(x_test)]
    return {
        "max_steps": schedule.max_steps,
        "patience": schedule.patience,
        "nmse_db_per_layer": final,
        "initial_nmse_db_per_layer": initial,
        "trainable_parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
        "train_seconds": result.train_seconds,
        "stages": result.stages,
    }


# --------------------------------------------------------------------------- ISTA / FISTA


def solver_curve(cls, A, lam, iterations, x, z, chunk=100) -> list[float]:
    """NMSE (dB) after each iteration ``1 … iterations``, accumulated over chunks of the set."""
    layer = cls(A, lam, iterations, return_iterates=True)
    run = tf.function(layer, jit_compile=True)
    error = np.zeros(iterations)
    for start in range(0, len(x), chunk):
        iterates = run(x[start : start + chunk]).numpy().astype(np.float64)
        error += np.sum((iterates - z[start : start + chunk, None]) ** 2, axis=(0, 2))
    return (10 * np.log10(error / np.sum(z.astype(np.float64) ** 2))).tolist()


# --------------------------------------------------------------------------- main


def run(cfg: Config) -> dict:
    settings = {}
    per_setting = len(cfg.variants) * cfg.T * len(STAGES) + 2 * len(cfg.solver_lams)
    with tqdm(total=len(cfg.snrs_db) * per_setting, unit="stage", dynamic_ncols=True) as bar:
        for snr in cfg.snrs_db:
            name = "noiseless" if math.isinf(snr) else f"snr_{snr:g}dB"
            base = sparse_coding_problem(cfg.m, cfg.n, cfg.p, seed=cfg.seed)
            problem = SparseCodingProblem(base.A, p=cfg.p, snr_db=snr)
            x_val, z_val = problem.sample(cfg.val_size, seed=cfg.seed + 1)
            x_test, z_test = problem.sample(cfg.test_size, seed=cfg.seed + 2)
            result = {"snr_db": snr, "variants": {}, "ista": {}, "fista": {}}
            for variant in cfg.variants:
                bar.set_description(f"{name} {variant}")
                result["variants"][variant] = train_variant(
                    problem, variant, cfg, x_val, z_val, x_test, z_test, bar
                )
            for key, cls in (("ista", ISTA), ("fista", FISTA)):
                for lam in cfg.solver_lams:
                    bar.set_description(f"{name} {key} λ={lam:g}")
                    curve = solver_curve(cls, problem.A, lam, cfg.solver_iterations, x_test, z_test)
                    result[key][f"{lam:g}"] = curve
                    bar.update(1)
            settings[name] = result
    return settings


def print_summary(settings: dict, T: int) -> None:
    for name, result in settings.items():
        print(f"\n{name}: NMSE (dB) on the test set")
        print(f"  {'method':<22}{'layer / iteration ' + str(T):>22}{'last iteration':>16}")
        for variant, r in result["variants"].items():
            print(f"  {variant:<22}{r['nmse_db_per_layer'][-1]:>22.2f}")
        for key in ("ista", "fista"):
            for lam, curve in result[key].items():
                label = f"{key} λ={lam}"
                print(f"  {label:<22}{curve[min(T, len(curve)) - 1]:>22.2f}{curve[-1]:>16.2f}")


def summarize(path: Path) -> None:
    """A Markdown table per setting (NMSE at 16 layers / iterations, after all iterations,
    training time) and a plot of NMSE against layer / iteration beside ``path`` (``.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = json.loads(path.read_text())
    settings = report["settings"]
    fig, axes = plt.subplots(1, len(settings), figsize=(9.5 * len(settings), 4.8), squeeze=False)
    for ax, (name, result) in zip(axes[0], settings.items(), strict=True):
        T = len(next(iter(result["variants"].values()))["nmse_db_per_layer"])
        n_it = report["config"]["solver_iterations"]
        print(
            f"\n{name}\n\n| method | NMSE at {T} (dB) | after {n_it} iterations (dB) | training |"
        )
        print("|---|---:|---:|---:|")
        # In VARIANTS order, one colour per variant, whatever order the runs added them in.
        for variant in [v for v in VARIANTS if v in result["variants"]]:
            r = result["variants"][variant]
            curve = r["nmse_db_per_layer"]
            limit = r.get("max_steps") or report["config"].get("steps_by_variant", {}).get(variant)
            steps = f"≤ {limit} steps/stage" if limit else ""
            print(f"| {variant} | {curve[-1]:.1f} | | {r['train_seconds']:.0f} s {steps} |")
            ax.plot(
                range(1, T + 1),
                curve,
                "o-",
                ms=3,
                label=variant,
                color=f"C{VARIANTS.index(variant)}",
            )
        for key in ("ista", "fista"):
            for lam, curve in result[key].items():
                print(f"| {key.upper()} λ = {lam} | {curve[T - 1]:.1f} | {curve[-1]:.1f} | |")
            best = min(result[key], key=lambda lam, key=key: result[key][lam][-1])
            curve = result[key][best]
            style = "--" if key == "ista" else ":"
            ax.plot(
                range(1, len(curve) + 1),
                curve,
                style,
                color="gray" if key == "ista" else "k",
                label=f"{key.upper()} λ = {best} (best after {len(curve)})",
            )
        if "0.1" in result["ista"]:
            final = result["ista"]["0.1"][-1]
            ax.axhline(
                final,
                color="tab:red",
                lw=0.8,
                ls="-.",
                label=f"ISTA λ = 0.1 after {n_it} ({final:.1f} dB): the bar",
            )
        ax.set_xscale("log")
        ax.set(xlabel="layer / iteration", ylabel="NMSE (dB)", title=name)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=110)
    print(f"\nwrote {path.with_suffix('.png')}")


def merge(previous: dict, new: dict) -> dict:
    """``previous`` with ``new``'s variants and solver curves replacing its own, setting by
    setting; ``new``'s command, date, config and time are appended to ``updates``."""
    for name, result in new["settings"].items():
        old = previous["settings"].setdefault(name, result)
        if old is not result:
            old["variants"].update(result["variants"])
            old["ista"], old["fista"] = result["ista"], result["fista"]
    previous.setdefault("updates", []).append(
        {
            key: new[key]
            for key in ("command", "date", "machine", "config", "total_seconds")
            if key in new
        }
    )
    return previous


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny problem and budget: smoke run")
    parser.add_argument(
        "--summarize",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: print Markdown tables of a results file and plot it beside it",
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, help="default: all")
    parser.add_argument("--max-steps", type=int, help="most Adam steps per stage (default 4000)")
    parser.add_argument(
        "--patience",
        type=int,
        help="stop a stage after this many steps without a better validation NMSE (default 500)",
    )
    parser.add_argument(
        "--steps",
        action="append",
        metavar="VARIANT=N",
        default=[],
        help="most steps per stage for one variant (repeatable), e.g. --steps lista=1000",
    )
    parser.add_argument(
        "--snr", nargs="+", type=float, help="SNRs in dB (inf: noiseless); default: inf 40"
    )
    parser.add_argument("--no-jit", action="store_true", help="train without XLA")
    parser.add_argument(
        "--update",
        action="store_true",
        help="merge into an existing --out file: replace the variants (and ISTA/FISTA curves) "
        "this run computes, keep the others, and log this run under 'updates'",
    )
    parser.add_argument("--out", type=Path, help="default: results/lista_nmse.json")
    args = parser.parse_args(argv)
    if args.summarize:
        summarize(args.summarize)
        return
    cfg = Config(**(QUICK if args.quick else {}))
    if args.variants:
        cfg.variants = tuple(args.variants)
    if args.max_steps:
        cfg.max_steps = args.max_steps
    if args.patience:
        cfg.patience = args.patience
    for item in args.steps:
        variant, _, steps = item.partition("=")
        if variant not in VARIANTS or not steps.isdigit() or int(steps) < 1:
            parser.error(f"--steps {item!r}: expected VARIANT=N with VARIANT in {VARIANTS}")
        cfg.steps_by_variant[variant] = int(steps)
    if args.snr:
        cfg.snrs_db = tuple(args.snr)
    if args.no_jit:
        cfg.jit = False
    out = args.out or RESULTS / ("lista_nmse_quick.json" if args.quick else "lista_nmse.json")
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()},
        "nmse": "10*log10(sum ||z_hat - z||^2 / sum ||z||^2) over the test set (ratio of sums)",
    }
    start = time.perf_counter()
    report["settings"] = run(cfg)
    report["total_seconds"] = elapsed = time.perf_counter() - start
    report["machine"]["load_average_at_end"] = (
        os.getloadavg() if hasattr(os, "getloadavg") else None
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.update and out.exists():
        report = merge(json.loads(out.read_text()), report)
    # json writes math.inf as Infinity, which Python reads back; keep it (the SNR is infinite).
    tmp = out.with_name(f".tmp-{os.getpid()}-{out.name}")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, out)
    print_summary(report["settings"], cfg.T)
    print(f"\nwrote {out} ({elapsed:.0f} s)")


if __name__ == "__main__":
    main()
