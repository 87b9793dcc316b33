"""Unrolled LISTA models: every variant builds, starts as ISTA where it should, round-trips
through .keras, trains under XLA (and improves on its ISTA start), runs under MirroredStrategy;
the NMSE function and metric; argument errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.data.synthetic import sparse_coding_problem
from keraslab.layers.sparse import ALISTACell, LISTACell, LISTACPCell
from keraslab.models.lista import NMSE, VARIANTS, lista, nmse_db, support_schedule

from layer_contract import check_layer_contract

M, N, T = 20, 40, 3
LAM = 0.1


@pytest.fixture(scope="module")
def problem():
    return sparse_coding_problem(m=M, n=N, p=0.1, seed=0)


def ista_iterates(A, x, lam, T):
    A, x = np.asarray(A, np.float64), np.asarray(x, np.float64)  # a float32 SVD is not exact
    L = np.linalg.norm(A, 2) ** 2
    z, out = np.zeros((x.shape[0], A.shape[1])), []
    for _ in range(T):
        u = z + (x - z @ A.T) @ A / L
        z = np.sign(u) * np.maximum(np.abs(u) - lam / L, 0)
        out.append(z)
    return out


# --------------------------------------------------------------------------- building


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_builds_with_named_layers_and_outputs(problem, variant):
    model = lista(problem.A, T=T, variant=variant, lam=LAM)
    assert model.name == variant
    assert model.input_shape == (None, M) and model.output_shape == (None, N)
    every = lista(problem.A, T=T, variant=variant, return_all=True)
    assert every.output_names == ["z_1", "z_2", "z_3"]
    assert [tuple(s) for s in every.output_shape] == [(None, N)] * T
    count = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    expected = {
        "lista": (N * M + 1) + (T - 1) * (N * M + N * N + 1),  # layer 1 has no W
        "lista_tied": N * M + N * N + 1,
        "lista_cp": T * (M * N + 1),
        "lista_cpss": T * (M * N + 1),
        "alista": 2 * T,
    }[variant]
    assert count == expected
    cells = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if variant == "lista_tied":
        assert [c.name for c in cells] == ["lista_cell"]
    else:
        assert [c.name for c in cells] == ["layer_1", "layer_2", "layer_3"]
    kind = {"lista": LISTACell, "lista_tied": LISTACell, "alista": ALISTACell}
    assert all(isinstance(c, kind.get(variant, LISTACPCell)) for c in cells)


def test_support_schedule_grows_and_caps():
    assert support_schedule(4, 1.2, 3.0) == pytest.approx([1.2, 2.4, 3.0, 3.0])
    assert support_schedule(16)[-1] == 13.0 and support_schedule(16)[0] == 1.2
    model = lista(
        np.eye(4, 8) + 0.1, T=3, variant="lista_cpss", support_percent=5, max_support_percent=20
    )
    assert [model.get_layer(f"layer_{t}").support_percent for t in (1, 2, 3)] == [5, 10, 15]
    plain = lista(np.eye(4, 8) + 0.1, T=2, variant="lista_cp")
    assert plain.get_layer("layer_2").support_percent == 0.0


@pytest.mark.parametrize("variant", ["lista", "lista_tied", "lista_cp"])
def test_untrained_models_compute_ista_layer_by_layer(problem, variant):
    x, _ = problem.sample(16, seed=2)
    model = lista(problem.A, T=5, variant=variant, lam=LAM, return_all=True, dtype="float64")
    outputs = model(x.astype("float64"))
    for out, ref in zip(outputs, ista_iterates(problem.A, x, LAM, 5), strict=True):
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-9, atol=1e-11)


# --------------------------------------------------------------------------- NMSE


def test_nmse_is_a_ratio_of_sums_in_db():
    z = np.array([[1.0, 0.0, 0.0], [0.0, 0.1, 0.0]])
    assert float(nmse_db(np.zeros_like(z), z)) == pytest.approx(0.0)
    assert float(nmse_db(0.9 * z, z)) == pytest.approx(-20.0)
    # Error 0.01 on each sample: Σ‖e‖²/Σ‖z‖² = 0.02 / 1.01, not mean(0.01/1, 0.01/0.01).
    z_hat = z + np.array([[0.1, 0, 0], [0, 0, 0.1]])
    assert float(nmse_db(z_hat, z)) == pytest.approx(10 * np.log10(0.02 / 1.01))
    assert float(nmse_db(tf.constant(z_hat, tf.float32), z)) == pytest.approx(
        10 * np.log10(0.02 / 1.01), rel=1e-5
    )


def test_nmse_metric_accumulates_over_batches():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((30, 8))
    z_hat = z + rng.standard_normal((30, 8)) * np.linspace(0.01, 1, 30)[:, None]
    metric = NMSE()
    for start in range(0, 30, 7):
        metric.update_state(z[start : start + 7], z_hat[start : start + 7])
    assert float(metric.result()) == pytest.approx(float(nmse_db(z_hat, z)), rel=1e-5)
    metric.reset_state()
    weights = np.r_[np.ones(10), np.zeros(20)]
    metric.update_state(z, z_hat, sample_weight=weights)
    assert float(metric.result()) == pytest.approx(float(nmse_db(z_hat[:10], z[:10])), rel=1e-5)
    assert keras.saving.get_registered_name(NMSE) == "keraslab>NMSE"


# --------------------------------------------------------------------------- saving, training


@pytest.mark.parametrize("variant", VARIANTS)
def test_keras_contract_of_every_variant(variant, problem, tmp_path):
    """Config / .keras round trips of every layer's estimate, dynamic batch, tf.function
    (tests/layer_contract.py)."""
    x, _ = problem.sample(8, seed=4)
    result = check_layer_contract(
        lambda: lista(problem.A, T=2, variant=variant, return_all=True), x, directory=tmp_path
    )
    assert result.loaded.output_names == result.layer.output_names
    assert len(result.outputs) == 2


@pytest.mark.slow
def test_training_under_xla_improves_on_the_ista_initialisation(problem):
    """A few hundred Adam steps of 4-layer LISTA beat the 4 ISTA iterations it starts as."""
    x_test, z_test = problem.sample(1000, seed=99)
    model = lista(problem.A, T=4, variant="lista", lam=LAM)
    before = float(nmse_db(model(x_test), z_test))
    ista = ista_iterates(problem.A, x_test, LAM, 4)[-1]
    assert before == pytest.approx(float(nmse_db(ista, z_test)), abs=1e-3)
    model.compile(keras.optimizers.Adam(1e-3), loss="mse", metrics=[NMSE()], jit_compile=True)
    x, z = problem.sample(64 * 300, seed=1)
    history = model.fit(x, z, batch_size=64, epochs=1, verbose=0)
    after = float(nmse_db(model(x_test), z_test))
    assert history.history["nmse_db"][0] < before  # the metric runs inside the XLA step
    assert after < before - 2.0, (before, after)


def test_mirrored_strategy_matches_single_device(problem, mirrored_strategy):
    x, z = problem.sample(8, seed=6)
    single = lista(problem.A, T=2, variant="lista_cpss", support_percent=10)
    with mirrored_strategy.scope():
        model = lista(problem.A, T=2, variant="lista_cpss", support_percent=10)
        model.compile(optimizer="sgd", loss="mse")
    np.testing.assert_allclose(model.predict(x, batch_size=8, verbose=0), single(x), rtol=1e-5)
    history = model.fit(x, z, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"A": np.ones((2, 3, 4))}, r"A must be a 2-D matrix.*shape \(2, 3, 4\)"),
        ({"A": np.ones(4)}, r"A must be a 2-D matrix"),
        ({"T": 0}, r"T \(the number of layers\) must be an integer >= 1"),
        ({"T": 2.0}, r"T \(the number of layers\)"),
        ({"lam": -0.1}, r"lam must be a finite number >= 0.*Use lam=0"),
        ({"variant": "gista"}, r"unknown variant 'gista'; choose one of"),
        ({"support_percent": -1}, r"support_percent must be a percentage"),
        ({"variant": "alista", "per_coordinate": True}, "one scalar threshold per layer"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"A": np.eye(4, 8) + 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        lista(**args)
