"""The CLI: user mistakes give one line and a non-zero exit, never a traceback."""

import json
import subprocess
import sys

import pytest

from keraslab.cli import EXIT_USER_ERROR, main


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "keraslab.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**__import__("os").environ, "KERASLAB_OFFLINE": "1"},
    )


def test_zoo_list_and_show(capsys):
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["name", "dataset", "trained", "description"]
    assert any(line.startswith("resnet20 ") and "cifar10" in line for line in out.splitlines())
    assert main(["zoo", "show", "small_cnn"]) == 0
    assert '"reference": "Balestriero & Baraniuk 2017, Table 6"' in capsys.readouterr().out


def test_train_help_lists_every_penalty_of_the_registry(capsys):
    from keraslab.training import PENALTY_NAMES

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "NAME is one of " + ", ".join(PENALTY_NAMES) + "," in help_text


def test_data_info_reports_the_embedded_sample(capsys):
    assert main(["data", "info", "fashion_mnist_sample"]) == 0
    out = capsys.readouterr().out
    assert "found   embedded" in out and "checksums OK" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "vgg"], "unknown zoo model 'vgg'"),
        (["data", "info", "imagenet"], "unknown dataset 'imagenet'"),
        (["train", "resnet20", "--dataset", "mnist"], "takes cifar10, not 'mnist'"),
        (["train", "lenet", "--epochs", "0", "--dataset", "fashion_mnist_sample"], "positive"),
        (["evaluate", "lenet", "--weights", "nope.weights.h5"], "does not exist"),
        (["train", "lenet", "--penalty", "jacobain:0.1"], "unknown penalty 'jacobain'"),
        (["train", "lenet", "--penalty", "jacobian:-1"], "jacobian"),
        (["train", "alista16", "--jit"], "--jit does not apply"),
        (
            ["train", "alista16", "--epochs", "3", "--penalty", "jacobian:1"],
            "--epochs, --penalty does not apply",
        ),
        (["train", "lenet", "--max-steps", "5"], "--max-steps applies to sparse coders"),
    ],
)
def test_user_errors_print_one_line(args, message, capsys):
    assert main(args) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keraslab: error: ") and message in err[0]


def test_file_system_mistakes_print_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"this is not HDF5")
    assert (
        main(["evaluate", "lenet", "--dataset", "fashion_mnist_sample", "--weights", str(bad)])
        == EXIT_USER_ERROR
    )
    err = capsys.readouterr().err
    assert err.startswith(f"keraslab: error: cannot load {bad}") and "Traceback" not in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = ["train", "small_cnn", "--dataset", "fashion_mnist_sample", "--epochs", "1"]
    assert main([*argv, "--out", str(blocker / "run")]) == EXIT_USER_ERROR
    assert capsys.readouterr().err == f"keraslab: error: Not a directory: {blocker / 'run'}\n"


@pytest.mark.slow
def test_missing_dataset_directory_in_a_real_process(tmp_path):
    proc = run_cli("train", "lenet", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r"))
    assert proc.returncode == EXIT_USER_ERROR
    assert "Traceback" not in proc.stderr
    assert str(tmp_path) in proc.stderr


def test_bad_flag_is_an_argparse_error():
    proc = run_cli("train", "lenet", "--epochs", "many")
    assert proc.returncode == 2 and "invalid int value" in proc.stderr


def test_predict_image_files_and_bad_images(tmp_path, capsys):
    import numpy as np
    import tensorflow as tf

    from keraslab import data, zoo

    model = zoo.build("small_cnn")
    weights = tmp_path / "w.weights.h5"
    model.save_weights(weights)
    images = data.load_arrays("fashion_mnist_sample", "test").images[:3]
    png = tmp_path / "one.png"
    png.write_bytes(tf.io.encode_png(images[0]).numpy())
    np.save(tmp_path / "batch.npy", images[1:, :, :, 0])  # (2, 28, 28): a grayscale batch
    argv = ["predict", "small_cnn", "--weights", str(weights)]
    assert main([*argv, str(png), str(tmp_path / "batch.npy")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    expected = zoo.predict("small_cnn", images, model=model)
    assert [line.split("\t")[1] for line in lines] == expected.labels

    np.save(tmp_path / "rgb.npy", np.zeros((32, 32, 3), np.uint8))
    assert main([*argv, str(tmp_path / "rgb.npy")]) == EXIT_USER_ERROR
    assert "expects (N, 28, 28, 1)" in capsys.readouterr().err
    np.save(tmp_path / "c.npy", np.zeros((28, 28), np.complex64))
    assert main([*argv, str(tmp_path / "c.npy")]) == EXIT_USER_ERROR
    assert "dtype complex64" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert main([*argv, str(tmp_path / "bad.png")]) == EXIT_USER_ERROR
    assert "is not a PNG, JPEG, BMP or GIF image" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_with_robustness_reports_jacobian_and_fgsm(capsys):
    argv = ["evaluate", "lenet", "--dataset", "fashion_mnist_sample", "--robustness"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    fgsm = [report["fgsm_accuracy"][k] for k in ("0.02", "0.05", "0.1")]
    # The shipped LeNet: an attack can only lower accuracy, and a larger one lowers it more.
    assert report["test_accuracy"] > 0.85
    assert report["test_accuracy"] >= fgsm[0] >= fgsm[1] >= fgsm[2] >= 0.0
    assert fgsm[2] < report["test_accuracy"] - 0.2
    assert 1.0 < report["jacobian_frobenius_mean"] < 1000.0
