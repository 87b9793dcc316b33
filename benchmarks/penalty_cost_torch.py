"""The PyTorch reference point for ``penalty_cost.py``: the same two networks (LeNet 28×28×1 and
an MLP 784-200-200-10), batch 64, SGD training step plain and with the Jacobian penalty of
Hoffman, Roberts & Yaida (2019) — written here from the paper, as their reference code
(facebookresearch/jacobian_regularizer) computes it: per sample, n random unit directions
v ∈ S^{C−1}, C/n Σ ‖vᵀJ‖² by ``torch.autograd.grad(..., create_graph=True)``, one backward pass
per projection; the exact norm loops over the C one-hot directions.

Needs PyTorch (CPU), kept out of keraslab's own environment:

    python -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install torch numpy
    /tmp/torch-venv/bin/python benchmarks/penalty_cost_torch.py   # results/penalty_cost_torch.json

Timing protocol as in ``penalty_cost.py``: warm-up, then variants interleaved per round, medians,
ratios within one model; ``--steps-per-call K`` (or ``lenet=20 mlp=300``) times K steps of the
Python training loop per call, wall and CPU time, divided by K.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from steps_per_call import parse_steps_per_call, steps_for_model
from torch import nn


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 512),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(512, 10),
    )


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 200),
        nn.ReLU(),
        nn.Linear(200, 200),
        nn.ReLU(),
        nn.Linear(200, 10),
    )


MODELS = {"lenet": lenet, "mlp": mlp}


def jacobian_frobenius(net: nn.Module, x: torch.Tensor, projections: int | None) -> torch.Tensor:
    """‖J_f(x)‖_F² per sample, batch mean: exact (C one-hot directions) or C/n Σ ‖vᵀJ‖²."""
    x = x.detach().requires_grad_(True)
    # As the training step's own forward pass: the reference reuses the training-mode output.
    out = net(x)
    b, c = out.shape
    if projections is None:
        directions = [torch.eye(c)[k].expand(b, c) for k in range(c)]
        scale = 1.0
    else:
        directions = []
        for _ in range(projections):
            v = torch.randn(b, c)
            directions.append(v / v.norm(dim=1, keepdim=True))
        scale = c / projections
    total = x.new_zeros(())
    for v in directions:
        (g,) = torch.autograd.grad(out, x, grad_outputs=v, create_graph=True, retain_graph=True)
        total = total + g.pow(2).sum() / b
    return scale * total, out


def make_step(net: nn.Module, penalty: str):
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        opt.zero_grad(set_to_none=True)
        if penalty == "plain":
            loss = loss_fn(net(x), y)
        else:
            projections = None if penalty == "jacobian_exact" else int(penalty.rsplit("_", 1)[1])
            r, out = jacobian_frobenius(net, x, projections)
            loss = loss_fn(out, y) + 1e-3 * r
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


VARIANTS = ["plain", "jacobian_projection_1", "jacobian_projection_3", "jacobian_exact"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps-per-call", nargs="+", default=["1"], metavar="[MODEL=]K")
    default_out = Path(__file__).parent / "results" / "penalty_cost_torch.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    try:
        per_call = parse_steps_per_call(args.steps_per_call, MODELS)
    except ValueError as e:
        parser.error(str(e))
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    start = time.time()
    info = {
        "benchmark": "penalty_cost_torch",
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
        },
        "load_average_at_start": os.getloadavg(),
        "batch": args.batch,
        "repeats": args.repeats,
        "steps_per_call": per_call,
        "results": [],
    }
    for model_name, builder in MODELS.items():
        steps = {}
        for v in VARIANTS:
            torch.manual_seed(0)
            steps[v] = make_step(builder().train(), v)
            for _ in range(args.warmup):
                steps[v](x, y)
        k = steps_for_model(per_call, model_name)
        times = {v: [] for v in VARIANTS}
        cpu = {v: [] for v in VARIANTS}
        for _ in range(args.repeats):
            for v in VARIANTS:
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(k):
                    steps[v](x, y)
                times[v].append((time.perf_counter() - t0) / k)
                cpu[v].append((time.process_time() - c0) / k)
        plain = statistics.median(times["plain"])
        plain_cpu = statistics.median(cpu["plain"])
        for v in VARIANTS:
            med = statistics.median(times[v])
            info["results"].append(
                {
                    "model": model_name,
                    "variant": v,
                    "median_step_s": med,
                    "ratio_to_plain": med / plain,
                    "median_cpu_s": statistics.median(cpu[v]),
                    "cpu_ratio_to_plain": statistics.median(cpu[v]) / plain_cpu,
                    "steps_per_call": k,
                    "step_times_s": times[v],
                }
            )
            print(
                f"{model_name:6s} {v:24s} {1000 * med:8.1f} ms  {med / plain:5.2f}× "
                f"(CPU {statistics.median(cpu[v]) / plain_cpu:5.2f}×)",
                flush=True,
            )
    info["load_average_at_end"] = os.getloadavg()
    info["total_s"] = round(time.time() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(info, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
