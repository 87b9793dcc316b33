"""Sparse-coding layers: soft thresholding (values, gradient at the kinks), ISTA/FISTA against a
NumPy reference iteration by iteration, LISTA cells initialised as ISTA, ALISTA's analytic
weight, and the Keras contract (config, .keras round trip, tf.function / XLA, dynamic batch,
gradients, error messages)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab.layers.sparse import (
    FISTA,
    ISTA,
    ALISTACell,
    LISTACell,
    LISTACPCell,
    SoftThreshold,
    analytic_weight,
    fista_momentum,
    lipschitz_constant,
    mutual_coherence,
    soft_threshold,
    support_selection_threshold,
)

from layer_contract import check_layer_contract

M, N = 20, 40
LAM = 0.05


def matrix(m=M, n=N, seed=0):
    A = np.random.default_rng(seed).standard_normal((m, n))
    return A / np.linalg.norm(A, axis=0)


def signals(batch=5, m=M, n=N, seed=1):
    """x = A z for Bernoulli(0.2)-Gaussian codes z, plus a little noise."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((batch, n)) * (rng.random((batch, n)) < 0.2)
    return z @ matrix(m, n).T + 0.01 * rng.standard_normal((batch, m))


def eta(u, theta):
    return np.sign(u) * np.maximum(np.abs(u) - theta, 0.0)


def ista_reference(A, x, lam, T, fista=False):
    """Plain NumPy ISTA / FISTA from z_0 = 0 (rows are samples); returns z_1 … z_T."""
    L = np.linalg.norm(A, 2) ** 2
    z_prev = y = np.zeros((x.shape[0], A.shape[1]))
    t = 1.0
    out = []
    for _ in range(T):
        z = eta(y + (x - y @ A.T) @ A / L, lam / L)
        if fista:
            t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
            y = z + (t - 1) / t_next * (z - z_prev)
            t = t_next
        else:
            y = z
        z_prev = z
        out.append(z)
    return np.stack(out, axis=1)


#: One of each layer type, with the arguments a round-trip test needs.
LAYERS = {
    "ISTA": lambda A, dtype: ISTA(A, LAM, 6, dtype=dtype),
    "FISTA-iterates": lambda A, dtype: FISTA(A, LAM, 6, return_iterates=True, dtype=dtype),
    "LISTACell": lambda A, dtype: LISTACell(A, LAM, per_coordinate=True, dtype=dtype),
    "LISTACPCell": lambda A, dtype: LISTACPCell(A, LAM, support_percent=10.0, dtype=dtype),
    "ALISTACell": lambda A, dtype: ALISTACell(A, LAM, support_percent=5.0, dtype=dtype),
}


def all_layers(A=None, dtype="float32"):
    A = matrix() if A is None else A
    return [make(A, dtype) for make in LAYERS.values()]


def apply(layer, x):
    """ISTA/FISTA take x; a cell is applied twice (first from z = 0, then from its output)."""
    if isinstance(layer, (ISTA, FISTA)):
        return layer(x)
    return layer(x, layer(x))


# --------------------------------------------------------------------------- soft threshold


def test_soft_threshold_values():
    u = np.array([[-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]])
    np.testing.assert_array_equal(soft_threshold(u, 1.0), [[-1, 0, 0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(soft_threshold(u, 0.0), u)
    theta = np.array([0.0, 0.5, 0.5, 1.0, 0.2, 0.5, 3.0])
    np.testing.assert_allclose(soft_threshold(u, theta), eta(u, theta))


def test_soft_threshold_gradient_convention_at_the_kinks():
    """dη/du = 1 and dη/dθ = −sign(u) outside [−θ, θ]; both 0 inside and at |u| = θ exactly."""
    u = tf.constant([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    theta = tf.Variable(1.0)

    def grads(u):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(u)
            out = soft_threshold(u, theta)
        return tape.gradient(out, u), tape.jacobian(out, theta)

    for fn in (grads, tf.function(grads), tf.function(grads, jit_compile=True)):
        du, dtheta = fn(u)
        np.testing.assert_array_equal(du, [1, 0, 0, 0, 0, 0, 1])
        np.testing.assert_array_equal(dtheta, [1, 0, 0, 0, 0, 0, -1])


def test_soft_threshold_layer_weights_config_and_constraint():
    x = np.random.default_rng(0).standard_normal((3, 7)).astype("float32")
    scalar, vector = SoftThreshold(0.3), SoftThreshold(0.3, per_coordinate=True, name="st")
    np.testing.assert_allclose(scalar(x), eta(x, 0.3), rtol=1e-6)
    np.testing.assert_allclose(vector(x), eta(x, 0.3), rtol=1e-6)
    assert scalar.theta.shape == () and vector.theta.shape == (7,)
    assert vector.trainable_weights == [vector.theta]
    config = vector.get_config()
    assert config["theta"] == 0.3 and config["per_coordinate"] is True
    assert SoftThreshold.from_config(config).get_config() == config
    assert keras.saving.get_registered_name(SoftThreshold) == "keraslab>SoftThreshold"
    # The optimizer projects θ back to θ >= 0 after a step that would make it negative.
    optimizer = keras.optimizers.SGD(1.0)
    optimizer.apply_gradients([(tf.ones(7), vector.theta)])
    np.testing.assert_array_equal(vector.theta.numpy(), np.zeros(7))
    with pytest.raises(ValueError, match="theta must be a finite number >= 0"):
        SoftThreshold(-0.1)


def test_support_selection_passes_the_largest_entries_above_theta():
    u = tf.constant([[3.0, -2.5, 0.5, 0.2, -1.5], [0.1, -0.2, 4.0, 0.0, 1.2]])
    # k = ⌊40 % · 5⌋ = 2: per row the two largest magnitudes pass if they exceed θ = 1.
    out = support_selection_threshold(u, 1.0, 40.0)
    np.testing.assert_allclose(out, [[3.0, -2.5, 0, 0, -0.5], [0, 0, 4.0, 0, 1.2]])
    # Large-magnitude entries not above θ are still zeroed (Chen et al.'s definition).
    np.testing.assert_array_equal(support_selection_threshold(u * 0.2, 1.0, 40.0), np.zeros((2, 5)))
    np.testing.assert_array_equal(support_selection_threshold(u, 1.0, 0.0), soft_threshold(u, 1.0))
    with tf.GradientTape() as tape:
        tape.watch(u)
        out = support_selection_threshold(u, 1.0, 40.0)
    np.testing.assert_array_equal(tape.gradient(out, u), [[1, 1, 0, 0, 1], [0, 0, 1, 0, 1]])
    xla = tf.function(lambda v: support_selection_threshold(v, 1.0, 40.0), jit_compile=True)
    np.testing.assert_array_equal(xla(u), out)


# --------------------------------------------------------------------------- ISTA and FISTA


@pytest.mark.parametrize("cls", [ISTA, FISTA])
def test_iterations_equal_numpy_reference_iteration_by_iteration(cls):
    A, x, T = matrix(), signals(), 25
    expected = ista_reference(A, x, LAM, T, fista=cls is FISTA)
    every = cls(A, LAM, T, return_iterates=True, dtype="float64")(x).numpy()
    assert every.shape == (5, T, N)
    np.testing.assert_allclose(every, expected, rtol=1e-10, atol=1e-12)
    last = cls(A, LAM, T, dtype="float64")(x).numpy()
    np.testing.assert_allclose(last, expected[:, -1], rtol=1e-10, atol=1e-12)
    single = cls(A, LAM, T, return_iterates=True)(x.astype("float32")).numpy()
    np.testing.assert_allclose(single, expected, rtol=1e-4, atol=1e-5)


def test_fista_momentum_and_that_fista_converges_faster():
    t2 = (1 + 5**0.5) / 2
    t3 = (1 + (1 + 4 * t2**2) ** 0.5) / 2
    t4 = (1 + (1 + 4 * t3**2) ** 0.5) / 2
    np.testing.assert_allclose(fista_momentum(3), [0.0, (t2 - 1) / t3, (t3 - 1) / t4], rtol=1e-14)
    A, x = matrix(), signals(batch=20)
    solution = ista_reference(A, x, LAM, 3000, fista=True)[:, -1]
    errors = {
        cls: np.linalg.norm(cls(A, LAM, 50, dtype="float64")(x).numpy() - solution)
        for cls in (ISTA, FISTA)
    }
    assert errors[FISTA] < 0.5 * errors[ISTA]


def test_solvers_have_no_trainable_weights_and_store_the_matrix():
    A = matrix()
    for layer in (ISTA(A, LAM, 3), FISTA(A, LAM, 3)):
        layer(signals().astype("float32"))
        assert layer.trainable_weights == [] and not layer.trainable
        np.testing.assert_allclose(layer.A.numpy(), A, rtol=1e-7)
        assert layer.lipschitz == pytest.approx(lipschitz_constant(A), rel=1e-12)


# --------------------------------------------------------------------------- LISTA cells


@pytest.mark.parametrize("cell_cls", [LISTACell, LISTACPCell])
def test_cells_initialised_from_the_matrix_reproduce_ista(cell_cls):
    """B = Aᵀ/L, W = I − BA (CP: W = A/L), θ = λ/L: the tied cell is an ISTA step."""
    A, x, T = matrix(), signals(), 8
    expected = ista_reference(A, x, LAM, T)
    cell = cell_cls(A, LAM, dtype="float64")
    z, iterates = None, []
    for _ in range(T):
        z = cell(x) if z is None else cell(x, z)
        iterates.append(z.numpy())
    np.testing.assert_allclose(np.stack(iterates, 1), expected, rtol=1e-9, atol=1e-11)
    L = np.linalg.norm(A, 2) ** 2
    np.testing.assert_allclose(cell.theta.numpy(), LAM / L, rtol=1e-12)
    if cell_cls is LISTACell:
        np.testing.assert_allclose(cell.B.numpy(), A.T / L, rtol=1e-12)
        np.testing.assert_allclose(cell.W.numpy(), np.eye(N) - A.T @ A / L, atol=1e-14)
        assert {w.name for w in cell.trainable_weights} == {"B", "W", "theta"}
    else:
        np.testing.assert_allclose(cell.W.numpy(), A / L, rtol=1e-12)
        assert {w.name for w in cell.trainable_weights} == {"W", "theta"}
        assert [w.name for w in cell.non_trainable_weights] == ["A"]


def test_lista_cpss_cell_step_matches_numpy():
    A, x = matrix(), signals()
    cell = LISTACPCell(A, LAM, support_percent=10.0, dtype="float64")
    z1 = cell(x).numpy()
    z2 = cell(x, z1).numpy()
    L = np.linalg.norm(A, 2) ** 2

    def step(z):
        u = z + (x - z @ A.T) @ (A / L)
        k = int(0.1 * N)
        kth = np.sort(np.abs(u), axis=1)[:, -k][:, None]
        keep = (np.abs(u) >= kth) & (np.abs(u) > LAM / L)
        return np.where(keep, u, eta(u, LAM / L))

    np.testing.assert_allclose(z1, step(np.zeros((5, N))), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(z2, step(z1), rtol=1e-10, atol=1e-12)


def test_analytic_weight_has_unit_diagonal_and_lower_coherence_than_the_matrix():
    A = matrix()
    W = analytic_weight(A)
    assert W.shape == (M, N)
    np.testing.assert_allclose(np.diag(W.T @ A), 1.0, atol=1e-12)
    # "I-scaled Aᵀ": the feasible W₀ = A diag(1/‖a_i‖²), i.e. A itself for unit columns.
    W0 = A / np.sum(A * A, axis=0)
    assert np.linalg.norm(W.T @ A) < np.linalg.norm(W0.T @ A)  # the objective it minimises
    assert mutual_coherence(W, A) < mutual_coherence(W0, A)
    # Optimal among feasible W: a random feasible perturbation never does better.
    rng = np.random.default_rng(3)
    for _ in range(3):
        V = W + 0.01 * rng.standard_normal(W.shape)
        V /= np.diag(V.T @ A)
        assert np.linalg.norm(W.T @ A) <= np.linalg.norm(V.T @ A)
    with pytest.raises(ValueError, match=r"column\(s\) \[2\] of A are zero"):
        analytic_weight(np.where(np.arange(N) == 2, 0.0, A))


def test_alista_cell_step_and_weights():
    A, x = matrix(), signals()
    W = analytic_weight(A)
    cell = ALISTACell(A, LAM, support_percent=10.0, dtype="float64")
    assert {w.name for w in cell.trainable_weights} == set()  # not built yet
    z1 = cell(x).numpy()
    assert sorted(w.name for w in cell.trainable_weights) == ["gamma", "theta"]
    assert sorted(w.name for w in cell.non_trainable_weights) == ["A", "W"]
    np.testing.assert_allclose(cell.W.numpy(), W, rtol=1e-12)
    cell.gamma.assign(0.7)
    z2 = cell(x, z1).numpy()
    theta = LAM / np.linalg.norm(A, 2) ** 2
    u = z1 - 0.7 * (z1 @ A.T - x) @ W
    kth = np.sort(np.abs(u), axis=1)[:, -4][:, None]
    expected = np.where((np.abs(u) >= kth) & (np.abs(u) > theta), u, eta(u, theta))
    np.testing.assert_allclose(z2, expected, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- Keras contract


@pytest.mark.parametrize("name", LAYERS)
def test_keras_contract(name, tmp_path):
    """Registration, config / .keras round trips (A travels as a weight, its shape in the
    config), compute_output_shape, dynamic batch, tf.function and XLA (tests/layer_contract.py);
    a cell is checked applied twice, as LISTA applies it."""
    result = check_layer_contract(
        lambda: LAYERS[name](matrix(), "float32"),
        signals(batch=6).astype("float32"),
        directory=tmp_path,
        call=apply,
        jit_compile=True,
    )
    config = result.layer.get_config()
    assert tuple(config["A_shape"]) == (M, N) and "A" not in config
    expected = (None, 6, N) if name == "FISTA-iterates" else (None, N)
    assert result.model.output_shape == expected


def test_gradients_flow_to_inputs_and_learned_parameters():
    x = tf.constant(signals().astype("float32"))
    for layer in all_layers():
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(apply(layer, x)))
        dx = tape.gradient(loss, x)
        assert np.all(np.isfinite(dx)) and float(tf.reduce_sum(tf.abs(dx))) > 0
        for w in layer.trainable_weights:
            g = tape.gradient(loss, w)
            assert g is not None and np.all(np.isfinite(g)), w.name
            assert float(tf.reduce_sum(tf.abs(g))) > 0, w.name


def test_float64_layers_compute_in_float64():
    x = signals()
    for layer in all_layers(dtype="float64"):
        assert apply(layer, x).dtype == "float64"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ISTA(np.ones((2, 3, 4))), r"A must be a 2-D matrix.*rank 3"),
        (lambda: ISTA(np.ones(5)), r"A must be a 2-D matrix.*rank 1"),
        (lambda: LISTACell(np.ones((3, 2, 2))), r"A must be a 2-D matrix"),
        (lambda: ISTA(np.zeros((3, 4))), "A is all zeros"),
        (lambda: ISTA(np.full((3, 4), np.nan)), "NaN or infinite"),
        (lambda: ISTA(matrix(), -0.1), r"lam must be a finite number >= 0.*Use lam=0"),
        (lambda: LISTACPCell(matrix(), -1.0), r"lam must be a finite number >= 0"),
        (lambda: ISTA(matrix(), 0.1, 0), r"num_iterations must be an integer >= 1.*=1"),
        (lambda: FISTA(matrix(), 0.1, 2.5), r"num_iterations must be an integer >= 1"),
        (lambda: LISTACPCell(matrix(), support_percent=120), r"support_percent.*\[0, 100\]"),
        (lambda: LISTACell(), r"needs the matrix A.*A_shape=\(m, n\)"),
        (lambda: ISTA(A_shape=(3, 4)), "pass lipschitz="),
        (lambda: ALISTACell(matrix(), W=np.ones((3, 3))), "W must have the shape of A"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_input_sizes_name_the_fix():
    cell = LISTACPCell(matrix())
    with pytest.raises(ValueError, match=r"expects signals x of shape \(batch, 20\).*length m"):
        cell(np.zeros((2, N), "float32"))
    with pytest.raises(ValueError, match=r"codes z of shape \(batch, 40\)"):
        cell(np.zeros((2, M), "float32"), np.zeros((2, M), "float32"))
    with pytest.raises(ValueError, match=r"rank 3.*Flatten each example"):
        ISTA(matrix())(keras.Input((M, 1)))
    built = ISTA(matrix(), num_iterations=2)
    built(np.zeros((2, M), "float32"))
    with pytest.raises(ValueError, match=r"expects signals x of shape \(batch, 20\)"):
        built(np.zeros((2, M + 1), "float32"))


def test_first_lista_cell_has_no_w_and_takes_x_alone():
    A, x = matrix(), signals()
    cell = LISTACell(A, LAM, first=True, name="layer_1")
    z = cell(x)
    assert sorted(w.name for w in cell.weights) == ["B", "theta"]
    np.testing.assert_allclose(z, LISTACell(A, LAM)(x), rtol=1e-6)
    assert cell.get_config()["first"] is True
    with pytest.raises(ValueError, match="first=True.*call it on x alone"):
        cell(x, z)
    with pytest.raises(ValueError, match="first=True"):
        LISTACell(A, LAM, first=True)(x, z)
