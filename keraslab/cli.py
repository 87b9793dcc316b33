"""``keraslab`` command line: zoo, data, train, evaluate, predict, export, finetune.

Parsing and printing only: every command calls the library function a script would
(``keraslab.zoo.train|evaluate|export|verify_export|publish|record_metrics|predict``,
``zoo.finetune|export_finetuned``, whose protocols live in :mod:`keraslab.evaluation` and each
entry's task), so the CLI's numbers are the library's.

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
        trained = e.task.format_metric(metrics[e.task.metric]) if e.task.metric in metrics else "-"
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
        args.weights = str(zoo.run_weights(args.run))
    if args.weights:
        return zoo.load_weights(zoo.build(args.name, dataset=dataset), args.weights)
    return zoo.load(args.name, directory=directory)


def _cmd_train(args: argparse.Namespace) -> int:
    from keraslab import zoo

    run = zoo.train(
        args.name,
        dataset=args.dataset,
        out_dir=args.out,
        seed=args.seed,
        overwrite=args.overwrite,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_steps=args.max_steps,
        epochs=args.epochs,
        penalties=args.penalty or (),
        limit=args.limit,
        robustness=args.robustness,
        data_dir=args.data_dir,
        jit_compile=args.jit,
        command=_command_line(args),
        verbose=1 if sys.stdout.isatty() else 2,
    )
    print(f"{run.name} on {run.dataset}: {run.summary}; weights in {run.weights}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from keraslab import zoo

    dataset = args.dataset or zoo.get(args.name).dataset
    record = None
    if args.record:
        record = zoo.check_recordable(
            args.name, dataset, weights=args.weights, directory=args.base_dir
        )
    model = _load_network(args, dataset, directory=args.base_dir)
    metrics = zoo.evaluate(
        args.name, model, dataset=dataset, data_dir=args.data_dir, robustness=args.robustness
    )
    print(json.dumps({"model": args.name, "dataset": dataset, **metrics}, indent=1))
    if record is not None:
        recorded = zoo.record_metrics(
            args.name, metrics, record, command=_command_line(args), directory=args.base_dir
        )
        if recorded.manifest is None:
            print(f"nothing new to record for {args.name} (try --robustness)")
        else:
            print(f"recorded {', '.join(recorded.names)} for {args.name} in {recorded.manifest}")
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    from keraslab import zoo

    run = zoo.finetune(
        args.base,
        images=args.images,
        name=args.name,
        out_dir=args.out or f"runs/{args.name}",
        epochs=args.epochs,
        freeze_epochs=args.freeze_epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        validation_split=args.validation_split,
        augment=args.augment,
        penalties=args.penalty or (),
        seed=args.seed,
        overwrite=args.overwrite,
        command=_command_line(args),
        verbose=1 if sys.stdout.isatty() else 2,
    )
    print(
        f"{run.name} (fine-tuned from {run.base}): {run.summary}; weights in {run.weights}; "
        f"export it with `keraslab export {run.name} --run {run.out_dir}`"
    )
    return 0


def _cmd_export_finetuned(args: argparse.Namespace) -> int:
    from keraslab import zoo

    if args.dataset:
        raise ValueError(
            "--dataset does not apply to a fine-tuned run: it exports with its base's "
            "preprocessing and its own class names"
        )
    path, verified = zoo.export_finetuned(
        args.run,
        args.base_dir or zoo.FINETUNED_EXPORTS,
        name=args.name,
        version=args.version,
        verify=not args.no_verify,
        command=_command_line(args),
    )
    print(f"exported {path}")
    if verified is not None:
        print(verified.summary)
    print(f"recorded {args.name} in {path.parent.parent / zoo.MANIFEST} (fine-tuned)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from keraslab import zoo

    if args.run and zoo.finetuned_run(args.run) is not None:
        return _cmd_export_finetuned(args)
    args.base_dir = args.base_dir or "savedmodels"
    run = zoo.finished_run(args.run, args.name) if args.run else None
    entry = zoo.get(args.name)
    dataset = args.dataset or (run or {}).get("dataset") or entry.dataset
    model = _load_network(args, dataset)
    path = zoo.export(
        args.name,
        model,
        args.base_dir,
        dataset=dataset,
        export_name=args.export_name,
        version=args.version,
        test=(run or {}).get("test"),
    )
    print(f"exported {path}")
    signatures = None
    if not args.no_verify:
        verified = zoo.verify_export(
            args.name, path, model, dataset=dataset, data_dir=args.data_dir
        )
        print(verified.summary)
        signatures = verified.report.signatures
    if run is not None:
        manifest = zoo.publish(
            args.name,
            run,
            path,
            run_dir=args.run,
            signatures=signatures,
            export_command=_command_line(args),
            note=args.note,
        )
        print(f"recorded {args.name} in {manifest}: {entry.task.describe(run['test'])}")
    return 0


def _predict_on_server(args: argparse.Namespace) -> int:
    from keraslab import serving

    if args.weights or args.dataset:
        raise ValueError("--weights and --dataset apply to local prediction, not to --server")
    client = serving.Client(args.server, args.name, version=args.version, timeout_s=args.timeout)
    result = client.predict(args.images)
    for path, label, confidence in zip(args.images, result.labels, result.confidences, strict=True):
        print(f"{path}\t{label}\t{confidence:.3f}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from keraslab import data, zoo

    if args.server:
        return _predict_on_server(args)
    entry = zoo.get(args.name)
    if not entry.task.classifies_images:
        raise ValueError(
            f"{args.name} is a sparse coder, not an image classifier: use `keraslab evaluate "
            f"{args.name}` or its SavedModel's sparse_code signature"
        )
    dataset = args.dataset or entry.dataset
    spec = data.get_spec(dataset)
    images, labels = data.read_image_files(args.images, spec.image_shape[-1])
    model = _load_network(args, dataset)
    result = zoo.predict(args.name, images, model=model, dataset=dataset)
    for label, cid, probs in zip(labels, result.class_ids, result.probabilities, strict=True):
        print(f"{label}\t{result.class_names[cid]}\t{probs[cid]:.3f}")
    return 0


#: Stands for the penalty registry's names in a help text, filled in by :class:`_HelpFormatter`.
_PENALTY_NAMES = "{penalty_names}"


class _HelpFormatter(argparse.HelpFormatter):
    """Fills in the penalty names from the registry (``keraslab.training.PENALTY_NAMES``, where
    each name is written once) only when a help text is shown: the registry imports
    TensorFlow, which parsing the other commands should not wait for."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text and _PENALTY_NAMES in text:
            from keraslab.training import PENALTY_NAMES

            text = text.replace(_PENALTY_NAMES, ", ".join(PENALTY_NAMES))
        return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from keraslab.evaluation import ROBUSTNESS_EPSILONS

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

    train = sub.add_parser(
        "train", help="train a zoo model with its recipe", formatter_class=_HelpFormatter
    )
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
        help="add a training penalty (repeatable), after the recipe's own; NAME is one of "
        f"{_PENALTY_NAMES}, e.g. --penalty jacobian_projection:0.01:projections=1 --penalty "
        "invariance:0.1:transforms=shift:2+rotate:10",
    )
    train.set_defaults(func=_cmd_train)
    epsilons = ", ".join(f"{e:g}" for e in ROBUSTNESS_EPSILONS)
    robustness_help = (
        "also measure the mean ‖J_f(x)‖_F of the logits w.r.t. the (normalized) input and the "
        f"accuracy under FGSM at ε = {epsilons} (raw pixel units) and under random shifts, "
        "rotations and elastic deformations (the default invariance transformations) on the "
        "test set"
    )
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
    pr.add_argument(
        "--server",
        metavar="URL",
        help="ask a TF Serving REST server (http://HOST:8501) serving NAME instead of "
        "running the model here: image files go to serving_bytes, .npy files to serving_default",
    )
    pr.add_argument("--version", type=int, help="with --server: a fixed model version")
    pr.add_argument(
        "--timeout", type=float, default=30.0, help="with --server: seconds to wait (default 30)"
    )
    pr.set_defaults(func=_cmd_predict)

    ex = sub.add_parser("export", help="export a SavedModel for TF Serving and verify it")
    common(ex)
    source = ex.add_mutually_exclusive_group()
    source.add_argument("--weights", help="a .weights.h5 file (default: the shipped weights)")
    source.add_argument(
        "--run",
        help="a finished `keraslab train` run directory: export its last weights and record "
        "them and the run's test metrics in BASE_DIR/manifest.json (ships a zoo model); or a "
        "finished `keraslab finetune` run, exported as NAME with its class names",
    )
    ex.add_argument(
        "--base-dir",
        help="default: savedmodels for zoo models; exports for a `keraslab finetune` run (the "
        "shipped savedmodels/ is written only when named here)",
    )
    ex.add_argument("--export-name", help="directory name (default: the zoo name)")
    ex.add_argument("--version", type=int, help="default: the next free version")
    ex.add_argument("--no-verify", action="store_true", help="skip the TF-only reload check")
    ex.add_argument("--note", help="with --run: a remark stored in the manifest record")
    ex.set_defaults(func=_cmd_export)

    ft = sub.add_parser(
        "finetune",
        help="fine-tune a shipped zoo classifier on your own image folder",
        formatter_class=_HelpFormatter,
        description="Replace BASE's classifier head for the classes of --images (one subfolder "
        "per class), train the head with the backbone frozen (--freeze-epochs), then optionally "
        "everything but BatchNormalization at a 10x lower learning rate (--epochs).",
    )
    ft.add_argument("base", help="shipped zoo image classifier (keraslab zoo list)")
    ft.add_argument("--images", required=True, help="folder with one subfolder of images per class")
    ft.add_argument("--name", required=True, help="the fine-tuned model's name (its export)")
    ft.add_argument("--out", help="run directory (default runs/NAME)")
    ft.add_argument(
        "--freeze-epochs", type=int, default=5, help="epochs training the new head only (5)"
    )
    ft.add_argument(
        "--epochs", type=int, default=0, help="epochs after unfreezing the backbone (0: none)"
    )
    ft.add_argument("--lr", type=float, default=1e-3, help="head phase learning rate (1e-3)")
    ft.add_argument("--batch-size", type=int, default=32)
    ft.add_argument(
        "--validation-split", type=float, default=0.2, help="fraction held out (0.2; 0: none)"
    )
    ft.add_argument("--augment", action="store_true", help="the base dataset's augmentation")
    ft.add_argument(
        "--penalty",
        action="append",
        metavar="NAME:WEIGHT[:OPT=VAL,...]",
        help="add a training penalty (repeatable), in both phases; NAME is one of "
        f"{_PENALTY_NAMES}",
    )
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    ft.set_defaults(func=_cmd_finetune)
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
