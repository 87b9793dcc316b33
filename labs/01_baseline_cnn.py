"""Lab 01 — a baseline CNN, end to end: data → model → train → export → serve.

Every later lab (scattering, invertible networks, learned ISTA, regularized training) builds on
the pieces used here, so this one walks through them in order:

1. load Fashion-MNIST with ``keraslab.data`` and look at it;
2. build the LeNet-style CNN from the zoo;
3. train it with the one ``GradientTape`` training step of ``keraslab.training``;
4. read the learning curves and the confusion matrix;
5. export a SavedModel that TF Serving serves as is, and check it in a process that imports
   only TensorFlow (which is what TF Serving does) — the export ``keraslab export`` writes.

Run it (offline, a couple of minutes on a laptop CPU, on the small sample shipped inside
keraslab):

    python labs/01_baseline_cnn.py --quick

Without ``--quick`` it trains the zoo recipe's 15 epochs; ``--dataset fashion_mnist`` uses the
full dataset (``apt-get install dataset-fashion-mnist`` or see ``keraslab data info``).
Everything lands in ``--out`` (default ``results/01_baseline_cnn``): plots, ``results.json``,
the training run and the exported model.
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

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--quick", action="store_true", help="3 epochs: minutes on a laptop CPU")
parser.add_argument(
    "--dataset",
    default="fashion_mnist_sample",
    help="fashion_mnist_sample (shipped, default), fashion_mnist or mnist",
)
parser.add_argument("--epochs", type=int, help="override the number of epochs")
parser.add_argument("--out", default="results/01_baseline_cnn", help="output directory")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(args.seed)
results: dict = {"lab": "01_baseline_cnn", "dataset": args.dataset, "quick": args.quick}
started = time.perf_counter()

# 1. The data -----------------------------------------------------------------------------
# `load_arrays` gives the raw uint8 images (for looking at them and for the serving check);
# `load` gives the normalized, shuffled, batched tf.data pipeline the model trains on.
spec = data.get_spec(args.dataset)
train_raw = data.load_arrays(args.dataset, "train")
test_raw = data.load_arrays(args.dataset, "test")
print(
    f"{args.dataset}: {len(train_raw.labels)} train / {len(test_raw.labels)} test images "
    f"from {train_raw.source} ({train_raw.location})"
)
results["data"] = dict(train=len(train_raw), test=len(test_raw), source=train_raw.source)

per_class = np.stack([train_raw.images[train_raw.labels == c][:4] for c in range(10)], axis=1)
fig, _ = analysis.image_grid(per_class, titles=[spec.class_names], figsize=(12, 5.4))
fig.suptitle(f"{args.dataset}: four training images per class")
fig.savefig(out / "samples.png", dpi=110, bbox_inches="tight")
plt.close(fig)

# 2. The model ----------------------------------------------------------------------------
entry = zoo.get("lenet")
recipe = entry.recipe.replace(epochs=args.epochs or (3 if args.quick else entry.recipe.epochs))
model = zoo.build("lenet", dataset=args.dataset)
model.summary(print_fn=lambda line, **_: print(line))
results["model"] = {"name": "lenet", "parameters": int(model.count_params())}

# 3. Training -----------------------------------------------------------------------------
# `training.fit` wraps the network in TrainingModel (forward pass under tf.GradientTape, plus
# any penalties — none here) and adds the standard callbacks: progress bar, CSV/JSON history,
# TensorBoard, best/last checkpoints and BackupAndRestore (rerun to resume after a crash).
train_ds = data.load(
    args.dataset, "train", batch_size=recipe.batch_size, seed=args.seed, augment=recipe.augment
)
test_ds = data.load(args.dataset, "test", batch_size=512)
result = training.fit(
    model,
    train_ds,
    recipe=recipe,
    validation_data=test_ds,
    out_dir=out / "run",
    verbose=2,
    overwrite=True,
)

# 4. What it learned ----------------------------------------------------------------------
h = result.history
epochs = np.arange(1, len(h["loss"]) + 1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="tight")
for ax, key, label in ((ax1, "loss", "cross-entropy"), (ax2, "accuracy", "accuracy")):
    ax.plot(epochs, h[key], "o-", label="train")
    ax.plot(epochs, h[f"val_{key}"], "s-", label="test")
    ax.set(xlabel="epoch", ylabel=label, title=key)
    ax.grid(alpha=0.3)
    ax.legend()
fig.savefig(out / "learning_curves.png", dpi=110)
plt.close(fig)

predicted = model.predict(test_ds, verbose=0).argmax(1)
accuracy = float(np.mean(predicted == test_raw.labels))
confusion = np.zeros((10, 10), int)
np.add.at(confusion, (test_raw.labels, predicted), 1)
fig, ax = plt.subplots(figsize=(6.4, 5.6), layout="tight")
ax.imshow(confusion, cmap="Blues")
for (i, j), count in np.ndenumerate(confusion):
    color = "white" if count > confusion.max() / 2 else "black"
    ax.text(j, i, count, ha="center", va="center", fontsize=7, color=color)
ax.set_xticks(range(10), spec.class_names, rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(10), spec.class_names, fontsize=8)
ax.set(xlabel="predicted", ylabel="true", title=f"test accuracy {accuracy:.1%}")
fig.savefig(out / "confusion_matrix.png", dpi=110)
plt.close(fig)
per_class = confusion.diagonal() / confusion.sum(1)
print(
    f"test accuracy {accuracy:.2%}; hardest class: {spec.class_names[per_class.argmin()]} "
    f"({per_class.min():.1%})"
)
results.update(
    training=dict(epochs=recipe.epochs, wall_time_s=round(result.wall_time_s, 1), history=h),
    test_accuracy=accuracy,
    per_class_accuracy=dict(zip(spec.class_names, per_class.round(4).tolist(), strict=True)),
)

# 5. Export for TF Serving ----------------------------------------------------------------
# `zoo.export` writes what `keraslab export` writes: a SavedModel that takes raw uint8 pixels
# under the input name "image" (the dataset's normalization is baked in) and returns "logits",
# "probabilities" and "class_id". `zoo.verify_export` reloads it in a separate Python process
# that imports only TensorFlow and checks that its predictions on test images are identical.
path = zoo.export(
    "lenet", model, out / "savedmodels", dataset=args.dataset, test={"test_accuracy": accuracy}
)
verified = zoo.verify_export("lenet", path, model, dataset=args.dataset)
diff = verified.report.max_abs_diff["serving_default/logits"]
print(f"exported {path}; {verified.summary}")
results["export"] = dict(
    path=str(path), signatures=sorted(verified.report.signatures), max_abs_logit_diff=diff
)
print(f"""
To serve it (Docker):
  docker run -p 8501:8501 -v "{path.parent.resolve()}:/models/lenet" \\
      -e MODEL_NAME=lenet tensorflow/serving
  curl -d '{{"instances": [{{"image": <28×28×1 nested list of 0–255 ints>}}]}}' \\
      localhost:8501/v1/models/lenet:predict
""")

results["wall_time_s"] = round(time.perf_counter() - started, 1)
(out / "results.json").write_text(json.dumps(results, indent=1))
print(f"plots and results.json in {out}/ ({results['wall_time_s']} s)")
