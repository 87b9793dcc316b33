"""The practitioner's flow: a zoo model fine-tuned on a real image folder it never saw, exported
under its new name and served from a TensorFlow-only process.

The folder is scikit-learn's ``load_digits`` (1,797 real 8×8 handwritten digits, 16 grey
levels, shipped inside the wheel; no zoo model was trained on it), written as PNG files in one
subfolder per digit and left at 8×8, so the reader resizes them to LeNet's 28×28.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from keraslab import data, export, zoo
from keraslab.cli import EXIT_USER_ERROR, main
from keraslab.export.warmup import read_warmup_requests

sklearn_datasets = pytest.importorskip("sklearn.datasets")
Image = pytest.importorskip("PIL.Image")


def digits_folder(root):
    """load_digits as PNG files: ``root/digit_K/NNNN.png``, pixels 0–16 scaled to 0–255."""
    digits = sklearn_datasets.load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = root / f"digit_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.round(image * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return root


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_finetune_lenet_on_digits_export_and_serve(tmp_path, capsys):
    images = digits_folder(tmp_path / "digits")
    run_dir, base_dir = tmp_path / "run", tmp_path / "exports"
    shipped_manifest = zoo.savedmodels_dir() / zoo.MANIFEST
    before = _sha(shipped_manifest)
    argv = ["--images", str(images), "--name", "digits", "--out", str(run_dir)]
    flags = ["--freeze-epochs", "4", "--epochs", "2", "--batch-size", "64"]
    assert main(["finetune", "lenet", *argv, *flags, "--validation-split", "0.2"]) == 0
    assert "validation accuracy" in capsys.readouterr().out

    run = json.loads((run_dir / "run.json").read_text())
    assert run["finetuned_from"]["base"] == "lenet"
    assert run["data"]["file_count"] == 1797
    assert run["data"]["images_per_class"] == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert run["class_names"] == [f"digit_{k}" for k in range(10)]

    assert main(["export", "digits", "--run", str(run_dir), "--base-dir", str(base_dir)]) == 0
    out = capsys.readouterr().out
    assert "verified in a TensorFlow-only process" in out
    assert _sha(shipped_manifest) == before  # the shipped models were not touched
    assert not (zoo.savedmodels_dir() / "digits").exists()
    path = base_dir / "digits" / "1"
    meta = export.read_metadata(path)
    assert meta["class_names"] == run["class_names"]
    assert meta["preprocessing"]["mean"] == list(data.get_spec("fashion_mnist").mean)
    record = json.loads((base_dir / zoo.MANIFEST).read_text())["finetuned"]["digits"]
    assert record["finetuned_from"] == run["finetuned_from"]
    assert record["data"]["file_list_sha256"] == run["data"]["file_list_sha256"]
    assert 'name: "digits"' in (base_dir / "models.config").read_text()

    # The held-out split, as raw uint8 pixels at the model's input (what a client sends).
    spec = data.get_spec("fashion_mnist")
    held_out = data.image_folder(images, spec, validation_split=0.2, seed=0, batch_size=512)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in held_out.validation], strict=True)
    pixels = np.clip(np.round(spec.denormalize(np.concatenate(xs))), 0, 255).astype(np.uint8)
    labels = np.concatenate(ys)
    assert len(labels) == 359

    # One TensorFlow-only process (what TF Serving does): the pixel signature, the bytes
    # signature on the same images PNG-encoded (lossless, already at 28×28, so not resampled),
    # and every warmup record of assets.extra through the signature it names.
    records = read_warmup_requests(path)
    warmup = {f"{sig}#warmup{k}": inputs for k, (_, sig, inputs) in enumerate(records)}
    feeds = {
        "serving_default": {export.SERVING_INPUT: pixels},
        export.BYTES_SIGNATURE: {export.BYTES_INPUT: export.encode_png(pixels)},
        **warmup,
    }
    report, outputs = export.run_in_tensorflow_only_process(path, feeds)
    assert report["keraslab_modules"] == []
    by_pixels, by_bytes = outputs["serving_default"], outputs[export.BYTES_SIGNATURE]
    served = by_pixels["class_id"]
    model = zoo.load_finetuned("digits", base_dir)
    keras_ids = np.argmax(model.predict(spec.normalize(pixels), verbose=0), axis=-1)
    served_accuracy = float(np.mean(served == labels))
    bytes_accuracy = float(np.mean(by_bytes["class_id"] == labels))
    print(
        f"held-out accuracy ({len(labels)} digits): serving_default {served_accuracy:.4f}, "
        f"serving_bytes {bytes_accuracy:.4f}; {len(records)} warmup records ran"
    )
    assert np.array_equal(served, keras_ids)  # same predictions through TF Serving's signature
    assert np.array_equal(by_bytes["class_id"], served)  # image for image
    names = np.array(run["class_names"])
    for outs in (by_pixels, by_bytes):
        assert [n.decode() for n in outs["class_name"]] == list(names[outs["class_id"]])
    assert bytes_accuracy == served_accuracy
    # Keras on its own float pipeline (unrounded resize) agrees to within a few images.
    assert served_accuracy == pytest.approx(run["validation"]["validation_accuracy"], abs=0.02)
    # 10 classes: chance is 10%; 6 epochs on 1,438 upscaled 8×8 digits reach about 90%.
    assert served_accuracy > 0.8, served_accuracy

    # Warmup: batch sizes 1 and 8 for each of the two signatures, all for this model's name,
    # each answered with every output at the batch size it asked for.
    assert (path / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert sorted((sig, len(next(iter(x.values())))) for _, sig, x in records) == [
        (export.BYTES_SIGNATURE, 1),
        (export.BYTES_SIGNATURE, 8),
        ("serving_default", 1),
        ("serving_default", 8),
    ]
    assert {model_name for model_name, _, _ in records} == {"digits"}
    for key, inputs in warmup.items():
        batch = len(next(iter(inputs.values())))
        assert sorted(outputs[key]) == ["class_id", "class_name", "logits", "probabilities"]
        assert outputs[key]["logits"].shape == (batch, 10)
        assert set(n.decode() for n in outputs[key]["class_name"]) <= set(names)


def test_cli_finetune_and_export_mistakes_print_one_line(tmp_path, capsys):
    status = main(["finetune", "lenet", "--images", str(tmp_path / "no"), "--name", "x"])
    assert status == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("keraslab: error: image folder") and "does not exist" in err
    assert len(err.splitlines()) == 1
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text(json.dumps({"finetuned_from": {"base": "lenet"}}))
    status = main(["export", "x", "--run", str(tmp_path / "run"), "--dataset", "mnist"])
    assert status == EXIT_USER_ERROR
    assert "--dataset does not apply to a fine-tuned run" in capsys.readouterr().err
    status = main(["finetune", "alista16", "--images", str(tmp_path), "--name", "x"])
    assert status == EXIT_USER_ERROR
    assert "alista16 is a sparse coder" in capsys.readouterr().err


@pytest.mark.slow
def test_finetuned_irevnet_keeps_features_and_inverse(tmp_path):
    """Phase 2 trains i-RevNet's blocks too; they stay invertible, and the export's `features`
    and `inverse` signatures (verified by export_finetuned against Keras) still invert."""
    rng = np.random.default_rng(0)
    labels = np.arange(16) % 2
    images = rng.integers(0, 100, size=(16, 20, 20), dtype=np.uint8) + 120 * labels[:, None, None]
    zoo.finetune(
        "irevnet_mnist",
        images=(images.astype(np.uint8), labels),
        name="irev_squares",
        out_dir=tmp_path / "run",
        freeze_epochs=1,
        epochs=1,
        batch_size=8,
        validation_split=0,
        verbose=0,
    )
    path, verified = zoo.export_finetuned(tmp_path / "run", tmp_path / "exports")
    assert verified is not None
    assert sorted(verified.report.signatures) == [
        "features",
        "inverse",
        "serving_bytes",
        "serving_default",
    ]
    assert verified.report.signatures["serving_default"]["outputs"]["logits"]["shape"] == [None, 2]
    pixels = rng.integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    _, out = export.run_in_tensorflow_only_process(path, {"features": {"image": pixels}})
    z = out["features"]["features"]
    _, back = export.run_in_tensorflow_only_process(path, {"inverse": {"features": z}})
    assert np.abs(back["inverse"]["image"] - pixels).max() <= 1e-5 * 255 * 10
