"""Lab 02 — a tutorial to the scattering transform.

The scattering transform builds a representation of an image from wavelets alone, with no
learning (Mallat 2012; Bruna & Mallat 2013):

    S_J x = { x⋆φ_J,  |x⋆ψ_{j1,θ1}|⋆φ_J,  ||x⋆ψ_{j1,θ1}|⋆ψ_{j2,θ2}|⋆φ_J }

Morlet wavelets ψ_{j,θ} at J scales and L angles extract edges and textures, the modulus
removes their phase, and the low-pass φ_J averages over 2^J pixels. This lab:

1. builds the Morlet filter bank and looks at it in space and in frequency;
2. computes the coefficients of an image and where its energy goes (order 0, 1, 2);
3. measures the properties that make scattering a good representation — non-expansiveness,
   translation invariance, stability to deformations (where the Fourier modulus, though
   translation invariant, is not stable) and rotation covariance;
4. classifies Fashion-MNIST with scattering + a linear classifier and with a scattering + CNN
   hybrid (Oyallon et al. 2017) — and CIFAR-10 the same way when this machine has it (see
   ``keraslab data info cifar10``; not with ``--quick``).

Run it (offline, a few minutes on a laptop CPU, on the Fashion-MNIST sample shipped with
keraslab):

    python labs/02_scattering.py --quick

``--dataset fashion_mnist`` uses the full dataset. Everything lands in ``--out`` (default
``results/02_scattering``): plots and ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")  # plots go to files, no window

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keraslab import analysis, data, training, zoo  # noqa: E402
from keraslab.layers import Scattering2D, filter_bank, scattering_padding  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--quick", action="store_true", help="few epochs: minutes on a laptop CPU")
parser.add_argument(
    "--dataset",
    default="fashion_mnist_sample",
    help="fashion_mnist_sample (shipped, default), fashion_mnist or mnist",
)
parser.add_argument("--epochs", type=int, help="override the epochs of both classifiers")
parser.add_argument("--out", default="results/02_scattering", help="output directory")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(args.seed)
results: dict = {"lab": "02_scattering", "dataset": args.dataset, "quick": args.quick}
started = time.perf_counter()
J, L = 2, 8
test_raw = data.load_arrays(args.dataset, "test")

# 1. The filters ---------------------------------------------------------------------------
# Kymatio's rule: the image is reflect-padded so each side is a multiple of 2^J, with 2^J
# extra pixels on each border; the filters are built on that padded grid, in Fourier.
top, bottom, left, right = scattering_padding(28, 28, J)
M, N = 28 + top + bottom, 28 + left + right
bank = filter_bank(M, N, J, L)
fig, axes = plt.subplots(2 * J + 1, L, figsize=(1.5 * L, 1.6 * (2 * J + 1)))
for j in range(J):
    for theta in range(L):
        psi_hat = bank.psi[j][0][theta]
        psi = np.fft.fftshift(np.fft.ifft2(psi_hat))
        vmax = np.abs(psi.real).max()
        axes[2 * j, theta].imshow(psi.real, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        axes[2 * j + 1, theta].imshow(np.fft.fftshift(np.abs(psi_hat)), cmap="magma")
        axes[2 * j, theta].set_title(f"j={j}, θ={theta}π/{L}", fontsize=7)
axes[2 * J, 0].imshow(np.fft.fftshift(np.fft.ifft2(bank.phi[0])).real, cmap="gray")
axes[2 * J, 0].set_title("φ_J (space)", fontsize=7)
axes[2 * J, 1].imshow(np.fft.fftshift(np.abs(bank.phi[0])), cmap="magma")
axes[2 * J, 1].set_title("|φ̂_J| (frequency)", fontsize=7)
lp = analysis.littlewood_paley_sum(M, N, J, L)
axes[2 * J, 2].imshow(np.fft.fftshift(lp), cmap="viridis")
axes[2 * J, 2].set_title("Littlewood–Paley", fontsize=7)
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle(
    f"Morlet wavelets on the {M}×{N} padded grid: real part in space (rows 1, 3), "
    "modulus in frequency (rows 2, 4)",
    fontsize=9,
)
fig.savefig(out / "filters.png", dpi=110, bbox_inches="tight")
plt.close(fig)
results["filters"] = dict(
    padded_grid=[M, N], littlewood_paley_max=float(lp.max()), littlewood_paley_min=float(lp.min())
)
print(f"filter bank on {M}×{N}: Littlewood–Paley sum in [{lp.min():.3f}, {lp.max():.3f}]")

# 2. The coefficients ----------------------------------------------------------------------
scattering = Scattering2D(J, L=L)
x = test_raw.images[:64].astype("float32") / 255.0
S = np.asarray(scattering(x))  # (64, 7, 7, 81): channel k in Kymatio's order
K = S.shape[-1]
fig, axes = plt.subplots(2, 9, figsize=(13, 3.2))
for row, (image, title) in enumerate(((x[0, :, :, 0], "image"), (S[0, :, :, 0], "order 0"))):
    axes[row, 0].imshow(image, cmap="gray_r")
    axes[row, 0].set_title(title, fontsize=8)
for theta in range(L):
    for row, j in enumerate(range(J)):
        axes[row, theta + 1].imshow(S[0, :, :, 1 + j * L + theta], cmap="viridis")
        axes[row, theta + 1].set_title(f"order 1, j={j}, θ={theta}", fontsize=7)
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle(f"S_J x for J={J}, L={L}: {K} coefficient maps of {S.shape[1]}×{S.shape[2]} pixels")
fig.savefig(out / "coefficients.png", dpi=110, bbox_inches="tight")
plt.close(fig)

energy = analysis.energy(scattering, test_raw.images[:64].astype("float32"))
results["energy_fraction_by_order"] = energy.mean_fractions.round(4).tolist()
fig, ax = plt.subplots(figsize=(4.5, 3), layout="tight")
ax.bar([f"order {m}" for m in range(len(energy.mean_fractions))], energy.mean_fractions)
ax.set(ylabel="fraction of ‖x − mean‖²", title="Where the energy goes")
fig.savefig(out / "energy.png", dpi=110)
plt.close(fig)
print("energy fraction by order:", np.round(energy.mean_fractions, 3))

# 3. The properties ------------------------------------------------------------------------
images = test_raw.images[:32].astype("float32")
pairs = analysis.nonexpansiveness(scattering, images[:16], images[16:32])
shifts = [1, 2, 3, 4, 6, 8]
shift = analysis.translation_invariance(scattering, images, shifts)
strengths = [0.01, 0.02, 0.05, 0.1]
deformation = analysis.deformation_stability(scattering, images, strengths)
# 90° rotations are exact on the pixel grid, but only about the centre of the scattering's
# sampling grid; a zero border of 2^(J+1) pixels makes that centre irrelevant.
border = 2 ** (J + 1)
canvas = np.zeros((8, 28 + 2 * border, 28 + 2 * border, 1), np.float32)
canvas[:, border:-border, border:-border] = images[:8]
rotation = analysis.rotation_covariance(Scattering2D(J, L=L), canvas)

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="tight")
axes[0].plot(shifts, shift.mean_pixels, "s-", label="pixels")
axes[0].plot(shifts, shift.mean_representation, "o-", label=f"scattering (2^J = {2**J})")
axes[0].set(xlabel="shift (pixels)", ylabel="relative change", title="Translations")
axes[1].plot(strengths, deformation.pixels.mean(1), "s-", label="pixels")
axes[1].plot(strengths, deformation.mean_fourier, "^-", label="Fourier modulus |x̂|")
axes[1].plot(strengths, deformation.mean_representation, "o-", label="scattering")
axes[1].set(xlabel="deformation ‖∇τ‖∞", ylabel="relative change", title="Deformations")
axes[2].hist(pairs.ratios, bins=12)
axes[2].axvline(1.0, color="k", ls="--")
axes[2].set(xlabel="‖Sx − Sy‖ / ‖x − y‖", ylabel="pairs", title="Non-expansiveness")
for ax in axes[:2]:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
fig.savefig(out / "properties.png", dpi=110)
plt.close(fig)
results["properties"] = {
    "nonexpansive_max_ratio": pairs.max_ratio,
    "translation": {
        "shifts": shifts,
        "scattering": shift.mean_representation.tolist(),
        "pixels": shift.mean_pixels.tolist(),
    },
    "deformation": {
        "strengths": strengths,
        "scattering": deformation.mean_representation.tolist(),
        "fourier_modulus": deformation.mean_fourier.tolist(),
    },
    "rotation_90deg_max_relative_error": rotation.max_error,
}
print(f"non-expansive: max ‖Sx−Sy‖/‖x−y‖ = {pairs.max_ratio:.3f} over 16 pairs")
print(
    f"a 1-pixel shift changes the pixels by {shift.mean_pixels[0]:.0%}, the scattering by "
    f"{shift.mean_representation[0]:.0%}"
)
print(
    f"a deformation of strength {strengths[-1]} changes |x̂| by {deformation.mean_fourier[-1]:.0%}"
    f", the scattering by {deformation.mean_representation[-1]:.0%}"
)
rotation_error = max(rotation.max_error.values())
print(f"rotating by 90° permutes θ by L/2: max relative error {rotation_error:.1e}")

# 4. Classification ------------------------------------------------------------------------
# The scattering is fixed; only what sits on top of it learns. A linear classifier measures
# how linearly separable S_J already makes the classes; the hybrid adds a small CNN. Because
# S_J has no weights (and the images are not augmented), its coefficients are the same every
# epoch: `precompute="scattering"` computes them once and trains only the head on them.
# Fashion-MNIST (or --dataset), and CIFAR-10 too where this machine has it (not with --quick).
classify = [args.dataset]
if not args.quick and args.dataset != "cifar10" and data.describe("cifar10")["auto"] is not None:
    classify.append("cifar10")
accuracies: dict[str, dict[str, float]] = {}
epochs_of = {
    "scattering_linear": 5 if args.quick else 20,
    "scattering_cnn": 3 if args.quick else 20,
}
for dataset in classify:
    train_ds = data.load(dataset, "train", batch_size=128, seed=args.seed)
    test_ds = data.load(dataset, "test", batch_size=512)
    # --dataset's runs are recorded at the top of results.json and in out/NAME, another
    # dataset's under its name and in out/NAME-DATASET.
    records = results if dataset == args.dataset else results.setdefault(dataset, {})
    suffix = "" if dataset == args.dataset else f"-{dataset}"
    accuracies[dataset] = {}
    for name, epochs in epochs_of.items():
        epochs = args.epochs or epochs
        recipe = zoo.get(name).recipe.replace(epochs=epochs, precompute="scattering")
        result = training.fit(
            lambda name=name, dataset=dataset: zoo.build(name, dataset=dataset),
            train_ds,
            recipe=recipe,
            validation_data=test_ds,
            out_dir=out / f"{name}{suffix}",
            overwrite=True,
            verbose=2,
        )
        accuracy = result.history["val_accuracy"][-1]
        accuracies[dataset][name] = accuracy
        records[name] = {
            "epochs": epochs,
            "test_accuracy": accuracy,
            "parameters": int(result.network.count_params()),
            "wall_time_s": round(result.wall_time_s, 1),
        }
        print(f"{dataset} {name}: test accuracy {accuracy:.2%} after {epochs} epochs")
fig, axes = plt.subplots(1, len(classify), figsize=(4.5 * len(classify), 3), squeeze=False)
for ax, (dataset, scores) in zip(axes[0], accuracies.items(), strict=True):
    ax.bar(list(scores), list(scores.values()), color=["tab:blue", "tab:orange"])
    ax.set(ylim=(0.0 if dataset == "cifar10" else 0.5, 1.0), ylabel="test accuracy", title=dataset)
    for i, v in enumerate(scores.values()):
        ax.text(i, v + 0.01, f"{v:.1%}", ha="center")
fig.tight_layout()
fig.savefig(out / "classification.png", dpi=110)
plt.close(fig)

results["wall_time_s"] = round(time.perf_counter() - started, 1)
(out / "results.json").write_text(json.dumps(results, indent=1, default=float))
print(f"plots and results.json in {out}/ ({results['wall_time_s']} s)")
