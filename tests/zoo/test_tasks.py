"""Each zoo entry's task: its name in summaries, the options it takes, its headline metric."""

import pytest

from keraslab import training, zoo


def test_entries_hold_task_objects_and_summaries_their_names():
    assert zoo.TASKS == ("classification", "sparse_coding")
    assert zoo.get("lenet").task is zoo.CLASSIFICATION
    assert zoo.get("alista16").task is zoo.SPARSE_CODING
    assert zoo.get("alista16").summary()["task"] == "sparse_coding"
    lenet = zoo.get("lenet")
    by_name = zoo.ZooEntry(**{**lenet.__dict__, "name": "x", "task": "classification"})
    assert by_name.task is zoo.CLASSIFICATION and by_name == zoo.ZooEntry(
        **{**lenet.__dict__, "name": "x"}
    )
    assert zoo.get_task("sparse_coding").recipe_type is training.StagewiseSchedule
    with pytest.raises(ValueError, match=r"task must be one of \('classification', 'spar"):
        zoo.get_task("detection")


def test_train_options_name_the_flags_set_in_field_order():
    assert zoo.TrainOptions().given() == []
    options = zoo.TrainOptions(jit_compile=True, epochs=0, penalties=["jacobian:1"], seed=3)
    assert options.given() == ["--seed", "--epochs", "--penalty", "--jit"]
    assert options.penalties == ("jacobian:1",)
    assert zoo.TrainOptions(command="keraslab train x", verbose=2).given() == []
    assert zoo.TrainOptions().run_dir("lenet", "mnist").as_posix() == "runs/lenet-mnist"


def test_each_task_refuses_the_options_that_do_not_apply_with_the_fix(tmp_path):
    sparse = zoo.TrainOptions(epochs=3, data_dir="d", max_steps=5, learning_rate=1e-3)
    with pytest.raises(ValueError) as refused:
        zoo.SPARSE_CODING.check_options("alista16", sparse)
    assert str(refused.value) == (
        "alista16 is a sparse coder trained stage-wise on a synthetic problem; --epochs, "
        "--data-dir does not apply (it takes --dataset PROBLEM, --max-steps, --batch-size, "
        "--lr, --seed, --out, --overwrite)"
    )
    with pytest.raises(ValueError) as refused:
        zoo.CLASSIFICATION.check_options("lenet", sparse)
    assert str(refused.value) == (
        "--max-steps applies to sparse coders (stage-wise training); lenet is trained by "
        "epochs: use --epochs"
    )
    every_classifier_flag = zoo.TrainOptions(
        dataset="mnist",
        out_dir="o",
        seed=1,
        overwrite=True,
        batch_size=8,
        learning_rate=0.1,
        epochs=1,
        penalties=("jacobian:1",),
        limit=8,
        robustness=True,
        data_dir="d",
        jit_compile=True,
    )
    zoo.CLASSIFICATION.check_options("lenet", every_classifier_flag)
    # A refused option fails before anything is built or trained.
    with pytest.raises(ValueError, match="--jit does not apply"):
        zoo.train("alista16", jit_compile=True, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_headline_metric_is_the_tasks():
    assert zoo.CLASSIFICATION.describe({"test_accuracy": 0.91234}) == "test accuracy 91.23%"
    assert zoo.SPARSE_CODING.describe({"test_nmse_db": -50.04}) == "test NMSE -50.0 dB"
    assert zoo.SPARSE_CODING.format_metric(-12.345) == "-12.3 dB"
