"""Lab 03 — make your own invertible network: the i-RevNet.

A deep classifier is usually thought to succeed by *discarding* what does not matter for the
label, layer after layer. The i-RevNet (Jacobsen, Smeulders & Oyallon, 2018, "i-RevNet: Deep
Invertible Networks", ICLR) discards nothing: every layer is invertible, so the image can be
recovered exactly from its deepest representation Φ(x); only the final average pooling and
linear layer throw information away. Yet it classifies as well as a ResNet. This lab builds
one piece by piece and looks at what depth does to the representation when nothing is lost:

1. ψ, the invertible downsampling (space-to-depth), and its inverse;
2. one i-RevNet block, y = [y1, y2] = [S x2, F(x2) + S x1], and its inverse, which never
   inverts the convolutions F;
3. the stacked network (``irevnet_mnist``: ψ, zero channels, 8 blocks);
4. checking that Φ⁻¹(Φ(x)) = x, untrained;
5. training it with ``keraslab.training.fit``;
6. reconstructing images from their features, next to the originals;
7. progressive separation and contraction against depth (Oyallon 2017; Jacobsen et al. §4):
   linear-probe and 1-NN accuracy on spatially averaged features of each block, within- vs
   between-class distances, before and after training;
8. PCA of the features;
9. a straight line between two images in feature space, mapped back to images;
10. what this says about the "information bottleneck".

Run it (offline, a few minutes on a laptop CPU, on the Fashion-MNIST sample shipped with
keraslab):

    python labs/03_invertible.py --quick

Without ``--quick`` it trains for the zoo recipe's epochs; ``--dataset fashion_mnist`` uses
the full dataset. Everything lands in ``--out`` (default ``results/03_invertible``): plots,
``results.json`` and the training run.
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
from keraslab.analysis import (  # noqa: E402
    depth_features,
    interpolate,
    linear_probe_accuracy,
    nearest_neighbor_accuracy,
    pca,
    reconstruction_report,
    separation_by_depth,
)
from keraslab.layers import IRevNetBlock, depth_to_space, space_to_depth  # noqa: E402
from keraslab.models import irevnet_mnist  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--quick", action="store_true", help="few epochs: minutes on a laptop CPU")
parser.add_argument(
    "--dataset",
    default="fashion_mnist_sample",
    help="fashion_mnist_sample (shipped, default), fashion_mnist or mnist",
)
parser.add_argument("--epochs", type=int, help="override the number of epochs")
parser.add_argument("--out", default="results/03_invertible", help="output directory")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(args.seed)
results: dict = {"lab": "03_invertible", "dataset": args.dataset, "quick": args.quick}
started = time.perf_counter()

spec = data.get_spec(args.dataset)
train_raw = data.load_arrays(args.dataset, "train")
test_raw = data.load_arrays(args.dataset, "test")
print(
    f"{args.dataset}: {len(train_raw.labels)} train / {len(test_raw.labels)} test images "
    f"from {train_raw.source}"
)


def to_pixels(x: np.ndarray, spec: data.DatasetSpec) -> np.ndarray:
    """Normalized images back to [0, 1] grey levels (the one channel), for display."""
    return np.clip(spec.denormalize(x) / 255.0, 0.0, 1.0)[..., 0]


# The analysis uses a fixed subset: probes are fitted on `n_fit` training images and scored on
# `n_eval` test images (a held-out split). The sample has 4000 / 1000. The model takes
# normalized images, (x/255 − mean)/std: `spec.normalize` is keraslab.data.load's formula for
# NumPy arrays.
n_fit = min(len(train_raw.labels), 2000 if args.quick else 10000)
n_eval = min(len(test_raw.labels), 1000 if args.quick else 2000)
x_fit, y_fit = spec.normalize(train_raw.images[:n_fit]), train_raw.labels[:n_fit]
x_eval, y_eval = spec.normalize(test_raw.images[:n_eval]), test_raw.labels[:n_eval]

# 1. ψ, the invertible downsampling ---------------------------------------------------------
# ψ moves each 2×2 block of pixels into 4 channels: (28, 28, 1) → (14, 14, 4). Channel
# 2p + q holds the pixels at row offset p and column offset q, so each channel is the image
# subsampled on one of the four 2×2 sub-grids. Nothing is computed, entries only move, so ψ⁻¹
# (depth-to-space) undoes it bit for bit. Unlike pooling or a strided convolution, ψ halves
# the resolution without losing anything.
x = x_eval[:1]
y = space_to_depth(x, 2).numpy()
psi_exact = bool(np.array_equal(depth_to_space(y, 2).numpy(), x))
print(f"ψ: {x.shape[1:]} → {y.shape[1:]}; ψ⁻¹(ψ(x)) == x bit for bit: {psi_exact}")
images = [to_pixels(x, spec)[0]] + [to_pixels(y[..., k : k + 1], spec)[0] for k in range(4)]
titles = ["x (28×28×1)"] + [
    f"ψ(x) channel {k}\nrow, column offset {k // 2, k % 2}" for k in range(4)
]
fig, _ = analysis.image_grid([images], titles=[titles], fontsize=9, figsize=(12, 2.9))
fig.suptitle("ψ: space-to-depth, each channel a 14×14 sub-grid of the image")
fig.savefig(out / "psi.png", dpi=110, bbox_inches="tight")
plt.close(fig)

# 2. One i-RevNet block ---------------------------------------------------------------------
# The block splits its channels in halves x = [x1, x2] and computes
#     y1 = S x2,    y2 = F(x2) + S x1          (S = ψ for a stride-2 block, else identity)
# with F a BN–ReLU–conv3×3 bottleneck. Given y, x2 = S⁻¹ y1 is immediate, and then F(x2) can be
# recomputed, so x1 = S⁻¹(y2 − F(x2)). F itself is never inverted: it can be any function.
h = space_to_depth(x_eval[:16], 2)  # (16, 14, 14, 4): two halves of 2 channels
block = IRevNetBlock(stride=2, bottleneck_ratio=2, name="demo_block")
out_block = block(h, training=False)  # (16, 7, 7, 16): as many entries as its input
h_again = block.inverse(out_block, training=False)
block_error = float(np.linalg.norm(h_again - h) / np.linalg.norm(h))
print(
    f"one block: {tuple(h.shape[1:])} → {tuple(out_block.shape[1:])}, "
    f"‖B⁻¹(B(h)) − h‖/‖h‖ = {block_error:.1e}"
)
results["psi"] = dict(
    input_shape=list(x.shape[1:]), output_shape=list(y.shape[1:]), exact=psi_exact
)
results["block"] = {
    "input_shape": list(h.shape[1:]),
    "output_shape": list(out_block.shape[1:]),
    "relative_error": block_error,
}

# 3. The stacked network --------------------------------------------------------------------
# irevnet_mnist: ψ (28×28×1 → 14×14×4), 28 zero channels (→ 14×14×32: the *injective*
# i-RevNet widens its input with zeros, its inverse drops them), 4 blocks at 14×14, then
# 4 blocks at 7×7×128 (the first of them downsamples with ψ). Φ(x) is the output of the last
# block; the head is BN–ReLU–global average pooling–linear, the only non-invertible part.
# (irevnet_mnist(memory_free=True) trains without storing activations: each block's input is
# recomputed from its output during backprop, as in RevNets.)
model = irevnet_mnist(input_shape=spec.image_shape, num_classes=spec.num_classes)
model.summary(print_fn=lambda line, **_: print(line))
input_entries, feature_entries = int(np.prod(spec.image_shape)), int(np.prod(model.feature_shape))
print(f"Φ(x) has shape {model.feature_shape}: {feature_entries} entries for {input_entries} pixels")
results["model"] = {
    "name": "irevnet_mnist",
    "parameters": int(model.count_params()),
    "feature_shape": list(model.feature_shape),
    "injective": model.injective,
    "input_entries": input_entries,
    "feature_entries": feature_entries,
}

# 4. Check invertibility (untrained) --------------------------------------------------------
# Relative error ‖Φ⁻¹(Φ(x)) − x‖/‖x‖ per image, over the held-out images, and for each layer on
# its own input. It is float32 round-off: the random weights do not matter.
report = reconstruction_report(model, x_eval, per_block=True)
print(
    f"untrained: Φ⁻¹(Φ(x)) vs x over {report.num_examples} images: max relative error "
    f"{report.max_relative_error:.1e}, mean {report.mean_relative_error:.1e}"
)
results["reconstruction"] = {"untrained": report.to_dict()}

# Separation against depth *before* training, for comparison (cheap: one forward pass).
untrained_sep = separation_by_depth(
    depth_features(model, x_fit), y_fit, depth_features(model, x_eval), y_eval
)

# 5. Training -------------------------------------------------------------------------------
# The zoo's recipe for irevnet_mnist (Adam with a cosine learning-rate decay), fewer epochs
# with --quick. `training.fit` runs the one GradientTape training step of keraslab.
recipe = zoo.get("irevnet_mnist").recipe.replace(epochs=args.epochs or (5 if args.quick else None))
train_ds = data.load(args.dataset, "train", batch_size=recipe.batch_size, seed=args.seed)
test_ds = data.load(args.dataset, "test", batch_size=512)
result = training.fit(
    model,
    train_ds,
    recipe=recipe,
    validation_data=test_ds,
    out_dir=out / "run",
    overwrite=True,
    verbose=2,
)
test_accuracy = float(result.history["val_accuracy"][-1])
print(f"test accuracy {test_accuracy:.2%} after {recipe.epochs} epochs")
results["training"] = {
    "epochs": recipe.epochs,
    "recipe": recipe.to_dict(),
    "wall_time_s": round(result.wall_time_s, 1),
    "history": result.history,
}
results["test_accuracy"] = test_accuracy

# 6. Reconstruct images from their features -------------------------------------------------
# Training changed every weight, and Φ is still exactly invertible: the inverse is built from
# the same F's.
report = reconstruction_report(model, x_eval, per_block=True)
print(
    f"trained: max relative error {report.max_relative_error:.1e}, "
    f"mean {report.mean_relative_error:.1e}"
)
results["reconstruction"]["trained"] = report.to_dict()
shown = x_eval[:8]
z = model.features(shown)
x_hat = model.inverse(z).numpy()
rows = [to_pixels(shown, spec), z[..., -1], to_pixels(x_hat, spec), np.abs(x_hat - shown)[..., 0]]
fig, axes = analysis.image_grid(
    rows,
    titles=[[spec.class_names[c] for c in y_eval[:8]]],
    row_labels=("x", "Φ(x), one of 128 channels", "Φ⁻¹(Φ(x))", "|Φ⁻¹(Φ(x)) − x|"),
    cmap=("gray_r", "viridis", "gray_r", "magma"),
    figsize=(12, 6.4),
)
fig.colorbar(axes[3, -1].images[0], ax=axes[3].tolist(), fraction=0.02)
fig.suptitle(
    f"Reconstruction from the 7×7×128 features of the trained network "
    f"(max relative error {report.max_relative_error:.1e})"
)
fig.savefig(out / "reconstruction.png", dpi=110, bbox_inches="tight")
plt.close(fig)

# 7. Progressive separation and contraction against depth ----------------------------------
# For each depth k (0 = the input of the first block, after ψ and the zero channels), average
# Φ_k(x) over space: one number per channel (32 in stage 1, 128 in stage 2). Then measure how
# separable the classes are with (a) a linear probe (closed-form ridge least squares, fitted on
# training images, scored on test images), (b) 1-nearest-neighbour, and (c) the ratio of the
# mean within-class to the mean between-class distance (lower = classes more contracted).
# The flattened pixels are the baseline: 784 numbers per image, with no averaging.
# Compare with the untrained network too: random blocks already give the probe more to work
# with than depth 0 (more channels, each a different random filter), so look at what training
# adds, in particular to 1-NN (local separation) and to the within/between ratio (contraction).
train_feats, eval_feats = depth_features(model, x_fit), depth_features(model, x_eval)
trained_sep = separation_by_depth(train_feats, y_fit, eval_feats, y_eval)
flat_fit, flat_eval = x_fit.reshape(n_fit, -1), x_eval.reshape(n_eval, -1)
pixels = {
    "linear_probe": linear_probe_accuracy(flat_fit, y_fit, flat_eval, y_eval),
    "nearest_neighbor": nearest_neighbor_accuracy(flat_fit, y_fit, flat_eval, y_eval),
}
results["separation"] = {
    "fit_examples": n_fit,
    "eval_examples": n_eval,
    "pixels": pixels,
    "untrained": untrained_sep.to_dict(),
    "trained": trained_sep.to_dict(),
}
depths = trained_sep.depths
stage1_end = model.blocks[0]  # blocks in stage 1 (14×14); stage 2 works at 7×7
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="tight")
analysis.separation_curves(
    axes,
    {"trained": trained_sep, "untrained": untrained_sep},
    baseline=pixels,
    baseline_label="pixels",
    boundaries=[stage1_end + 0.5],  # stage 1 (14×14) → stage 2 (7×7)
)
fig.savefig(out / "separation.png", dpi=110)
plt.close(fig)
print("depth  probe  1-NN   within/between   (untrained: probe, 1-NN, ratio)")
t, u = trained_sep, untrained_sep
for k, d in enumerate(depths):
    print(
        f"{d:5d}  {t.linear_probe[k]:.3f}  {t.nearest_neighbor[k]:.3f}  {t.ratio[k]:.3f}"
        f"            ({u.linear_probe[k]:.3f}, {u.nearest_neighbor[k]:.3f}, "
        f"{u.ratio[k]:.3f})"
    )
print(f"pixels: probe {pixels['linear_probe']:.3f}, 1-NN {pixels['nearest_neighbor']:.3f}")

# 8. PCA of the features --------------------------------------------------------------------
# Project the averaged features of the held-out images on their first two principal components
# at depth 0, at the end of stage 1 and at the end, and see how the variance spreads over the
# components (cumulative explained variance) at those depths.
pcas = [pca(f) for f in eval_feats.features]
needed = [p.components_for(0.9) for p in pcas]
shown_depths = [0, stage1_end, len(depths) - 1]
fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), layout="tight")
for ax, k in zip(axes[:3], shown_depths, strict=True):
    coords = pcas[k].transform(eval_feats.features[k])
    points = ax.scatter(*coords[:, :2].T, c=y_eval, cmap="tab10", s=5, vmin=-0.5, vmax=9.5)
    ax.set(title=f"depth {depths[k]} ({eval_feats.names[k]})", xlabel="PC 1", ylabel="PC 2")
cbar = fig.colorbar(points, ax=axes[2], ticks=range(10))
cbar.ax.set_yticklabels(spec.class_names, fontsize=6)
for k in shown_depths:
    ratio = np.cumsum(pcas[k].explained_variance_ratio)[:20]
    axes[3].plot(np.arange(1, len(ratio) + 1), ratio, "o-", ms=3, label=f"depth {depths[k]}")
axes[3].set(xlabel="principal components", ylabel="cumulative explained variance", ylim=(0, 1.02))
axes[3].set_title("Variance spread of the averaged features")
axes[3].legend(fontsize=7)
axes[3].grid(alpha=0.3)
fig.savefig(out / "pca.png", dpi=110)
plt.close(fig)
results["pca"] = {
    "names": eval_feats.names,
    "dims": trained_sep.dims,
    "components_for_90pct_variance": needed,
    "explained_variance_ratio_last_depth_top10": pcas[-1].explained_variance_ratio[:10].tolist(),
}
print(f"components for 90 % of the variance, by depth: {needed}")

# 9. Interpolation in feature space ---------------------------------------------------------
# x_t = Φ⁻¹((1 − t) Φ(x₀) + t Φ(x₁)): a straight line in the representation, mapped back to
# images, against the straight line in pixels. The endpoints come back exactly. In between,
# this injective network's z_t is generally *not* the representation of any image (the range
# of Φ is a thin subset: 6272 numbers for 784 pixels); Φ⁻¹ still returns an image, but
# Φ(x_t) ≠ z_t, and the printed "range error" ‖Φ(x_t) − z_t‖/‖z_t‖ says by how much. Expect
# artefacts on ψ's 2×2 grid there; a bijective i-RevNet (no zero channels) has no such gap.
i0 = int(np.flatnonzero(y_eval == 1)[0])  # a trouser
i1 = int(np.flatnonzero(y_eval == 8)[0])  # a bag
path = interpolate(model, x_eval[i0], x_eval[i1], t=8)
lines = {"features": path.images, "pixels": path.pixel_images}  # the two paths, as images
predicted = {kind: model.predict(x, verbose=0).argmax(1).tolist() for kind, x in lines.items()}
titles = [
    [f"t={t:.2f}\n→ {spec.class_names[c]}" for t, c in zip(path.t, classes, strict=True)]
    for classes in predicted.values()
]
fig, _ = analysis.image_grid(
    [to_pixels(x, spec) for x in lines.values()],
    titles=titles,
    row_labels=[f"in {kind}" for kind in predicted],
    fontsize=7,
    figsize=(1.5 * len(path.t), 3.8),
)
fig.suptitle(
    "Interpolation between two test images: in feature space (top, inverted back) "
    "and in pixel space (bottom), with the network's prediction",
    fontsize=9,
)
fig.savefig(out / "interpolation.png", dpi=110, bbox_inches="tight")
plt.close(fig)
results["interpolation"] = {
    **path.to_dict(),
    "classes": [spec.class_names[y_eval[i0]], spec.class_names[y_eval[i1]]],
    "predicted": {k: [spec.class_names[c] for c in v] for k, v in predicted.items()},
}
print(
    f"interpolation endpoints reproduced to {max(path.endpoint_errors):.1e}; range error "
    f"‖Φ(x_t) − z_t‖/‖z_t‖ along the path: "
    f"{np.round(path.range_errors, 3).tolist()}"
)

# 10. The information bottleneck ------------------------------------------------------------
# The information-bottleneck account of deep learning (Tishby & Zaslavsky 2015; Shwartz-Ziv &
# Tishby 2017) says a network generalizes by compressing: its layers keep less and less
# information about the input x and only what predicts the label. An i-RevNet cannot do that.
# Φ_k is injective at every depth k, so Φ_k(x) determines x: nothing about the input is lost
# until the final pooling and linear layer. (For a deterministic network with continuous inputs
# the mutual information I(x; Φ_k(x)) is not even finite — Saxe et al. 2018 and Goldfeld et al.
# 2019 discuss how "compression" results depend on the noise or binning added to measure it.)
# What does change with depth is geometry: the classes become linearly separable and
# contracted in the averaged features, while the remaining variability is kept, not removed —
# moved into directions the classifier ignores. Jacobsen et al. (2018, §4) read this as
# "progressive contraction and linear separation" rather than loss of information. Two
# caveats to keep in mind when reading the numbers below: the spatial average that the probes
# see is itself not invertible, and a --quick run (the 4000-image sample, a few epochs) gives
# numbers of its own, not those of a full training run.
first, last = 0, len(depths) - 1
print("\nWhat the numbers say:")
print(
    f"  * Φ keeps everything: Φ⁻¹(Φ(x)) = x to a relative error of "
    f"{report.max_relative_error:.1e} (trained), with {feature_entries} feature entries "
    f"per {input_entries}-pixel image."
)
print(
    f"  * Yet the averaged features become separable with depth: linear probe "
    f"{t.linear_probe[first]:.1%} at depth 0 → {t.linear_probe[last]:.1%} after the last "
    f"block (untrained: {u.linear_probe[last]:.1%}; on the pixels: "
    f"{pixels['linear_probe']:.1%}); 1-NN {t.nearest_neighbor[first]:.1%} → "
    f"{t.nearest_neighbor[last]:.1%}."
)
print(
    f"  * The classes contract: within/between distance ratio {t.ratio[first]:.3f} → "
    f"{t.ratio[last]:.3f} (untrained: {u.ratio[first]:.3f} → {u.ratio[last]:.3f})."
)
print(
    f"  * The classifier reached {test_accuracy:.1%} test accuracy without discarding "
    f"anything before its last layer: separation without an information bottleneck."
)
results["discussion"] = {
    "max_reconstruction_error_trained": report.max_relative_error,
    "linear_probe_first_last": [trained_sep.linear_probe[first], trained_sep.linear_probe[last]],
    "ratio_first_last": [trained_sep.ratio[first], trained_sep.ratio[last]],
}

results["wall_time_s"] = round(time.perf_counter() - started, 1)
(out / "results.json").write_text(json.dumps(results, indent=1, default=float))
print(f"plots and results.json in {out}/ ({results['wall_time_s']} s)")
