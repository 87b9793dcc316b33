"""Lab 08 — fine-tune a zoo model on your own images and serve it the way TF Serving does.

A practitioner's path from a shipped model to a served one, without writing training or
serving code:

1. write a labelled image folder (one subfolder per class) — here scikit-learn's 1,797 real
   8×8 handwritten digits, which no zoo model was trained on — and keep some images aside as
   a test set the fine-tuning never sees;
2. read the folder at the base model's input (``lenet``: 28×28 grey, Fashion-MNIST's
   normalization) and look at what the model will see;
3. fine-tune the shipped ``lenet`` with the two-phase transfer recipe (a new head trained on a
   frozen backbone, then a short, slower phase on everything) and read its learning curves;
4. export it under its new name (a TF Serving model directory, verified in a process that
   imports only TensorFlow), into this lab's results — never into the shipped ``savedmodels/``;
5. query it as a TF Serving REST client does: JSON request bodies for the pixel signature
   (``serving_default``) and the encoded-image one (``serving_bytes``, images as ``{"b64": …}``),
   answered by the SavedModel in a TensorFlow-only process; predictions with class names and a
   confusion matrix.

Run it (offline, a couple of minutes on a laptop CPU):

    python labs/08_finetune_and_serve.py --quick

It needs scikit-learn for the digits (``pip install -e '.[labs]'``). Everything lands in
``--out`` (default ``results/08_finetune_and_serve``): plots, ``results.json``, the image
folder, the fine-tuning run and the export.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")  # plots go to files, no window

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from keraslab import analysis, data, export, zoo  # noqa: E402

try:
    from sklearn.datasets import load_digits
except ImportError as exc:  # one clear line instead of a traceback
    raise SystemExit(
        f"lab 08 needs scikit-learn for its digits: pip install -e '.[labs]' ({exc})"
    ) from None

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument(
    "--quick", action="store_true", help="6 + 2 epochs: about a minute on a laptop CPU"
)
parser.add_argument("--freeze-epochs", type=int, help="phase 1 (head only) epochs")
parser.add_argument("--epochs", type=int, help="phase 2 (everything but BatchNorm) epochs")
parser.add_argument("--out", default="results/08_finetune_and_serve", help="output directory")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(args.seed)
results: dict = {"lab": "08_finetune_and_serve", "base": "lenet", "quick": args.quick}
started = time.perf_counter()

# 1. Your images, as a folder ---------------------------------------------------------------
# `keraslab finetune` reads the convention of keras.utils.image_dataset_from_directory: one
# subfolder per class, its name the class name. The digits have 16 grey levels (0–16); we
# scale them to 0–255 and save each as a PNG, left at 8×8 — the reader resizes them. Every
# sixth image goes to a separate test set instead: the fine-tuning's own validation split
# chooses the model, the test set is only ever sent to the server.
digits = load_digits()
folder, test_dir = out / "digits", out / "test_images"
for directory in (folder, test_dir):
    shutil.rmtree(directory, ignore_errors=True)
test_files, test_labels = [], []
for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
    pixels = np.round(image * 255 / 16).astype(np.uint8)
    target = (test_dir if i % 6 == 5 else folder / f"digit_{label}") / f"{i:04d}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(target)
    if i % 6 == 5:
        test_files.append(target)
        test_labels.append(int(label))
test_labels_array = np.array(test_labels)
print(f"wrote {len(digits.target) - len(test_files)} images in 10 class folders under {folder}")
print(f"kept {len(test_files)} images aside in {test_dir} for the served model")

# 2. What the base model will see -------------------------------------------------------------
# The fine-tuned model must take raw pixels exactly like its base, so the images are read at
# the base's input (28×28×1 for lenet, bilinear resize, colour → grey) and normalized with the
# *base's* dataset statistics (Fashion-MNIST's mean and std), not the digits' own.
spec = data.get_spec(zoo.get("lenet").dataset)
labelled = data.image_folder(folder, spec, validation_split=0.2, seed=args.seed, batch_size=64)
print(
    f"classes {list(labelled.class_names)}; {labelled.train_count} train / "
    f"{labelled.validation_count} validation images, as {spec.image_shape} for lenet"
)
seen, seen_labels = (
    np.concatenate(a) for a in zip(*labelled.validation.as_numpy_iterator(), strict=True)
)
seen = spec.denormalize(seen)  # back to 0–255 to look at it
first = [int(np.flatnonzero(seen_labels == k)[0]) for k in range(10)]
originals = [digits.images[digits.target == k][0] for k in range(10)]
fig, _ = analysis.image_grid(
    [originals, seen[first]],
    titles=[list(labelled.class_names)],
    row_labels=["8×8 file", "lenet's 28×28"],
    figsize=(12, 3.4),
)
fig.suptitle("one image per class: the file, and what the base model is fed")
fig.savefig(out / "samples.png", dpi=110, bbox_inches="tight")
plt.close(fig)
results["data"] = {
    "classes": list(labelled.class_names),
    "train": labelled.train_count,
    "validation": labelled.validation_count,
    "test": len(test_files),
    "file_list_sha256": labelled.source["file_list_sha256"],
}

# 3. Fine-tune ------------------------------------------------------------------------------
# `zoo.finetune` is `keraslab finetune`: it loads lenet's shipped weights, rebuilds lenet with a
# new 10-way head (every other weight copied), trains the head alone (phase 1, backbone frozen),
# then everything but BatchNormalization at a 10× lower learning rate (phase 2) — the Keras
# transfer-learning guide's recipe. Each phase is a `keraslab train`-like run with history,
# TensorBoard and checkpoints under run/head and run/full.
freeze_epochs = args.freeze_epochs or (6 if args.quick else 10)
epochs = args.epochs if args.epochs is not None else (2 if args.quick else 5)
run = zoo.finetune(
    "lenet",
    images=labelled,
    name="digits",
    out_dir=out / "run",
    freeze_epochs=freeze_epochs,
    epochs=epochs,
    batch_size=64,
    seed=args.seed,
    overwrite=True,
    verbose=2,
)
print(run.summary)
history = {
    phase: json.loads((out / "run" / phase / "history.json").read_text())
    for phase in ("head", "full")
    if (out / "run" / phase / "history.json").exists()
}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="tight")
for ax, key, label in zip(axes, ("loss", "accuracy"), ("cross-entropy", "accuracy"), strict=True):
    records = [r for phase in history.values() for r in phase]
    x = np.arange(1, len(records) + 1)
    ax.plot(x, [r[key] for r in records], "o-", label="train")
    ax.plot(x, [r[f"val_{key}"] for r in records], "s-", label="validation")
    ax.axvline(len(history["head"]) + 0.5, color="gray", ls="--", lw=1)
    ax.text(len(history["head"]) + 0.6, ax.get_ylim()[1], " phase 2", va="top", fontsize=8)
    ax.set(xlabel="epoch", ylabel=label, title=key)
    ax.grid(alpha=0.3)
    ax.legend()
fig.savefig(out / "learning_curves.png", dpi=110)
plt.close(fig)
results["finetune"] = {
    "freeze_epochs": freeze_epochs,
    "epochs": epochs,
    "validation_accuracy": run.metrics["validation_accuracy"],
    "base_test_accuracy_on_fashion_mnist": json.loads((out / "run" / "run.json").read_text())[
        "finetuned_from"
    ]["base_test_accuracy"],
    "history": history,
}

# 4. Export ---------------------------------------------------------------------------------
# `zoo.export_finetuned` is `keraslab export digits --run RUN`: a TF Serving model directory
# (exports/digits/1/) with the folder names as class names, Fashion-MNIST's normalization baked
# in, the encoded-image signature and TF Serving's warmup requests, checked in a TensorFlow-only
# process. Its base dir is this lab's exports/ — the shipped savedmodels/ stay untouched.
tick = time.perf_counter()
path, verified = zoo.export_finetuned(out / "run", out / "exports")
assert verified is not None
results["export"] = {
    "path": str(path),
    "signatures": sorted(verified.report.signatures),
    "warmup_records": verified.report.warmup_records,
    "wall_time_s": round(time.perf_counter() - tick, 1),
}
print(f"exported {path}; {verified.summary}")

# 5. Query it like a TF Serving client ------------------------------------------------------
# A REST client POSTs JSON to http://HOST:8501/v1/models/digits:predict. For the pixel
# signature it must resize the images itself (to 28×28, uint8); for serving_bytes it sends the
# files as they are, base64-encoded in {"b64": …}, and the server decodes and resizes them.
# (keraslab.serving.Client sends these for you; no server runs here, so below the SavedModel
# answers them in a TensorFlow-only process, as TF Serving would.)
resized = [
    np.asarray(Image.open(f).convert("L").resize(spec.image_shape[:2][::-1], Image.BILINEAR))
    for f in test_files
]
pixel_request = {
    "signature_name": "serving_default",
    "instances": [{"image": p[..., None].tolist()} for p in resized],
}
bytes_request = {
    "signature_name": "serving_bytes",
    "instances": [
        {"image_bytes": {"b64": base64.b64encode(f.read_bytes()).decode("ascii")}}
        for f in test_files
    ],
}
for request in (pixel_request, bytes_request):
    body = json.dumps(request)
    print(f"{request['signature_name']} request: {len(body) / 1024:.0f} KiB, {body[:110]}…")


def server_inputs(body: str) -> dict[str, np.ndarray]:
    """What TF Serving does with a row-format request: one tensor per input name, b64 values
    decoded to bytes, numbers converted to the signature's dtype (uint8 pixels here)."""
    instances = json.loads(body)["instances"]
    inputs = {}
    for name in instances[0]:
        values = [row[name] for row in instances]
        if isinstance(values[0], dict):
            inputs[name] = np.array([base64.b64decode(v["b64"]) for v in values], dtype=object)
        else:
            inputs[name] = np.asarray(values, np.uint8)
    return inputs


feeds = {r["signature_name"]: server_inputs(json.dumps(r)) for r in (pixel_request, bytes_request)}
tick = time.perf_counter()
report, answers = export.run_in_tensorflow_only_process(path, feeds)
serve_s = time.perf_counter() - tick
assert report["keraslab_modules"] == [], "the serving process must not need keraslab"


def rest_response(outputs: dict[str, np.ndarray]) -> dict:
    """TF Serving's row-format answer: {"predictions": [{output: value}, …]}."""
    rows = len(outputs["class_id"])
    return {
        "predictions": [
            {
                "class_name": outputs["class_name"][i].decode(),
                "class_id": int(outputs["class_id"][i]),
                "probabilities": outputs["probabilities"][i].astype(float).round(3).tolist(),
            }
            for i in range(rows)
        ]
    }


serving: dict = {"test_images": len(test_files), "tensorflow_only_process_s": round(serve_s, 1)}
predicted = {}
for signature, outputs in answers.items():
    response = rest_response(outputs)
    names = [p["class_name"] for p in response["predictions"]]
    ids = np.array([p["class_id"] for p in response["predictions"]])
    predicted[signature] = ids
    accuracy = float(np.mean(ids == test_labels_array))
    serving[signature] = {"accuracy": accuracy, "first_predictions": names[:8]}
    print(
        f"{signature}: test accuracy {accuracy:.2%}; "
        f"its first prediction: {response['predictions'][0]}"
    )
agree = float(np.mean(predicted["serving_default"] == predicted["serving_bytes"]))
serving["same_class_both_signatures"] = agree
print(
    f"the two signatures give the same class for {agree:.1%} of the test images (they differ "
    f"only in who resized the 8×8 files: the client's PIL or the server's decoder); "
    f"{len(test_files)} images, both signatures, loading included: {serve_s:.1f} s"
)
results["serving"] = serving

by_bytes = answers["serving_bytes"]
confidence = by_bytes["probabilities"].max(1)
titles = [
    f"{n.decode()} {c:.0%}" + ("" if k == t else " ✗")
    for n, c, k, t in zip(
        by_bytes["class_name"][:10],
        confidence[:10],
        predicted["serving_bytes"][:10],
        test_labels[:10],
        strict=True,
    )
]
fig, _ = analysis.image_grid(
    [np.stack([np.asarray(Image.open(f)) for f in test_files[:10]])],
    titles=[titles],
    figsize=(12, 1.9),
)
fig.suptitle("test files sent as b64 to serving_bytes: the served class name and probability")
fig.savefig(out / "predictions.png", dpi=110, bbox_inches="tight")
plt.close(fig)

confusion = np.zeros((10, 10), int)
np.add.at(confusion, (test_labels_array, predicted["serving_bytes"]), 1)
fig, ax = plt.subplots(figsize=(6.4, 5.6), layout="tight")
ax.imshow(confusion, cmap="Blues")
for (i, j), count in np.ndenumerate(confusion):
    color = "white" if count > confusion.max() / 2 else "black"
    ax.text(j, i, count, ha="center", va="center", fontsize=7, color=color)
ax.set_xticks(range(10), labelled.class_names, rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(10), labelled.class_names, fontsize=8)
accuracy = serving["serving_bytes"]["accuracy"]
ax.set(xlabel="served class", ylabel="true", title=f"served (serving_bytes): {accuracy:.1%}")
fig.savefig(out / "confusion_matrix.png", dpi=110)
plt.close(fig)
results["serving"]["confusion_matrix"] = confusion.tolist()

print(f"""
To serve it for real (Docker), then send the requests above:
  docker run -p 8501:8501 -v "{path.parent.resolve()}:/models/digits" \\
      -e MODEL_NAME=digits tensorflow/serving --enable_model_warmup=true
  python -c "from keraslab.serving import Client; \\
      print(Client('http://localhost:8501', 'digits').predict(['{test_files[0]}']).labels)"
""")

results["wall_time_s"] = round(time.perf_counter() - started, 1)
(out / "results.json").write_text(json.dumps(results, indent=1))
print(f"plots and results.json in {out}/ ({results['wall_time_s']} s)")
