"""``keraslab`` command line: zoo, data, train, evaluate, export.

User mistakes (unknown names, missing data, bad flags, an existing export version…) print one
line ``keraslab: error: …`` and exit with status 2, without a traceback. Set
``KERASLAB_DEBUG=1`` to see the traceback anyway.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _quiet_tensorflow() -> None:
    # Level 3: TensorFlow 2.21 prints its oneDNN notice even at level 2; real errors still
    # surface as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _cmd_zoo_list(args: argparse.Namespace) -> int:
    from keraslab import zoo

    shipped = zoo.manifest().get("models", {})
    rows = [("name", "dataset", "trained", "description")]
    for e in zoo.list():
        metrics = shipped.get(e.name, {}).get("metrics", {})
        if "test_nmse_db" in metrics:
            trained = f"{metrics['test_nmse_db']:.1f} dB"
        elif "test_accuracy" in metrics:
            trained = f"{metrics['test_accuracy']:.2%}"
        else:
            trained = "-"
        rows.append((e.name, e.dataset, trained, e.description))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    return 0


def _cmd_zoo_show(args: argparse.Namespace) -> int:
    from keraslab import zoo

    info = zoo.get(args.name).summary()
    info["shipped"] = zoo.manifest().get("models", {}).get(args.name)
    print(json.dumps(info, indent=1))
    return 0


def _cmd_data_info(args: argparse.Namespace) -> int:
    from keraslab import data

    info = data.describe(args.name, data_dir=args.data_dir)
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return 0
    spec = info["spec"]
    shape = "×".join(str(d) for d in spec["image_shape"])
    print(f"{info['name']}: {shape} images, {spec['num_classes']} classes")
    for row in info["sources"]:
        mark = "found  " if row["found"] else "missing"
        print(f"  {mark} {row['source']:<9} {row['split']:<6} {row['location']}  ({row['detail']})")
    if info.get("auto"):
        print(f"load() uses: {info['auto']}")
    else:
        print(f"not available; {info['how_to_get']}")
    return 0


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed, quoted so that it can be pasted back: what run.json and the
    manifest record to say how a result was produced."""
    return "keraslab " + " ".join(shlex.quote(a) for a in args.argv)


def _load_network(args: argparse.Namespace, dataset: str, directory: str | None = None) -> Any:
    from keraslab import zoo

    if getattr(args, "run", None):
        args.weights = str(Path(args.run) / "checkpoints" / "last.weights.h5")
    if args.weights:
        return zoo.load_weights(zoo.build(args.name, dataset=dataset), args.weights)
    return zoo.load(args.name, directory=directory)


#: FGSM attack sizes of ``--robustness``, in raw pixel units (grey levels / 255).
ROBUSTNESS_EPSILONS = (0.02, 0.05, 0.1)


def _evaluate(
    model: Any, dataset: Any, *, robustness: bool = False, spec: Any = None
) -> dict[str, Any]:
    import keras

    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    result = model.evaluate(dataset, verbose=0, return_dict=True)
    metrics: dict[str, Any] = {
        "test_accuracy": float(result["accuracy"]),
        "test_loss": float(result["loss"]),
    }
    if robustness:
        from keraslab import analysis

        norms = analysis.jacobian_norms(model, dataset)
        curve = analysis.fgsm_accuracy(
            model, dataset, ROBUSTNESS_EPSILONS, mean=spec.mean, std=spec.std
        )
        # ‖J‖_F of the logits w.r.t. the model's (normalized) input: what the penalties shrink.
        metrics["jacobian_frobenius_mean"] = norms.mean
        metrics["fgsm_accuracy"] = {
            f"{eps:g}": curve.at(eps) for eps in ROBUSTNESS_EPSILONS
        }  # fmt: skip
        metrics["transformed_accuracy"] = _transformed_accuracy(model, dataset)
    return metrics


def _transformed_accuracy(model: Any, dataset: Any, seed: int = 0) -> dict[str, float]:
    """Accuracy on the test images each moved by one random draw of every default invariance
    transformation (what the invariance penalty trains for), one entry per transformation;
    a fixed seed makes it repeatable (it reseeds the global generators, as every CLI command
    that trains does)."""
    import keras
    import numpy as np

    from keraslab import training

    keras.utils.set_random_seed(seed)
    transforms = training.default_invariance_transforms()
    correct, total = np.zeros(len(transforms)), 0
    for x, y in dataset:
        y = np.asarray(y)
        for i, transform in enumerate(transforms):
            logits = model(transform(x), training=False)
            correct[i] += np.sum(np.argmax(logits, axis=-1) == y)
        total += len(y)
    return {repr(t): float(c / total) for t, c in zip(transforms, correct, strict=True)}


def _cmd_train(args: argparse.Namespace) -> int:
    import keras

    from keraslab import data, training, zoo

    entry = zoo.get(args.name)
    if entry.task == "sparse_coding":
        return _train_sparse_coder(args, entry)
    if args.max_steps is not None:
        raise ValueError(
            f"--max-steps applies to sparse coders (stage-wise training); {args.name} is "
            "trained by epochs: use --epochs"
        )
    dataset = args.dataset or entry.dataset
    keras.utils.set_random_seed(args.seed)  # before the build: it seeds the initial weights
    network = zoo.build(args.name, dataset=dataset)  # fails fast on a dataset it cannot take
    recipe = entry.recipe.replace(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        penalties=(*entry.recipe.penalties, *(args.penalty or ())),
    )
    out = Path(args.out or f"runs/{args.name}-{dataset}")
    out.mkdir(parents=True, exist_ok=True)  # fail on an unwritable --out before loading data
    train = data.load(
        dataset, "train", batch_size=recipe.batch_size, shuffle=True, augment=recipe.augment,
        data_dir=args.data_dir, seed=args.seed, limit=args.limit,
    )  # fmt: skip
    test = data.load(
        dataset, "test", batch_size=512, shuffle=False, data_dir=args.data_dir, limit=args.limit
    )
    command = _command_line(args)
    result = training.fit(
        network,
        train,
        recipe=recipe,
        validation_data=test,
        out_dir=out,
        jit_compile=args.jit,
        overwrite=args.overwrite,
        verbose=1 if sys.stdout.isatty() else 2,
        extra_run_info={
            "zoo_name": args.name,
            "dataset": dataset,
            "command": command,
            "seed": args.seed,
            "limit": args.limit,
        },
    )
    metrics = _evaluate(
        result.network, test, robustness=args.robustness, spec=data.get_spec(dataset)
    )
    metrics["test_examples"] = int(sum(int(y.shape[0]) for _, y in test))
    training.record_run_info(out, test=metrics)
    print(
        f"{args.name} on {dataset}: test accuracy {metrics['test_accuracy']:.2%} after "
        f"{recipe.epochs} epochs in {result.wall_time_s:.0f} s; weights in "
        f"{out / 'checkpoints' / 'last.weights.h5'}"
    )
    return 0


#: Examples in a synthetic problem's fixed test set, and the λ of the ISTA/FISTA baselines
#: reported next to a sparse coder (the LISTA papers' λ; ISTA plateaus near it).
SPARSE_TEST_EXAMPLES = SPARSE_VALIDATION_EXAMPLES = 1000
BASELINE_LAMBDA = 0.1


def _evaluate_sparse_coder(model: Any, dataset: str) -> dict[str, Any]:
    """NMSE (dB) of every layer on the problem's fixed test set, with ISTA and FISTA at as many
    iterations as the network has layers and at 1000 iterations for comparison."""
    from keraslab import data, layers, models, training

    problem = data.get_problem(dataset)
    x, z = problem.sample(SPARSE_TEST_EXAMPLES, seed=data.PROBLEM_SEEDS["test"])
    per_layer = training.per_layer_nmse(model, x, z)
    baselines = {}
    for iterations in (len(per_layer), 1000):
        for solver in (layers.ISTA, layers.FISTA):
            z_hat = solver(problem.A, lam=BASELINE_LAMBDA, num_iterations=iterations)(x)
            baselines[f"{solver.__name__.lower()}_{iterations}"] = float(models.nmse_db(z_hat, z))
    return {
        "test_nmse_db": per_layer[-1],
        "test_nmse_db_per_layer": [round(v, 3) for v in per_layer],
        "test_examples": SPARSE_TEST_EXAMPLES,
        "baselines_nmse_db": baselines,
        "baseline_lambda": BASELINE_LAMBDA,
    }


def _train_sparse_coder(args: argparse.Namespace, entry: Any) -> int:
    import keras

    from keraslab import data, training, zoo

    unused = [
        flag
        for flag, value in (
            ("--epochs", args.epochs),
            ("--penalty", args.penalty),
            ("--limit", args.limit),
            ("--robustness", args.robustness),
            ("--data-dir", args.data_dir),
            # XLA is the schedule's choice (StagewiseSchedule.jit_compile), not a flag.
            ("--jit", args.jit),
        )
        if value
    ]
    if unused:
        raise ValueError(
            f"{args.name} is a sparse coder trained stage-wise on a synthetic problem; "
            f"{', '.join(unused)} does not apply (it takes --dataset PROBLEM, --max-steps, "
            "--batch-size, --lr, --seed, --out, --overwrite)"
        )
    dataset = args.dataset or entry.dataset
    problem = data.get_problem(dataset)
    keras.utils.set_random_seed(args.seed)
    network = zoo.build(args.name, dataset=dataset)
    schedule = entry.recipe.replace(
        batch_size=args.batch_size, learning_rate=args.lr, max_steps=args.max_steps
    )
    out = Path(args.out or f"runs/{args.name}-{dataset}")
    command = _command_line(args)
    result = training.fit_sparse_coder(
        network,
        problem.dataset(schedule.batch_size, seed=data.PROBLEM_SEEDS["train"] + args.seed),
        problem.sample(SPARSE_VALIDATION_EXAMPLES, seed=data.PROBLEM_SEEDS["validation"]),
        schedule=schedule,
        out_dir=out,
        overwrite=args.overwrite,
        extra_run_info={
            "zoo_name": args.name,
            "dataset": dataset,
            "command": command,
            "seed": args.seed,
        },
    )
    metrics = _evaluate_sparse_coder(network, dataset)
    training.record_run_info(out, test=metrics)
    base = metrics["baselines_nmse_db"]
    print(
        f"{args.name} on {dataset}: test NMSE {metrics['test_nmse_db']:.1f} dB after "
        f"{len(result.stages)} stages in {result.train_seconds:.0f} s (ISTA 1000 iterations at "
        f"λ = {BASELINE_LAMBDA}: {base['ista_1000']:.1f} dB, FISTA: {base['fista_1000']:.1f} dB); "
        f"weights in {out / 'checkpoints' / 'last.weights.h5'}"
    )
    return 0


def _check_recordable(args: argparse.Namespace, entry: Any, record: Any, dataset: str) -> None:
    """Only the shipped weights of a classifier, on the dataset they were measured on, may add
    metrics to their manifest record."""
    from keraslab import zoo

    if entry.task != "classification":
        problem = f"{args.name} is a sparse coder; its record comes from `keraslab export`"
    elif args.weights:
        problem = "--record measures the shipped weights: drop --weights"
    elif record is None:
        problem = f"no {args.name} is shipped in {args.base_dir or zoo.savedmodels_dir()}"
    elif record["dataset"] != dataset:
        problem = f"the shipped {args.name} was measured on {record['dataset']}, not {dataset}"
    else:
        return
    raise ValueError(f"cannot --record: {problem}")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from keraslab import data, zoo

    entry = zoo.get(args.name)
    dataset = args.dataset or entry.dataset
    record = None
    if args.record:
        record = zoo.manifest(args.base_dir).get("models", {}).get(args.name)
        _check_recordable(args, entry, record, dataset)
    model = _load_network(args, dataset, directory=args.base_dir)
    if entry.task == "sparse_coding":
        metrics = _evaluate_sparse_coder(model, dataset)
        print(json.dumps({"model": args.name, "dataset": dataset, **metrics}, indent=1))
        return 0
    test = data.load(dataset, "test", batch_size=512, shuffle=False, data_dir=args.data_dir)
    metrics = _evaluate(model, test, robustness=args.robustness, spec=data.get_spec(dataset))
    print(json.dumps({"model": args.name, "dataset": dataset, **metrics}, indent=1))
    if args.record:
        shipped = record["metrics"]["test_accuracy"]
        if abs(metrics["test_accuracy"] - shipped) > 1e-4:
            raise ValueError(
                f"the shipped {args.name} now scores {metrics['test_accuracy']:.4f}, its record "
                f"says {shipped:.4f}: the weights and the manifest disagree; nothing recorded"
            )
        new = {k: v for k, v in metrics.items() if k not in record["metrics"]}
        if not new:
            print(f"nothing new to record for {args.name} (try --robustness)")
            return 0
        # Evaluation takes minutes: refuse to overwrite a record re-exported meanwhile.
        current = zoo.manifest(args.base_dir).get("models", {}).get(args.name)
        if current != record:
            raise ValueError(
                f"the manifest record of {args.name} changed while it was being evaluated; "
                "run the command again"
            )
        record = {
            **record,
            "metrics": {**record["metrics"], **new},
            "evaluate_command": _command_line(args),
        }
        path = zoo.update_manifest(args.name, record, directory=args.base_dir)
        print(f"recorded {', '.join(new)} for {args.name} in {path}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import numpy as np

    from keraslab import data, export, zoo
    from keraslab.errors import KeraslabError

    run = json.loads((Path(args.run) / "run.json").read_text()) if args.run else None
    if run is not None and (run.get("zoo_name") != args.name or "test" not in run):
        raise ValueError(
            f"{args.run} is not a finished `keraslab train {args.name}` run "
            f"(it trained {run.get('zoo_name')!r}; test metrics recorded: {'test' in run})"
        )
    if run is not None and run.get("limit"):
        raise ValueError(
            f"{args.run} used --limit {run['limit']}: its test accuracy is not on the whole "
            "test set, so it is not shipped; train without --limit"
        )
    dataset = args.dataset or (run or {}).get("dataset") or zoo.get(args.name).dataset
    model = _load_network(args, dataset)
    if zoo.get(args.name).task == "sparse_coding":
        return _export_sparse_coder(args, run, dataset, model)
    spec = data.get_spec(dataset)
    preprocessing = export.Preprocessing(spec.mean, spec.std)
    extras = zoo.serving_signatures(model, preprocessing)
    path = export.saved_model(
        model,
        args.base_dir,
        args.export_name or args.name,
        args.version,
        preprocessing=preprocessing,
        extra_signatures=extras,
        class_names=spec.class_names,
        metadata={
            "zoo_name": args.name,
            "dataset": dataset,
            "test": (run or {}).get("test"),
        },  # fmt: skip
    )
    print(f"exported {path}")
    report = None
    if not args.no_verify:
        try:
            images = data.load_arrays(dataset, "test", data_dir=args.data_dir).images[:64]
        except KeraslabError:
            # Without the dataset, random pixels still check signatures and predictions.
            rng = np.random.default_rng(0)
            images = rng.integers(0, 256, size=(64, *spec.image_shape), dtype=np.uint8)
        checks = _signature_checks(extras, images)
        report = export.verify(path, model, images, checks=checks)
        logit_diff = report.max_abs_diff.get("serving_default/logits", 0.0)
        others = {k: v for k, v in report.max_abs_diff.items() if not k.startswith("serving_")}
        print(
            f"verified in a TensorFlow-only process: signatures {sorted(report.signatures)}, "
            f"{len(images)} predictions identical, max |Δlogit| {logit_diff:.2g}"
            + "".join(f", max |Δ {k}| {v:.2g}" for k, v in others.items())
        )
    if run is not None:
        _publish(args, run, path, model, report)
    return 0


def _export_sparse_coder(args: argparse.Namespace, run: Any, dataset: str, model: Any) -> int:
    from keraslab import data, export

    problem = data.get_problem(dataset)
    path = export.saved_sparse_coder(
        model,
        args.base_dir,
        args.export_name or args.name,
        args.version,
        dictionary=problem.A,
        metadata={"zoo_name": args.name, "dataset": dataset, "test": (run or {}).get("test")},
    )
    print(f"exported {path}")
    report = None
    if not args.no_verify:
        signals, _ = problem.sample(64, seed=data.PROBLEM_SEEDS["test"])
        report = export.verify_sparse_coder(path, model, signals)
        diffs = ", ".join(f"max |Δ {k}| {v:.2g}" for k, v in report.max_abs_diff.items())
        print(
            f"verified in a TensorFlow-only process: signatures {sorted(report.signatures)}, "
            f"dictionary SHA-256 matches, {diffs}"
        )
    if run is not None:
        _publish(args, run, path, model, report)
    return 0


def _signature_checks(extras: dict[str, Any], images: Any) -> dict[str, Any]:
    """Every extra signature checked against the same function run by Keras: a signature's
    input named like an earlier one's output (``inverse`` takes ``features``) is fed that
    output, so chains such as ``inverse(features(image))`` are verified end to end."""
    import numpy as np

    available = {"image": images}
    checks = {}
    for sig, (fn, specs) in extras.items():
        missing = [s.name for s in specs if s.name not in available]
        if missing:
            raise ValueError(
                f"cannot verify signature {sig!r}: no input for {missing} (an input must be "
                "'image' or an output of an earlier signature)"
            )
        feeds = {s.name: available[s.name] for s in specs}
        outputs = {k: np.asarray(v) for k, v in fn(**feeds).items()}
        checks[sig] = (feeds, outputs)
        available.update(outputs)
    return checks


def _publish(args: argparse.Namespace, run: dict[str, Any], path: Path, model: Any,
             report: Any) -> None:  # fmt: skip
    """Ship a finished run as a zoo model: Keras weights beside the SavedModel versions and a
    manifest record with the measured metrics and the commands that reproduce them."""
    import shutil

    from keraslab import zoo
    from keraslab.files import atomic_path

    weights = path.parent / zoo.WEIGHTS_FILE
    with atomic_path(weights) as tmp:
        shutil.copyfile(Path(args.run) / "checkpoints" / "last.weights.h5", tmp)
    base = Path(args.base_dir)
    record = {
        "dataset": run["dataset"],
        "version": int(path.name),
        "savedmodel": str(path.relative_to(base)),
        "weights": str(weights.relative_to(base)),
        "signatures": sorted(report.signatures) if report is not None else None,
        "metrics": run["test"],
        "epochs": run["recipe"].get("epochs"),
        "wall_time_s": run["wall_time_s"],
        "parameters": run["parameters"],
        "recipe": run["recipe"],
        "seed": run.get("seed"),
        "machine": run["machine"],
        "train_command": run["command"],
        "export_command": _command_line(args),
    }
    if args.note:
        record["note"] = args.note
    manifest = zoo.update_manifest(args.name, record, directory=base)
    from keraslab.export import write_models_config

    write_models_config(base)
    test = run["test"]
    measured = (
        f"test NMSE {test['test_nmse_db']:.1f} dB"
        if "test_nmse_db" in test
        else f"test accuracy {test['test_accuracy']:.2%}"
    )
    print(f"recorded {args.name} in {manifest}: {measured}")


def _read_image_files(paths: Sequence[str], channels: int) -> Any:
    """Images from .npy arrays (one image or a batch) and PNG/JPEG/BMP/GIF files, stacked, and
    a label per image (``file`` or ``file[k]`` for the k-th image of a batch)."""
    import numpy as np

    from keraslab.errors import CorruptDataError, DatasetNotFoundError

    images: list[Any] = []
    labels: list[str] = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise DatasetNotFoundError(f"image file {path} does not exist")
        if path.suffix.lower() == ".npy":
            try:
                arr = np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise CorruptDataError(f"{path} is not a plain NumPy array file: {exc}") from exc
            # A 4-D array, or a 3-D one that cannot be one image (grayscale (N, H, W)), is a
            # batch; anything else is one image. check_images then validates the shapes.
            is_batch = arr.ndim == 4 or (arr.ndim == 3 and channels == 1 and arr.shape[-1] != 1)
            images.extend(list(arr) if is_batch else [arr])
            labels.extend([f"{name}[{k}]" for k in range(len(arr))] if is_batch else [name])
            continue
        import tensorflow as tf

        try:
            image = tf.io.decode_image(
                path.read_bytes(), channels=channels, expand_animations=False
            )
        except tf.errors.InvalidArgumentError as exc:
            raise CorruptDataError(
                f"{path} is not a PNG, JPEG, BMP or GIF image TensorFlow can decode"
            ) from exc
        images.append(image.numpy())
        labels.append(name)
    images = [im[..., None] if np.ndim(im) == 2 else im for im in images]
    shapes = {np.shape(im) for im in images}
    if len(shapes) > 1:
        from keraslab.errors import InputSpecError

        raise InputSpecError(f"the images have different shapes {sorted(shapes)}; pass one size")
    return np.stack(images), labels


def _cmd_predict(args: argparse.Namespace) -> int:
    from keraslab import data, zoo

    if zoo.get(args.name).task != "classification":
        raise ValueError(
            f"{args.name} is a sparse coder, not an image classifier: use `keraslab evaluate "
            f"{args.name}` or its SavedModel's sparse_code signature"
        )
    dataset = args.dataset or zoo.get(args.name).dataset
    spec = data.get_spec(dataset)
    images, labels = _read_image_files(args.images, spec.image_shape[-1])
    model = _load_network(args, dataset)
    result = zoo.predict(args.name, images, model=model, dataset=dataset)
    for label, cid, probs in zip(labels, result.class_ids, result.probabilities, strict=True):
        print(f"{label}\t{result.class_names[cid]}\t{probs[cid]:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="keraslab", description="Keras model zoo and training lab (see README.md)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    zoo_p = sub.add_parser("zoo", help="list or show zoo models")
    zoo_sub = zoo_p.add_subparsers(dest="zoo_command", required=True, metavar="list|show")
    zoo_sub.add_parser("list", help="every zoo model").set_defaults(func=_cmd_zoo_list)
    show = zoo_sub.add_parser("show", help="one model's config, recipe and shipped metrics")
    show.add_argument("name")
    show.set_defaults(func=_cmd_zoo_show)

    data_p = sub.add_parser("data", help="datasets")
    data_sub = data_p.add_subparsers(dest="data_command", required=True, metavar="info")
    info = data_sub.add_parser("info", help="which sources provide a dataset, and where")
    info.add_argument("name")
    info.add_argument("--data-dir", help="also look in this directory")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=_cmd_data_info)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("name", help="zoo model name (keraslab zoo list)")
        p.add_argument("--dataset", help="dataset (default: the model's own)")
        p.add_argument("--data-dir", help="directory holding the dataset's original files")

    train = sub.add_parser("train", help="train a zoo model with its recipe")
    common(train)
    train.add_argument("--epochs", type=int, help="override the recipe's epochs")
    train.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    train.add_argument("--lr", type=float, help="override the recipe's learning rate")
    train.add_argument("--out", help="run directory (default runs/NAME-DATASET)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--limit", type=int, help="use only the first N examples of each split")
    train.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    train.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    train.add_argument(
        "--max-steps", type=int, help="sparse coders: override the most steps per training stage"
    )
    train.add_argument(
        "--penalty",
        action="append",
        metavar="NAME:WEIGHT[:OPT=VAL,...]",
        help="add a training penalty (repeatable), after the recipe's own: weight_decay, "
        "jacobian (exact ‖J‖_F²), jacobian_projection (projections=N), jacobian_spectral, "
        "input_gradient, invariance (transforms=shift:2+rotate:10), entropy, reconstruction; "
        "e.g. --penalty jacobian_projection:0.01 --penalty invariance:0.1",
    )
    train.set_defaults(func=_cmd_train)
    robustness_help = (
        "also measure the mean ‖J_f(x)‖_F of the logits w.r.t. the (normalized) input and the "
        "accuracy under FGSM at ε = " + ", ".join(f"{e:g}" for e in ROBUSTNESS_EPSILONS)
        + " (raw pixel units) and under random shifts, rotations and elastic deformations "
        "(the default invariance transformations) on the test set"
    )  # fmt: skip
    train.add_argument("--robustness", action="store_true", help=robustness_help)

    ev = sub.add_parser("evaluate", help="test accuracy of a zoo model")
    common(ev)
    ev.add_argument("--weights", help="a .weights.h5 file (default: the shipped weights)")
    ev.add_argument("--robustness", action="store_true", help=robustness_help)
    ev.add_argument(
        "--record",
        action="store_true",
        help="add the metrics not yet in the shipped model's manifest record to it (e.g. the "
        "robustness of a model shipped without it)",
    )
    ev.add_argument(
        "--base-dir", help="directory of shipped models (default: savedmodels/); with --record"
    )
    ev.set_defaults(func=_cmd_evaluate)

    pr = sub.add_parser("predict", help="classify image files (PNG/JPEG or .npy raw pixels)")
    pr.add_argument("name", help="zoo model name (keraslab zoo list)")
    pr.add_argument("images", nargs="+", help="image files: PNG/JPEG/BMP/GIF or .npy arrays")
    pr.add_argument("--dataset", help="dataset whose classes apply (default: the model's own)")
    pr.add_argument("--weights", help="a .weights.h5 file (default: the shipped weights)")
    pr.set_defaults(func=_cmd_predict)

    ex = sub.add_parser("export", help="export a SavedModel for TF Serving and verify it")
    common(ex)
    source = ex.add_mutually_exclusive_group()
    source.add_argument("--weights", help="a .weights.h5 file (default: the shipped weights)")
    source.add_argument(
        "--run",
        help="a finished `keraslab train` run directory: export its last weights and record "
        "them and the run's test metrics in BASE_DIR/manifest.json (ships a zoo model)",
    )
    ex.add_argument("--base-dir", default="savedmodels", help="default: savedmodels")
    ex.add_argument("--export-name", help="directory name (default: the zoo name)")
    ex.add_argument("--version", type=int, help="default: the next free version")
    ex.add_argument("--no-verify", action="store_true", help="skip the TF-only reload check")
    ex.add_argument("--note", help="with --run: a remark stored in the manifest record")
    ex.set_defaults(func=_cmd_export)
    return parser


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (main() may run many times in one
    process, e.g. in tests, with stderr replaced in between)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``keraslab`` console script; returns the exit status."""
    _quiet_tensorflow()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in run.json as the command that reproduces a run
    # Only keraslab's own INFO messages (e.g. which data source was used); other libraries'
    # loggers keep their defaults.
    logger = logging.getLogger("keraslab")
    logger.setLevel(logging.INFO)
    logger.propagate = False  # TensorFlow configures the root logger: avoid printing twice
    if not any(isinstance(h, _CurrentStderrHandler) for h in logger.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("keraslab: %(message)s"))
        logger.addHandler(handler)
    from keraslab.errors import KeraslabError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("keraslab: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (KeraslabError, ValueError, OSError) as exc:  # OSError: unwritable --out, full disk…
        if os.environ.get("KERASLAB_DEBUG"):
            raise
        message = str(exc)
        if isinstance(exc, OSError) and exc.strerror and exc.filename:
            message = f"{exc.strerror}: {exc.filename}"
        print(f"keraslab: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
