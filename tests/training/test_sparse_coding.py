"""Stage-wise and end-to-end LISTA training: they lower the NMSE, log every stage, refuse
networks they cannot train."""

import json

import numpy as np
import pytest

from keraslab.data.synthetic import sparse_coding_problem
from keraslab.errors import InputSpecError, KeraslabError
from keraslab.models.lista import lista
from keraslab.training.sparse_coding import (
    StagewiseSchedule,
    fit_sparse_coder,
    train_end_to_end,
    train_stagewise,
)

FAST = StagewiseSchedule(
    learning_rate=1e-3, max_steps=40, patience=20, validate_every=10, jit_compile=False
)


@pytest.fixture(scope="module")
def problem():
    return sparse_coding_problem(m=20, n=40, p=0.1, seed=0)


# One variant in the fast tier; the other two train the same way (slow tier).
@pytest.mark.parametrize(
    "variant",
    [
        "lista",
        pytest.param("lista_tied", marks=pytest.mark.slow),
        pytest.param("alista", marks=pytest.mark.slow),
    ],
)
def test_stagewise_training_improves_every_layer_and_logs_every_stage(problem, variant):
    model = lista(problem.A, T=3, variant=variant, lam=0.1, return_all=True)
    validation = problem.sample(256, seed=1)
    result = train_stagewise(
        model, problem.dataset(32, seed=2), validation, schedule=FAST, progress=False
    )
    assert len(result.nmse_db_per_layer) == len(result.initial_nmse_db_per_layer) == 3
    # Each stage keeps its best weights, so no layer ends worse than it started.
    assert all(
        a <= b + 1e-6
        for a, b in zip(result.nmse_db_per_layer, result.initial_nmse_db_per_layer, strict=True)
    )
    assert result.nmse_db_per_layer[-1] < result.initial_nmse_db_per_layer[-1] - 0.5
    assert [(r["layer"], r["stage"]) for r in result.stages] == [
        (t, s) for t in (1, 2, 3) for s in ("new", "all", "all")
    ]
    assert [r["learning_rate"] for r in result.stages[:3]] == pytest.approx([1e-3, 2e-4, 2e-5])
    # What it reports is what the model now computes.
    x, z = validation
    z_hat = np.asarray(model(x)[-1])
    reported = 10 * np.log10(np.sum((z_hat - z) ** 2) / np.sum(z**2))
    assert reported == pytest.approx(result.nmse_db_per_layer[-1], abs=1e-3)


def test_end_to_end_training_on_every_layer(problem):
    model = lista(problem.A, T=3, variant="lista_cp", lam=0.1, return_all=True)
    result = train_end_to_end(
        model,
        problem.dataset(32, seed=2),
        problem.sample(256, seed=1),
        per_layer=True,
        schedule=FAST,
        progress=False,
    )
    assert result.nmse_db_per_layer[-1] < result.initial_nmse_db_per_layer[-1] - 0.5
    assert result.stages[0]["stage"] == "end_to_end" and result.to_dict()["train_seconds"] > 0


def test_networks_it_cannot_train_are_refused(problem):
    validation = problem.sample(16, seed=1)
    last_only = lista(problem.A, T=3, variant="lista", return_all=False)
    with pytest.raises(InputSpecError, match="return_all=True"):
        train_stagewise(last_only, problem.dataset(8), validation, progress=False)
    with pytest.raises(InputSpecError, match="return_all=True"):
        train_end_to_end(last_only, problem.dataset(8), validation, per_layer=True)
    import keras

    other = keras.Sequential([keras.Input((20,)), keras.layers.Dense(40)])
    with pytest.raises(InputSpecError, match="not a keraslab.models.lista network"):
        train_stagewise(other, problem.dataset(8), validation, progress=False)
    with pytest.raises(InputSpecError, match="max_steps"):
        StagewiseSchedule(max_steps=0)


def test_fit_sparse_coder_writes_weights_and_run_record_and_refuses_to_overwrite(problem, tmp_path):
    model = lista(problem.A, T=2, variant="lista_cpss", lam=0.1, return_all=True)
    schedule = FAST.replace(batch_size=16)
    train, validation = problem.dataset(16, seed=3), problem.sample(128, seed=1)
    result = fit_sparse_coder(
        model,
        train,
        validation,
        schedule=schedule,
        out_dir=tmp_path,
        extra_run_info={"note": "test"},
        progress=False,
    )
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["recipe"] == schedule.to_dict() and run["recipe"]["batch_size"] == 16
    assert run["training"]["nmse_db_per_layer"] == result.nmse_db_per_layer
    assert run["note"] == "test" and run["parameters"] == model.count_params()
    assert not list(tmp_path.rglob(".tmp-*"))  # the atomic writes left nothing behind
    fresh = lista(problem.A, T=2, variant="lista_cpss", lam=0.1, return_all=True)
    fresh.load_weights(tmp_path / "checkpoints" / "last.weights.h5")
    x, _ = problem.sample(8, seed=5)
    np.testing.assert_array_equal(np.asarray(fresh(x)[-1]), np.asarray(model(x)[-1]))
    with pytest.raises(KeraslabError, match="already holds a finished run.*overwrite"):
        fit_sparse_coder(model, train, validation, out_dir=tmp_path, progress=False)


def test_schedule_replace_keeps_unset_values_and_validates():
    assert FAST.replace(max_steps=None, learning_rate=2e-3).learning_rate == 2e-3
    assert FAST.replace(max_steps=None).max_steps == FAST.max_steps
    with pytest.raises(InputSpecError, match="batch_size must be a positive integer"):
        FAST.replace(batch_size=0)
