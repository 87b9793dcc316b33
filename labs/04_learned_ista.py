"""Lab 04 — learned ISTA: unrolling a sparse-coding algorithm into a network and training it.

Sparse coding looks for a code z with few non-zeros that explains a signal x through a matrix
(a dictionary) A: it solves the lasso

    minimize_z  F(z) = ½‖x − A z‖² + λ‖z‖₁.

ISTA (Daubechies, Defrise & De Mol 2004) iterates z ← η_{λ/L}(z + (1/L) Aᵀ(x − A z)) with the
soft threshold η_θ(u) = sign(u)·max(|u| − θ, 0) and L = ‖A‖₂²; FISTA (Beck & Teboulle 2009) adds
momentum. Written as z ← η_θ(W z + B x), T iterations are a T-layer network; LISTA (Gregor &
LeCun 2010) trains W, B and θ, and reaches in T layers what ISTA needs many more iterations for.
This lab:

1. writes ISTA and FISTA by hand in NumPy on the synthetic problem of the LISTA papers
   (Gaussian A with unit columns, Bernoulli(0.1)×Gaussian codes) and plots their convergence:
   the objective gap F(z_k) − F* (O(1/k) and O(1/k²)) and the NMSE of the code per iteration;
2. unrolls ISTA into a network — tied LISTA initialised from A computes ISTA exactly;
3. trains LISTA, its tied form, LISTA-CP, LISTA-CPSS (Chen et al. 2018) and ALISTA (Liu et al.
   2019) and compares NMSE-per-layer curves with ISTA and FISTA at equal layers / iterations;
4. looks at what they learned: thresholds, step sizes and how far the weights moved;
5. codes real data: mean-removed 8×8 patches of Fashion-MNIST in the 2× overcomplete 2D DCT
   dictionary (64 × 256, a tight frame with mutual coherence 0.90 — nothing like a Gaussian
   matrix). There is no true code, so the target is the lasso solution z* itself, computed by
   running FISTA to convergence (Gregor & LeCun's setting: learn to predict the optimal code
   fast). Each variant is compared with ISTA / FISTA at equal layers on the NMSE of the code
   against z*, the NMSE of the reconstruction ‖x − A z‖² / ‖x‖², and sparsity; the lab shows
   reconstructed patches and images.

Every network is trained by ``training.fit`` — keraslab's one training step, as for the
classifiers of the other labs — with a custom loss: the sum over layers of ‖z_t − target‖²
("deep supervision": every layer is asked to be a good estimate, which gives the
NMSE-per-layer curves the papers show), with Adam and a cosine learning-rate decay. The papers
train stage-wise (layer by layer, ``training.train_stagewise``, what ``keraslab train
alista16`` and ``benchmarks/lista_nmse.py`` run); at an equal number of steps that was within
2 dB of deep supervision here (better for LISTA-CPSS and ALISTA, worse for LISTA; 100 × 200
problem, 8 layers, 800 steps) and took 2–3× the time, each stage compiling a new step.

Run it (offline, a few minutes on a laptop CPU, on the Fashion-MNIST sample shipped with
keraslab):

    python labs/04_learned_ista.py --quick

Without ``--quick``: the papers' 250 × 500 problem, 16 layers, more training steps and data.
Everything lands in ``--out`` (default ``results/04_learned_ista``): plots and ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")  # plots go to files, no window
# NumPy's matrices here are small: one BLAS thread is as fast, and on a busy machine with few
# cores it avoids OpenBLAS threads contending with TensorFlow's (measured on 2 shared cores: an
# SVD of a 100 × 200 matrix took 0.5 s with the default threads, 0.7 ms with one).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keraslab import data, errors, evaluation, training  # noqa: E402
from keraslab.layers import (  # noqa: E402
    FISTA,
    ISTA,
    analytic_weight,
    lipschitz_constant,
    mutual_coherence,
)
from keraslab.models import VARIANTS, lista, nmse_db  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--quick", action="store_true", help="smaller problems: minutes on a CPU")
parser.add_argument(
    "--dataset",
    default="fashion_mnist_sample",
    help="images the patches come from: fashion_mnist_sample (shipped, default) or fashion_mnist",
)
parser.add_argument("--steps", type=int, help="training steps per network (Adam, batch 64)")
parser.add_argument("--out", default="results/04_learned_ista", help="output directory")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(args.seed)
started = time.perf_counter()

# Problem sizes. λ = 0.1 throughout, the papers' value for the synthetic problem; on the
# patches it gives codes with about 10 % non-zeros.
m, n = (100, 200) if args.quick else (250, 500)
T = 8 if args.quick else 16  # layers of the synthetic networks
T_PATCH = 16  # layers of the patch networks
steps = args.steps or (1000 if args.quick else 5000)
LAM, BATCH, LR = 0.1, 64, 1e-3
HAND_ITERATIONS = 500 if args.quick else 1000  # NumPy ISTA / FISTA iterations
SOLVER_ITERATIONS = 1000  # ISTA / FISTA curves drawn next to the networks'
TARGET_ITERATIONS = 2000 if args.quick else 5000  # FISTA iterations for the patches' z*
# --quick trains three variants on the synthetic problem; without it, all five.
SYNTHETIC_VARIANTS = ("lista", "lista_cpss", "alista") if args.quick else VARIANTS
PATCH_VARIANTS = ("lista", "lista_cp", "lista_cpss", "alista")
loss = "sum over layers t of mean ||z_t - target||^2"
results: dict = {
    "lab": "04_learned_ista",
    "quick": args.quick,
    "config": dict(lam=LAM, batch_size=BATCH, learning_rate=LR, steps=steps, loss=loss),
    "nmse": "10*log10(sum ||z_hat - z||^2 / sum ||z||^2) over the test set, in dB",
}


def db(value: float) -> float:
    return round(float(value), 3)


def code_error(target, estimate):
    """‖ẑ − z‖² per example: the loss of one layer."""
    return keras.ops.sum(keras.ops.square(estimate - target), axis=-1)


def train(network, stream, steps, learning_rate, batch_size):
    """Σ_t ‖z_t − target‖² over the network's layers, Adam with a cosine decay over ``steps``
    batches (of ``batch_size``) of ``stream``, by ``training.fit``; returns the training time
    in seconds."""
    layers = len(network.outputs)
    recipe = training.Recipe(
        epochs=1, batch_size=batch_size, learning_rate=learning_rate, schedule="cosine"
    )
    batches = stream.take(steps).map(lambda x, z: (x, (z,) * layers))
    try:
        # No XLA: on a CPU it barely speeds these small matrix products up (and slows the
        # top-k of support selection down), while compiling each network would cost seconds.
        result = training.fit(
            network,
            batches,
            recipe=recipe,
            loss=[code_error] * layers,
            out_dir=None,
            verbose=0,
            jit_compile=False,
        )
    except errors.TrainingDivergedError as error:
        print(f"  {network.name}: {error}")
        return float("nan")
    return result.wall_time_s


def lasso_objective(z, x, A, lam):
    """F(z) = ½‖x − A z‖² + λ‖z‖₁, averaged over the signals."""
    return float(np.mean(0.5 * np.sum((x - z @ A.T) ** 2, 1) + lam * np.sum(np.abs(z), 1)))


def ista_by_hand(A, lam, x, iterations, fista=False):
    """z ← η_{λ/L}(y + (1/L) Aᵀ(x − A y)); y = z for ISTA, y = z + β_k (z − z_prev) for FISTA."""
    L = lipschitz_constant(A)
    z = y = np.zeros((len(x), A.shape[1]))
    t, iterates = 1.0, []
    for _ in range(iterations):
        u = y + (x - y @ A.T) @ A / L
        z_next = np.sign(u) * np.maximum(np.abs(u) - lam / L, 0.0)
        if fista:
            t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
            y = z_next + (t - 1) / t_next * (z_next - z)
            t = t_next
        else:
            y = z_next
        z = z_next
        iterates.append(z)
    return iterates


def describe(codes, target, D, x):
    """NMSE per layer: code vs. the target z*, reconstruction vs. x; fraction of non-zeros."""
    return {
        "code_nmse_db": [db(nmse_db(z, target)) for z in codes],
        "reconstruction_nmse_db": [db(nmse_db(z @ D.T, x)) for z in codes],
        "nonzero_fraction": [round(float(np.mean(z != 0)), 4) for z in codes],
    }


# 1. ISTA by hand -----------------------------------------------------------------------------
problem = data.sparse_coding_problem(m, n, p=0.1, seed=args.seed)
A = problem.A.astype(np.float64)
x_test, z_test = problem.sample(1000, seed=args.seed + 2)
L = lipschitz_constant(A)
print(
    f"synthetic problem: A {m}×{n} Gaussian, unit columns, L = ‖A‖₂² = {L:.2f}, "
    f"mutual coherence {mutual_coherence(A, A):.2f}; codes Bernoulli(0.1)×N(0,1)"
)
x_hand, z_hand = x_test[:200].astype(np.float64), z_test[:200].astype(np.float64)
ista_iterates = ista_by_hand(A, LAM, x_hand, HAND_ITERATIONS)
fista_iterates = ista_by_hand(A, LAM, x_hand, HAND_ITERATIONS, fista=True)
# F* from 5,000 FISTA iterations (keraslab's layer, compiled with XLA).
z_star = tf.function(FISTA(A, LAM, 5000, dtype="float64"), jit_compile=True)(x_hand).numpy()
F_star = lasso_objective(z_star, x_hand, A, LAM)
curves = {}  # to 4 significant digits (the gap) and 0.001 dB
for name, iterates in (("ista", ista_iterates), ("fista", fista_iterates)):
    curves[name] = {
        "objective_gap": [
            float(f"{lasso_objective(z, x_hand, A, LAM) - F_star:.4g}") for z in iterates
        ],
        "nmse_db": [db(nmse_db(z, z_hand)) for z in iterates],
    }
layer = ISTA(problem.A, LAM, HAND_ITERATIONS)(x_hand.astype(np.float32)).numpy()
layer_diff = float(np.max(np.abs(layer - ista_iterates[-1])))
print(
    f"ISTA by hand = keraslab.layers.ISTA after {HAND_ITERATIONS} iterations "
    f"(float64 vs float32): max |Δz| = {layer_diff:.1e}"
)
k = np.arange(1, HAND_ITERATIONS + 1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="tight")
for name, style in (("ista", "C0"), ("fista", "C1")):
    ax1.loglog(k, np.maximum(curves[name]["objective_gap"], 1e-16), style, label=name.upper())
    ax2.semilogx(k, curves[name]["nmse_db"], style, label=name.upper())
gap0 = curves["ista"]["objective_gap"][0]
ax1.loglog(k, gap0 / k, "C0:", label="O(1/k)")
ax1.loglog(k, gap0 / k**2, "C1:", label="O(1/k²)")
ax1.set(xlabel="iteration k", ylabel="F(z_k) − F*", title="objective gap", ylim=(1e-12, None))
ax2.axhline(db(nmse_db(z_star, z_hand)), color="k", ls="--", label="lasso solution z*")
ax2.set(xlabel="iteration k", ylabel="NMSE of z_k vs. the true code (dB)", title="code error")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
fig.suptitle(f"ISTA and FISTA by hand, λ = {LAM}, A {m}×{n} (200 test signals)")
fig.savefig(out / "ista_convergence.png", dpi=110)
plt.close(fig)
results["synthetic"] = {
    "problem": {"m": m, "n": n, "p": 0.1, "lipschitz": L, "T": T},
    "by_hand": curves,
    "lasso_solution_nmse_db": db(nmse_db(z_star, z_hand)),
    "ista_layer_vs_numpy_max_abs_diff": layer_diff,
}
print(
    f"after {HAND_ITERATIONS} iterations: ISTA {curves['ista']['nmse_db'][-1]:.1f} dB, "
    f"FISTA {curves['fista']['nmse_db'][-1]:.1f} dB; the lasso solution itself is "
    f"{results['synthetic']['lasso_solution_nmse_db']:.1f} dB from the true code "
    f"(λ biases it) [{time.perf_counter() - started:.0f} s]"
)

# 2. Unroll ISTA into a network -------------------------------------------------------------
# One LISTA cell computes η_θ(W z + B x); with B = Aᵀ/L, W = I − BA, θ = λ/L it is one ISTA
# step, and the tied network repeats it T times. Untrained, it *is* ISTA.
unrolled = {}  # max |Δz_t| over the layers, against ISTA's iterates
for variant, key in (("lista_tied", "tied"), ("lista", "untied")):
    network = lista(problem.A, T=T, variant=variant, lam=LAM, return_all=True)
    outputs = [np.asarray(z) for z in network(x_hand.astype(np.float32))]
    unrolled[key] = max(float(np.max(np.abs(z - ista_iterates[t]))) for t, z in enumerate(outputs))
    results["synthetic"][f"{key}_lista_init_vs_ista_max_abs_diff"] = unrolled[key]
print(
    f"tied LISTA at initialisation vs. {T} ISTA iterations: max |Δz_t| = "
    f"{unrolled['tied']:.1e} (untied: {unrolled['untied']:.1e})"
)

# 3. Train the learned variants -------------------------------------------------------------
# The baselines: ISTA's and FISTA's NMSE after each of their first 1000 iterations on the test
# set (`evaluation.solver_nmse_curve`). Fresh examples every training step: the problem
# streams (x, z) batches from a seeded generator.
solvers = {"ista": ISTA, "fista": FISTA}
solver_curves = {
    name: evaluation.solver_nmse_curve(solver, problem.A, LAM, x_test, z_test, SOLVER_ITERATIONS)
    for name, solver in solvers.items()
}
synthetic_nmse = {name: [db(v) for v in curve[:T]] for name, curve in solver_curves.items()}
train_seconds = {}
networks = {}
for variant in SYNTHETIC_VARIANTS:
    keras.utils.set_random_seed(args.seed)
    network = lista(problem.A, T=T, variant=variant, lam=LAM, return_all=True)
    stream = problem.dataset(BATCH, seed=args.seed + 10)
    train_seconds[variant] = round(train(network, stream, steps, LR, BATCH), 1)
    synthetic_nmse[variant] = [db(v) for v in training.per_layer_nmse(network, x_test, z_test)]
    networks[variant] = network
    parameters = sum(int(np.prod(w.shape)) for w in network.trainable_weights)
    print(
        f"{variant:>11}: {synthetic_nmse[variant][-1]:6.1f} dB at layer {T} "
        f"({train_seconds[variant]:.0f} s, {parameters:,} trainable parameters) "
        f"[{time.perf_counter() - started:.0f} s]"
    )
for name, curve in solver_curves.items():
    print(
        f"{name.upper():>11}: {synthetic_nmse[name][-1]:6.1f} dB at iteration {T}, "
        f"{curve[-1]:.1f} dB at {SOLVER_ITERATIONS}"
    )
results["synthetic"].update(
    nmse_db_per_layer=synthetic_nmse,
    ista_nmse_db_at_1000=db(solver_curves["ista"][-1]),
    fista_nmse_db_at_1000=db(solver_curves["fista"][-1]),
    train_seconds=train_seconds,
)

fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="tight")
iters = np.arange(1, SOLVER_ITERATIONS + 1)
for (name, curve), style in zip(solver_curves.items(), ("k-", "k--"), strict=True):
    ax.semilogx(iters, curve, style, lw=1, label=name.upper())
for variant in SYNTHETIC_VARIANTS:
    ax.semilogx(range(1, T + 1), synthetic_nmse[variant], "o-", ms=3, label=variant)
ax.axvline(T, color="gray", lw=0.5)
ax.set(
    xlabel="layer / iteration",
    ylabel="NMSE (dB)",
    title=f"learned vs. iterative, A {m}×{n}, λ = {LAM}, {steps} training steps",
)
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=8, ncol=2)
fig.savefig(out / "nmse_per_layer.png", dpi=110)
plt.close(fig)

# 4. What the networks learned --------------------------------------------------------------
# Each cell starts at θ = λ/L; LISTA-CP's W starts at A/L and LISTA's W at I − AᵀA/L. An untied
# network's cells are its layers layer_1 … layer_T.
cells = {
    v: [networks[v].get_layer(f"layer_{t}") for t in range(1, T + 1)]
    for v in SYNTHETIC_VARIANTS
    if v != "lista_tied"
}
thresholds = {v: [float(keras.ops.mean(c.theta)) for c in cs] for v, cs in cells.items()}
if "lista_tied" in networks:
    tied_theta = float(networks["lista_tied"].get_layer("lista_cell").theta)
    thresholds["lista_tied"] = [tied_theta] * T
gamma = [float(c.gamma) for c in cells["alista"]]
W0_lista = np.eye(n) - A.T @ A / L
moved = {}  # ‖W_t − W_0‖_F / ‖W_0‖_F from each variant's initial W_0 (LISTA's layer 1 has no W)
for v, W0, weighted in (
    ("lista", W0_lista, cells["lista"][1:]),
    ("lista_cpss", A / L, cells["lista_cpss"]),
):
    moved[v] = [float(np.linalg.norm(c.W.numpy() - W0) / np.linalg.norm(W0)) for c in weighted]
fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), layout="tight")
for variant, values in thresholds.items():
    axes[0].plot(range(1, T + 1), values, "o-", ms=3, label=variant)
axes[0].axhline(LAM / L, color="k", ls="--", label="λ/L (ISTA)")
axes[0].set(xlabel="layer", ylabel="θ_t (mean over coordinates)", title="learned thresholds")
axes[1].plot(range(1, T + 1), gamma, "o-", color="C4")
axes[1].axhline(1.0, color="k", ls="--", label="initial γ = 1")
axes[1].set(xlabel="layer", ylabel="γ_t", title="ALISTA step sizes")
axes[2].plot(range(2, T + 1), moved["lista"], "o-", label="LISTA W_t vs. I − AᵀA/L")
axes[2].plot(range(1, T + 1), moved["lista_cpss"], "s-", label="LISTA-CPSS W_t vs. A/L")
axes[2].set(xlabel="layer", ylabel="‖W_t − W_0‖_F / ‖W_0‖_F", title="how far the weights moved")
change = (cells["lista"][-1].W.numpy() - W0_lista)[:40, :40]
vmax = np.abs(change).max()
image = axes[3].imshow(change, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
fig.colorbar(image, ax=axes[3], fraction=0.046)
axes[3].set(title=f"LISTA W_{T} − (I − AᵀA/L), 40×40 corner")
for ax in axes[:3]:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
fig.savefig(out / "learned_parameters.png", dpi=110)
plt.close(fig)
results["synthetic"]["learned"] = {
    "initial_threshold": LAM / L,
    "thresholds": thresholds,
    "alista_gamma": gamma,
    "relative_weight_change": moved,
}
print(
    f"thresholds at the last layer (start {LAM / L:.4f}): "
    + ", ".join(f"{v} {values[-1]:.4f}" for v, values in thresholds.items())
)

# 5. Real data: Fashion-MNIST patches in an overcomplete DCT dictionary -----------------------
# Mean-removed 8×8 patches (the mean is the DC term every patch has; removed, the code
# describes structure), skipping flat ones (std ≤ 0.05: background, they code to z = 0).
D = data.dct_dictionary(8)  # 64 × 256
L_D = lipschitz_constant(D)
train_images = data.load_arrays(args.dataset, "train")
test_images = data.load_arrays(args.dataset, "test")
num_train = 6000 if args.quick else 50_000
patches_train = data.extract_patches(
    train_images.images, 8, num_train, seed=args.seed, min_std=0.05
)
patches_test = data.extract_patches(test_images.images, 8, 1000, seed=args.seed + 1, min_std=0.05)
x_p, x_p_test = patches_train.patches, patches_test.patches
print(
    f"\npatches: {num_train} training / 1000 test 8×8 patches of {args.dataset} "
    f"({train_images.source}); DCT dictionary {D.shape[0]}×{D.shape[1]}, L = {L_D:.2f}, "
    f"mutual coherence {mutual_coherence(D, D):.2f}"
)
fig, axes = plt.subplots(1, 2, figsize=(11, 5.6), layout="tight")
tiles = D.reshape(8, 8, 16, 16).transpose(2, 0, 3, 1)  # (k, i, l, j): atom (k, l) at tile (k, l)
padded = np.pad(tiles, ((0, 0), (0, 1), (0, 0), (0, 1)), constant_values=np.nan)
axes[0].imshow(padded.reshape(16 * 9, 16 * 9), cmap="gray")
axes[0].set_title("the 256 atoms of the 2× overcomplete 2D DCT")
grid = np.pad(
    patches_test.images()[:64].reshape(8, 8, 8, 8).transpose(0, 2, 1, 3),
    ((0, 0), (0, 1), (0, 0), (0, 1)),
    constant_values=np.nan,
)
axes[1].imshow(grid.reshape(8 * 9, 8 * 9), cmap="gray_r")
axes[1].set_title("64 test patches (mean added back)")
for ax in axes:
    ax.axis("off")
fig.savefig(out / "dictionary.png", dpi=110)
plt.close(fig)

# The target: the lasso solution z*, from FISTA run to convergence (its change over the last
# 1,000 of its iterations is printed, to show it has converged).
solve = tf.function(FISTA(D, LAM, TARGET_ITERATIONS), jit_compile=True)
half = tf.function(FISTA(D, LAM, TARGET_ITERATIONS // 2), jit_compile=True)
start = time.perf_counter()
z_p = np.concatenate([solve(x_p[i : i + 1000]).numpy() for i in range(0, num_train, 1000)])
z_p_test = solve(x_p_test).numpy()
solve_seconds = time.perf_counter() - start
converged = db(nmse_db(half(x_p_test), z_p_test))
print(
    f"z* by {TARGET_ITERATIONS} FISTA iterations ({solve_seconds:.0f} s); half as many are "
    f"{converged:.0f} dB from it; z* has {np.mean(z_p_test != 0):.1%} non-zeros and "
    f"reconstructs the patches to {float(nmse_db(z_p_test @ D.T, x_p_test)):.1f} dB "
    f"[{time.perf_counter() - started:.0f} s]"
)
patch_results = {
    "dictionary": dict(shape=list(D.shape), lipschitz=L_D, mutual_coherence=mutual_coherence(D, D)),
    "patches": dict(
        size=8,
        train=num_train,
        test=1000,
        min_std=0.05,
        mean_removed=True,
        source=train_images.source,
    ),
    "target": f"lasso solution z* ({TARGET_ITERATIONS} FISTA iterations, same lambda)",
    "target_solve_seconds": round(solve_seconds, 1),
    "fista_half_iterations_vs_target_nmse_db": converged,
    "lasso_solution": {
        "reconstruction_nmse_db": db(nmse_db(z_p_test @ D.T, x_p_test)),
        "nonzero_fraction": round(float(np.mean(z_p_test != 0)), 4),
    },
    "methods": {},
    "train_seconds": {},
}
long_curves = {}
for name, solver in solvers.items():
    iterates = solver(D, LAM, T_PATCH, return_iterates=True)(x_p_test).numpy()
    patch_results["methods"][name] = describe(iterates.transpose(1, 0, 2), z_p_test, D, x_p_test)
    long_curves[name] = evaluation.solver_nmse_curve(
        solver, D, LAM, x_p_test, z_p_test, SOLVER_ITERATIONS
    )

# ALISTA's analytic W is A itself for a tight frame (A Aᵀ = 4 I), so WᵀA = AᵀA has norm 4 and
# the authors' initial step γ = 1 exceeds the stable 2/4: untrained, it diverges.
diverged = db(nmse_db(lista(D, T=T_PATCH, variant="alista", lam=LAM)(x_p_test), z_p_test))
patch_results["alista_authors_init_code_nmse_db_at_T"] = diverged
gamma_safe = 1.0 / np.linalg.norm(analytic_weight(D).T @ D, 2)
print(
    f"ALISTA with the authors' γ = 1: {diverged:.0f} dB at layer {T_PATCH} before training "
    f"(diverges); it starts from γ = {gamma_safe:.2f}"
)
patch_networks = {}
for variant in PATCH_VARIANTS:
    keras.utils.set_random_seed(args.seed)
    network = lista(D, T=T_PATCH, variant=variant, lam=LAM, return_all=True)
    if variant == "alista":
        for t in range(1, T_PATCH + 1):
            network.get_layer(f"layer_{t}").gamma.assign(gamma_safe)
    stream = (
        tf.data.Dataset.from_tensor_slices((x_p, z_p))
        .repeat()
        .shuffle(10_000, seed=args.seed)
        .batch(BATCH, drop_remainder=True)
    )
    patch_results["train_seconds"][variant] = round(train(network, stream, steps, LR, BATCH), 1)
    codes = [z.numpy() for z in network(x_p_test)]
    patch_results["methods"][variant] = describe(codes, z_p_test, D, x_p_test)
    patch_networks[variant] = network
# Which variant works on this dictionary? In our runs, the ones that learn full matrices
# (LISTA, LISTA-CP) got closest to z*; LISTA-CPSS and ALISTA fell behind. Plausible reasons:
# support selection trusts the largest entries to be in the support, which a coherent
# dictionary makes unreliable, and ALISTA learns only two numbers per layer. Their
# reconstructions can even beat z*'s — they are not solving the lasso (no shrinkage bias) —
# which is why the code error against z*, not ‖x − A z‖, is the measure here.
methods = patch_results["methods"]
best = min(PATCH_VARIANTS, key=lambda v: methods[v]["code_nmse_db"][-1])
patch_results["best_variant"] = best
best_db = methods[best]["code_nmse_db"][-1]
matched = {
    name: int(np.argmax(curve <= best_db)) + 1 if np.any(curve <= best_db) else None
    for name, curve in long_curves.items()
}
patch_results["iterations_to_match_best"] = matched
patch_results["ista_code_nmse_db_at_1000"] = db(long_curves["ista"][-1])
patch_results["fista_code_nmse_db_at_1000"] = db(long_curves["fista"][-1])
print(f"{'method':>11}  code vs z* (dB)  reconstruction (dB)  non-zeros   at layer {T_PATCH}")
for name, r in methods.items():
    print(
        f"{name:>11}  {r['code_nmse_db'][-1]:15.1f}  {r['reconstruction_nmse_db'][-1]:19.1f}"
        f"  {r['nonzero_fraction'][-1]:9.1%}"
    )
lasso = patch_results["lasso_solution"]
print(
    f"{'z*':>11}  {'':15}  {lasso['reconstruction_nmse_db']:19.1f}"
    f"  {lasso['nonzero_fraction']:9.1%}"
)
print(
    f"best: {best}; ISTA needs {matched['ista']} iterations and FISTA {matched['fista']} to "
    f"get as close to z* as its {T_PATCH} layers [{time.perf_counter() - started:.0f} s]"
)

fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="tight")
panels = {  # what each panel shows: (y label, title)
    "code_nmse_db": ("NMSE of the code vs. z* (dB)", "code error"),
    "reconstruction_nmse_db": ("‖x − A z_t‖² / ‖x‖² (dB)", "reconstruction error"),
    "nonzero_fraction": ("fraction of non-zero coefficients", "sparsity"),
}
for ax, (key, (ylabel, title)) in zip(axes, panels.items(), strict=True):
    for name, r in methods.items():
        style = {"ista": "k-", "fista": "k--"}.get(name, "o-")
        ax.plot(range(1, T_PATCH + 1), r[key], style, ms=3, label=name)
    if key in lasso:  # the lasso solution's own reconstruction error and sparsity
        ax.axhline(lasso[key], color="gray", ls=":", label="z*")
    ax.set(xlabel="layer / iteration", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
fig.suptitle(
    f"Fashion-MNIST 8×8 patches, DCT 64×256, λ = {LAM}: learned vs. iterative at equal layers"
)
fig.savefig(out / "patches_nmse.png", dpi=110)
plt.close(fig)

# Reconstructed patches, and whole test images rebuilt from all their 21 × 21 overlapping
# patches (each pixel the average of the patches that cover it).
# Each coder maps patches to codes: ISTA, the best network's last layer, and the solver of z*.
best_network = patch_networks[best]
coders = {
    f"ISTA, {T_PATCH} iterations": ISTA(D, LAM, T_PATCH),
    f"{best}, {T_PATCH} layers": keras.Model(best_network.input, best_network.outputs[-1]),
    f"z* ({TARGET_ITERATIONS} FISTA iterations)": solve,
}
shown = {"patch": x_p_test[:12]}
shown.update({label: np.asarray(code(x_p_test[:12])) @ D.T for label, code in coders.items()})
fig, axes = plt.subplots(len(shown), 12, figsize=(12, 4.6), layout="tight")
for r, (label, values) in enumerate(shown.items()):
    for c in range(12):
        axes[r, c].imshow(
            values[c].reshape(8, 8) + patches_test.means[c], cmap="gray_r", vmin=0, vmax=1
        )
        axes[r, c].axis("off")
    axes[r, 0].set_title(label, fontsize=8, loc="left")
fig.suptitle("test patches and their reconstructions A z (mean added back)")
fig.savefig(out / "patches_reconstruction.png", dpi=110)
plt.close(fig)

images = test_images.images[:3, :, :, 0].astype(np.float32) / 255
windows = np.lib.stride_tricks.sliding_window_view(images, (8, 8), axis=(1, 2))
windows = windows.reshape(-1, 64)  # 3 × 21 × 21 patches, (image, row, column) order
means = windows.mean(axis=1, keepdims=True)
image_nmse = {}
fig, axes = plt.subplots(3, len(coders) + 1, figsize=(2.6 * (len(coders) + 1), 8), layout="tight")
for c, (label, code) in enumerate(coders.items(), start=1):
    coded = (np.asarray(code(windows - means)) @ D.T + means).reshape(3, 21, 21, 8, 8)
    total, count = np.zeros((3, 28, 28)), np.zeros((3, 28, 28))
    for i in range(21):
        for j in range(21):
            total[:, i : i + 8, j : j + 8] += coded[:, i, j]
            count[:, i : i + 8, j : j + 8] += 1
    rebuilt = total / count
    centred = images - images.mean(axis=(1, 2), keepdims=True)
    image_nmse[label] = [db(nmse_db(rebuilt[r] - images[r].mean(), centred[r])) for r in range(3)]
    for r in range(3):
        axes[r, c].imshow(rebuilt[r], cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_title(f"{label}\n{image_nmse[label][r]:.1f} dB", fontsize=8)
for r in range(3):
    axes[r, 0].imshow(images[r], cmap="gray_r", vmin=0, vmax=1)
    axes[r, 0].set_title("test image", fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle(
    "test images rebuilt from their coded overlapping patches (NMSE of the image minus its mean)",
    fontsize=9,
)
fig.savefig(out / "images_reconstruction.png", dpi=110)
plt.close(fig)
patch_results["image_reconstruction_nmse_db"] = image_nmse
results["patches"] = patch_results

results["wall_time_s"] = round(time.perf_counter() - started, 1)
(out / "results.json").write_text(json.dumps(results, indent=1))
print(f"plots and results.json in {out}/ ({results['wall_time_s']} s)")
