r"""Sparse coding as Keras 3 layers: soft thresholding, ISTA / FISTA, and learned ISTA cells.

**Problem.** Given a matrix ``A ∈ R^{m×n}`` (a dictionary, or a sensing matrix) and a signal
``x ∈ R^m``, the lasso / basis-pursuit denoising problem is::

    minimize_z  ½‖x − A z‖² + λ‖z‖₁                                                    (P)

with a sparse code ``z ∈ R^n``. ``L = ‖A‖₂²`` (the largest eigenvalue of ``AᵀA``) is the Lipschitz
constant of the gradient of the quadratic term.

**Notation used throughout this module** — and how it maps to the papers:

=================  ======================  ==========================  ======================
this module        Gregor & LeCun (2010)   Chen et al. (2018)          Liu et al. (2019)
=================  ======================  ==========================  ======================
signal ``x``       ``X``                   ``b``                       ``b``
code ``z``         ``Z``                   ``x``                       ``x``
matrix ``A``       ``W_d``                 ``A``                       ``A``
``B = Aᵀ/L``       ``W_e``                 ``W_1``                     —
``W = I − BA``     ``S``                   ``W_2``                     —
CP weight ``W``    —                       ``W`` (``x + Wᵀ(b − Ax)``)  ``W`` (analytic)
threshold ``θ``    ``θ``                   ``θ``                       ``θ``
step ``γ``         —                       —                           ``γ``
=================  ======================  ==========================  ======================

Tensors are batches of row vectors: codes ``(batch, n)``, signals ``(batch, m)``; ``A z`` is
computed as ``z @ Aᵀ``. Iterations start from ``z₀ = 0``; the ``t``-th layer / iteration
returns ``z_t`` (``t = 1 … T``).

**Soft thresholding** (the proximal operator of ``θ‖·‖₁``)::

    η_θ(u) = sign(u) · max(|u| − θ, 0)

**ISTA** (Daubechies, Defrise & De Mol, 2004): ``z ← η_{λ/L}(z + (1/L) Aᵀ(x − A z))``.

**FISTA** (Beck & Teboulle, 2009): ISTA's step taken from an extrapolated point ``y``.

**LISTA** (Gregor & LeCun, 2010): ISTA rewritten ``z ← η_θ(W z + B x)`` with ``B = Aᵀ/L``,
``W = I − BA``, ``θ = λ/L``, then ``W, B, θ`` learned. Tied: one cell reused for every layer (the
original recurrent form); untied: one cell per layer, ``W_t, B_t, θ_t`` (Chen et al.'s eq. 3).

**LISTA-CP** (Chen, Liu, Wang & Yin, 2018): the weight coupling ``W = I − BA`` that Chen et al.
prove necessary for convergence, built in: ``z ← η_θ(z + Wᵀ(x − A z))``, ``W ∈ R^{m×n}``
learned, initialised to ``A/L``.

**Support selection** (the "SS" of LISTA-CPSS, Chen et al. 2018): in each sample, the ``p %``
largest-magnitude entries of the pre-activation ``u`` that exceed ``θ`` are trusted to be in
the support and pass unshrunk; the others are soft-thresholded::

    η^{ss}_{θ,p}(u)_i = u_i          if |u_i| > θ and |u_i| is among the ⌊p n / 100⌋ largest of |u|
                        η_θ(u_i)     otherwise

**ALISTA** (Liu, Chen, Wang & Yin, 2019): ``z ← η^{ss}_{θ_t,p_t}(z − γ_t Wᵀ(A z − x))`` with
the analytic ``W`` of :func:`analytic_weight` fixed and only ``γ_t, θ_t`` learned.

**Where A lives.** Layers that apply ``A`` in their forward pass (ISTA, FISTA, LISTA-CP,
ALISTA) keep it — and ALISTA's ``W`` — as *non-trainable weights*; ``get_config`` records only
its shape (``A_shape``) and scalars. A ``.keras`` file stores weights as exact binary arrays
in its HDF5 part, so ``A`` comes back bit for bit; as a nested list in the config, ``A`` would be
written into the JSON of every layer that holds it (T copies for a T-layer LISTA-CP,
megabytes of decimal text for the default 250 × 500 problem) and re-parsed on every
``from_config`` / ``clone_model``. The consequence: like any Keras layer, a layer rebuilt from
its config alone has placeholder weights (here ``A = 0``) until its weights are loaded, which
``keras.saving.load_model`` and ``Model.load_weights`` do.
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "ALISTACell",
    "FISTA",
    "ISTA",
    "LISTACPCell",
    "LISTACell",
    "SoftThreshold",
    "analytic_weight",
    "fista_momentum",
    "lipschitz_constant",
    "mutual_coherence",
    "soft_threshold",
    "support_selection_threshold",
]


# --------------------------------------------------------------------------- pure functions


def soft_threshold(u: tf.Tensor, theta: tf.Tensor | float) -> tf.Tensor:
    """Soft thresholding ``η_θ(u) = sign(u) · max(|u| − θ, 0)``, element-wise.

    ``theta`` broadcasts against ``u`` (a scalar, or one threshold per coordinate).

    **Gradient convention.** ``η`` has kinks at ``|u| = θ``; there the gradient is taken from
    the dead zone: ``∂η/∂u = 0`` and ``∂η/∂θ = 0`` at ``|u| = θ`` exactly (as at ``u = 0``).
    Elsewhere ``∂η/∂u = 1`` and ``∂η/∂θ = −sign(u)`` for ``|u| > θ``, and both are 0 for
    ``|u| < θ``. This is the gradient of the ReLU form used here (TensorFlow's ReLU has
    derivative 0 at 0).
    """
    return tf.sign(u) * tf.nn.relu(tf.abs(u) - theta)


def _num_selected(percent: float, n: int) -> int:
    # A tolerance so that, e.g., 1.2 % of 500 counts as 6 despite 1.2 * 500 / 100 = 6.000…01
    # and 0.7 % of 1000 as 7 despite 0.7 * 1000 / 100 = 6.99…9.
    return int(math.floor(percent * n / 100.0 + 1e-9))


def support_selection_threshold(
    u: tf.Tensor, theta: tf.Tensor | float, percent: float
) -> tf.Tensor:
    """Soft thresholding with support selection ``η^{ss}_{θ,p}`` (Chen et al., 2018, eq. 11).

    Per row of ``u`` (``(batch, n)``), the entries among the ``k = ⌊p n / 100⌋`` largest
    magnitudes that also exceed ``θ`` pass unchanged; every other entry is soft-thresholded.
    Ties with the ``k``-th largest magnitude are all selected. The selection is a mask, so no
    gradient flows through it; the gradient of a selected entry is 1 with respect to ``u`` and 0
    with respect to ``θ``. ``percent = 0`` is plain :func:`soft_threshold`.
    """
    n = u.shape[-1]
    if n is None:
        raise ValueError("support selection needs a known code size n (the last axis of u).")
    k = _num_selected(percent, n)
    shrunk = soft_threshold(u, theta)
    if k == 0:
        return shrunk
    magnitude = tf.abs(u)
    kth_largest = tf.reduce_min(tf.math.top_k(magnitude, k=k, sorted=False).values, -1, True)
    selected = tf.logical_and(magnitude >= kth_largest, magnitude > theta)
    return tf.where(selected, u, shrunk)


def lipschitz_constant(A: np.ndarray) -> float:
    """``L = ‖A‖₂²``, the largest eigenvalue of ``AᵀA`` (in float64, by SVD)."""
    return float(np.linalg.norm(np.asarray(A, dtype=np.float64), ord=2) ** 2)


def fista_momentum(num_iterations: int) -> np.ndarray:
    """FISTA's extrapolation weights ``β_k = (t_k − 1) / t_{k+1}``, ``k = 1 … T`` (float64).

    ``t_1 = 1`` and ``t_{k+1} = (1 + √(1 + 4 t_k²)) / 2`` (Beck & Teboulle, 2009, eq. 4.2–4.3).
    They do not depend on the data, so the layer keeps them as constants.
    """
    t = 1.0
    betas = np.empty(num_iterations)
    for k in range(num_iterations):
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        betas[k] = (t - 1.0) / t_next
        t = t_next
    return betas


def analytic_weight(A: np.ndarray) -> np.ndarray:
    r"""ALISTA's analytic weight ``W ∈ R^{m×n}`` (Liu, Chen, Wang & Yin, 2019, eq. 17)::

        W = argmin_W ‖WᵀA‖_F²   subject to   diag(WᵀA) = 1

    The problem separates over columns: ``w_i`` minimises ``w_iᵀ (AAᵀ) w_i`` subject to
    ``a_iᵀ w_i = 1``, whose Lagrange conditions give the closed form::

        w_i = G⁺ a_i / (a_iᵀ G⁺ a_i),      G = A Aᵀ

    (``G⁺`` the pseudo-inverse; ``G`` is invertible for a full-rank wide ``A``). This is the exact
    minimiser the authors approach by projected gradient descent. Because the diagonal is fixed
    to 1, minimising ``‖WᵀA‖_F`` is minimising the off-diagonal energy, which lowers the
    generalised mutual coherence ``max_{i≠j} |w_iᵀ a_j|`` (:func:`mutual_coherence`) below that
    of ``A`` itself.

    Raises:
        ValueError: ``A`` is not a finite 2-D matrix, or has a column that ``G⁺`` maps to 0
            (a zero column).
    """
    A = _check_matrix(A, "analytic_weight")
    G = A @ A.T
    V = np.linalg.pinv(G, hermitian=True) @ A
    scale = np.einsum("ij,ij->j", A, V)
    bad = np.flatnonzero(np.abs(scale) <= 1e-12 * max(float(np.max(np.abs(scale))), 1e-300))
    if bad.size:
        raise ValueError(
            f"analytic_weight: column(s) {bad[:5].tolist()} of A are zero (or numerically so), "
            f"so diag(WᵀA) = 1 cannot hold. Remove or replace those atoms."
        )
    return V / scale


def mutual_coherence(W: np.ndarray, A: np.ndarray) -> float:
    """Generalised mutual coherence ``max_{i≠j} |w_iᵀ a_j|`` of ``W`` with ``A`` (both ``m×n``).

    With ``W = A`` and unit-norm columns it is the usual mutual coherence of ``A``
    (Liu et al., 2019, Definition 1).
    """
    gram = np.asarray(W, np.float64).T @ np.asarray(A, np.float64)
    np.fill_diagonal(gram, 0.0)
    return float(np.max(np.abs(gram)))


# --------------------------------------------------------------------------- argument checks


def _check_matrix(A, who: str) -> np.ndarray:
    try:
        array = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{who}: A must be a real matrix of shape (m, n), got {A!r}.") from error
    if array.ndim != 2:
        raise ValueError(
            f"{who}: A must be a 2-D matrix of shape (m, n) (signals x = A z in R^m, codes z in "
            f"R^n), got an array of rank {array.ndim} with shape {array.shape}. Pass the "
            f"matrix itself, e.g. A.reshape(m, n), not a batch of matrices or a vector."
        )
    if 0 in array.shape:
        raise ValueError(f"{who}: A must have m >= 1 rows and n >= 1 columns, got {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{who}: A contains NaN or infinite entries; pass a finite matrix.")
    if not np.any(array):
        raise ValueError(f"{who}: A is all zeros, so L = ‖A‖₂² = 0 and no step size exists.")
    return array


def _check_shape(A_shape, who: str) -> tuple[int, int]:
    if (
        A_shape is None
        or len(A_shape) != 2
        or not all(isinstance(d, numbers.Integral) and d >= 1 for d in A_shape)
    ):
        raise ValueError(
            f"{who} needs the matrix A (m, n): pass A=..., or A_shape=(m, n) when its values "
            f"will be loaded from saved weights; got A=None, A_shape={A_shape!r}."
        )
    return int(A_shape[0]), int(A_shape[1])


def _check_nonnegative(value, name: str, who: str, fix: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {value!r}. {fix}")
    return float(value)


def _check_count(value, name: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"{who}: {name} must be an integer >= 1 (the number of iterations / layers), got "
            f"{value!r}. Use {name}=1 for a single step."
        )
    return int(value)


def _check_percent(value, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 100:
        raise ValueError(
            f"{who}: support_percent must be a percentage in [0, 100] (e.g. 1.2 for 1.2 %), got "
            f"{value!r}. Use 0 to switch support selection off."
        )
    return float(value)


_LAM_FIX = "Use lam=0 for no sparsity penalty; λ weights ‖z‖₁ in ½‖x − Az‖² + λ‖z‖₁."


# --------------------------------------------------------------------------- layers


@keras.saving.register_keras_serializable(package="keraslab")
class SoftThreshold(keras.layers.Layer):
    """Learnable soft thresholding ``η_θ(u) = sign(u) · max(|u| − θ, 0)``.

    ``θ`` is one scalar, or one threshold per coordinate of the last axis
    (``per_coordinate=True``, Chen et al. 2018's "coordinate-wise" thresholds). It is a weight
    (trainable unless the layer is built with ``trainable=False``) with a non-negativity
    constraint, which optimizers apply after each update. See :func:`soft_threshold` for the
    gradient at the kinks ``|u| = θ`` (0).

    Args:
        theta: Initial threshold, ``>= 0``.
        per_coordinate: One threshold per entry of the last axis instead of one scalar.
        **kwargs: Base layer arguments (``name``, ``dtype``, ``trainable``, …).

    Call arguments:
        inputs: Float tensor ``(..., n)``; the output has the same shape.

    Example:

    ```python
    z = SoftThreshold(theta=0.1, per_coordinate=True)(u)    # u: (batch, n)
    ```
    """

    def __init__(self, theta: float = 0.1, per_coordinate: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.theta_init = _check_nonnegative(
            theta, "theta", "SoftThreshold", "A negative threshold would expand, not shrink."
        )
        self.per_coordinate = bool(per_coordinate)

    def build(self, input_shape):
        shape = ()
        if self.per_coordinate:
            if input_shape[-1] is None:
                raise ValueError(
                    f"SoftThreshold(per_coordinate=True) needs a known last axis, got input "
                    f"shape {tuple(input_shape)}; give it in keras.Input(shape=(n,))."
                )
            shape = (int(input_shape[-1]),)
        self.theta = self.add_weight(
            shape=shape,
            initializer=keras.initializers.Constant(self.theta_init),
            constraint=keras.constraints.NonNeg(),
            name="theta",
        )

    def call(self, inputs):
        return soft_threshold(inputs, self.theta)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(theta=self.theta_init, per_coordinate=self.per_coordinate)
        return config


def _constant_initializer(value: np.ndarray | None):
    """An initializer returning ``value`` (``zeros`` when ``None``); never serialized."""
    if value is None:
        return "zeros"

    def initialize(shape, dtype=None):
        if tuple(shape) != value.shape:
            raise ValueError(f"expected a weight of shape {value.shape}, got {tuple(shape)}")
        return keras.ops.convert_to_tensor(value, dtype=dtype)

    return initialize


class _SparseCodingLayer(keras.layers.Layer):
    """Shared plumbing: ``A`` (or its shape), input checks, and ``A`` as a fixed weight."""

    def __init__(self, A=None, *, A_shape=None, **kwargs):
        super().__init__(**kwargs)
        who = type(self).__name__
        if A is None:
            self.m, self.n = _check_shape(A_shape, who)
            self._A_value = None
        else:
            self._A_value = _check_matrix(A, who)
            self.m, self.n = self._A_value.shape
            if A_shape is not None and tuple(A_shape) != self._A_value.shape:
                raise ValueError(
                    f"{who}: A has shape {self._A_value.shape} but A_shape={tuple(A_shape)}; "
                    f"pass only one of them."
                )

    # --- inputs

    def _check_input_shape(self, shape, size: int, what: str, symbol: str):
        shape = tuple(shape)
        who = type(self).__name__
        if len(shape) != 2:
            raise ValueError(
                f"{who} expects {what} of shape (batch, {symbol}) = (batch, {size}), got rank "
                f"{len(shape)} with shape {shape}. Flatten each example to a vector (and add a "
                f"batch axis for a single one: v[None])."
            )
        if shape[-1] is not None and shape[-1] != size:
            raise ValueError(
                f"{who} was made for A of shape (m, n) = ({self.m}, {self.n}) and expects "
                f"{what} of shape (batch, {size}), got {shape}. Check that x is a signal "
                f"(length m) and z a code (length n), or build the layer from the matching A."
            )

    def build(self, x_shape, z_shape=None):
        self._check_input_shape(x_shape, self.m, "signals x", "m")
        if z_shape is not None:
            self._check_input_shape(z_shape, self.n, "codes z", "n")
        self._make_weights()
        self._A_value = None  # the weights hold it now

    def _make_weights(self):
        raise NotImplementedError

    def _add_matrix(self, name: str, value: np.ndarray | None, shape, trainable: bool):
        return self.add_weight(
            shape=shape, initializer=_constant_initializer(value), trainable=trainable, name=name
        )

    def _add_fixed_matrix(self):
        self.A = self._add_matrix("A", self._A_value, (self.m, self.n), trainable=False)

    def compute_output_shape(self, x_shape, z_shape=None):
        return (tuple(x_shape)[0], self.n)

    def _inputs(self, x, z):
        # Checked on every call, not only at build: a built layer may be fed other sizes.
        self._check_input_shape(x.shape, self.m, "signals x", "m")
        x = tf.cast(x, self.compute_dtype)
        if z is not None:
            self._check_input_shape(z.shape, self.n, "codes z", "n")
            z = tf.cast(z, self.compute_dtype)
        return x, z

    def _residual(self, x, z):
        """``x − A z`` (``x`` when ``z`` is the zero start)."""
        if z is None:
            return x
        return x - tf.matmul(z, tf.cast(self.A, self.compute_dtype), transpose_b=True)

    def get_config(self):
        config = super().get_config()
        config["A_shape"] = (self.m, self.n)
        return config


class _IterativeSolver(_SparseCodingLayer):
    """ISTA and FISTA: fixed ``A``, ``λ`` and number of iterations; nothing learned."""

    def __init__(
        self,
        A=None,
        lam: float = 0.1,
        num_iterations: int = 100,
        *,
        return_iterates: bool = False,
        lipschitz: float | None = None,
        A_shape=None,
        **kwargs,
    ):
        kwargs.setdefault("trainable", False)
        super().__init__(A, A_shape=A_shape, **kwargs)
        who = type(self).__name__
        self.lam = _check_nonnegative(lam, "lam", who, _LAM_FIX)
        self.num_iterations = _check_count(num_iterations, "num_iterations", who)
        self.return_iterates = bool(return_iterates)
        if lipschitz is None:
            if self._A_value is None:
                raise ValueError(
                    f"{who}: without A, pass lipschitz=‖A‖₂² (the config of a saved layer has it)."
                )
            lipschitz = lipschitz_constant(self._A_value)
        self.lipschitz = _check_nonnegative(lipschitz, "lipschitz", who, "")
        if self.lipschitz == 0:
            raise ValueError(f"{who}: lipschitz must be > 0 (it is ‖A‖₂²).")

    def _make_weights(self):
        self._add_fixed_matrix()

    def build(self, x_shape):
        super().build(x_shape)

    def compute_output_shape(self, x_shape):
        batch = tuple(x_shape)[0]
        if self.return_iterates:
            return (batch, self.num_iterations, self.n)
        return (batch, self.n)

    def _momentum(self):
        return None

    def call(self, x):
        x, _ = self._inputs(x, None)
        dtype = self.compute_dtype
        A = tf.cast(self.A, dtype)
        step = tf.constant(1.0 / self.lipschitz, dtype)
        threshold = tf.constant(self.lam / self.lipschitz, dtype)
        z0 = tf.zeros(tf.stack([tf.shape(x)[0], self.n]), dtype)
        momentum = self._momentum()
        betas = None if momentum is None else tf.constant(momentum, dtype)
        T = self.num_iterations

        def step_from(y):
            residual = x - tf.matmul(y, A, transpose_b=True)
            return soft_threshold(y + step * tf.matmul(residual, A), threshold)

        def body(k, z_prev, y, *iterates):
            z = step_from(y)
            y_next = z if betas is None else z + tf.gather(betas, k) * (z - z_prev)
            iterates = tuple(ta.write(k, z) for ta in iterates)
            return (k + 1, z, y_next, *iterates)

        # Only a layer that returns its iterates carries a TensorArray through the loop.
        arrays = (tf.TensorArray(dtype, size=T),) if self.return_iterates else ()
        _, z, _, *arrays = tf.while_loop(
            lambda k, *_: k < T,
            body,
            (tf.constant(0), z0, z0, *arrays),
            maximum_iterations=T,
        )
        if not self.return_iterates:
            return z
        return tf.transpose(arrays[0].stack(), [1, 0, 2])  # (T, batch, n) -> (batch, T, n)

    def get_config(self):
        config = super().get_config()
        config.update(
            lam=self.lam,
            num_iterations=self.num_iterations,
            return_iterates=self.return_iterates,
            lipschitz=self.lipschitz,
        )
        return config


@keras.saving.register_keras_serializable(package="keraslab")
class ISTA(_IterativeSolver):
    """ISTA with a fixed number of iterations (Daubechies, Defrise & De Mol, 2004)::

        z_0 = 0,    z_k = η_{λ/L}(z_{k−1} + (1/L) Aᵀ(x − A z_{k−1})),    k = 1 … T

    for ``min_z ½‖x − Az‖² + λ‖z‖₁`` with ``L = ‖A‖₂²`` (see the module docstring for the
    notation). Nothing is learned: ``A`` is a non-trainable weight and the layer is built with
    ``trainable=False``. The iterations run in a ``tf.while_loop``, so a thousand of them make a
    small graph, under ``tf.function`` and XLA alike.

    Args:
        A: The matrix, ``(m, n)``; ``None`` only together with ``A_shape`` and ``lipschitz``
            (how ``from_config`` rebuilds a saved layer, whose ``A`` then comes from its
            weights).
        lam: ``λ >= 0``.
        num_iterations: ``T >= 1``.
        return_iterates: Return every iterate, ``(batch, T, n)`` (``[:, k − 1]`` is ``z_k``),
            instead of ``z_T``, ``(batch, n)``.
        lipschitz: ``L``; defaults to ``‖A‖₂²``. A larger value is a smaller, safer step.
        A_shape: ``(m, n)`` when ``A`` is ``None``.
        **kwargs: Base layer arguments (``name``, ``dtype``, …).

    Call arguments:
        x: Signals ``(batch, m)``.

    Example:

    ```python
    z = ISTA(A, lam=0.1, num_iterations=200)(x)        # x: (batch, m) -> z: (batch, n)
    ```
    """


@keras.saving.register_keras_serializable(package="keraslab")
class FISTA(_IterativeSolver):
    """FISTA with a fixed number of iterations (Beck & Teboulle, 2009)::

        y_1 = z_0 = 0,   t_1 = 1
        z_k     = η_{λ/L}(y_k + (1/L) Aᵀ(x − A y_k))
        t_{k+1} = (1 + √(1 + 4 t_k²)) / 2
        y_{k+1} = z_k + ((t_k − 1) / t_{k+1}) (z_k − z_{k−1}),          k = 1 … T

    Same arguments, outputs and conventions as :class:`ISTA`; the extrapolation weights
    (:func:`fista_momentum`) are constants of the layer. Returns the ``z_k`` (not ``y_k``).
    """

    def _momentum(self):
        return fista_momentum(self.num_iterations)


class _LearnedCell(_SparseCodingLayer):
    """One unrolled iteration with learned parameters: ``call(x, z=None) -> z_next``."""

    def __init__(
        self,
        A=None,
        lam: float = 0.1,
        *,
        support_percent: float = 0.0,
        A_shape=None,
        **kwargs,
    ):
        super().__init__(A, A_shape=A_shape, **kwargs)
        who = type(self).__name__
        self.lam = _check_nonnegative(lam, "lam", who, _LAM_FIX)
        self.support_percent = _check_percent(support_percent, who)
        self._L = None if self._A_value is None else lipschitz_constant(self._A_value)

    def _threshold_init(self, shape=()):
        """``θ = λ/L`` (the ISTA threshold), or zeros without ``A`` (weights to be loaded)."""
        if self._L is None:
            return None
        return np.full(shape, self.lam / self._L)

    def _add_threshold(self, shape=()):
        self.theta = self.add_weight(
            shape=shape,
            initializer=_constant_initializer(self._threshold_init(shape)),
            constraint=keras.constraints.NonNeg(),
            name="theta",
        )

    def _shrink(self, u):
        theta = tf.cast(self.theta, self.compute_dtype)
        if self.support_percent:
            return support_selection_threshold(u, theta, self.support_percent)
        return soft_threshold(u, theta)

    def get_config(self):
        config = super().get_config()
        config.update(lam=self.lam, support_percent=self.support_percent)
        return config


@keras.saving.register_keras_serializable(package="keraslab")
class LISTACell(_LearnedCell):
    """One LISTA layer (Gregor & LeCun, 2010): ``z_next = η_θ(W z + B x)``.

    Initialised from ``A`` so that it is one ISTA step: ``B = Aᵀ/L`` (``n×m``),
    ``W = I − BA`` (``n×n``), ``θ = λ/L`` with ``L = ‖A‖₂²``; all three are trainable. Reusing one
    cell for every layer is Gregor & LeCun's tied (recurrent) LISTA; one cell per layer is the
    untied LISTA of Chen et al. (2018, eq. 3: ``W_1^k = B_t``, ``W_2^k = W_t``). The cell does
    not need ``A`` after initialisation, so it stores only ``B, W, θ``.

    Args:
        A: The matrix ``(m, n)`` the weights are initialised from (or ``None`` with
            ``A_shape``, when the weights are loaded).
        lam: ``λ >= 0``; the initial threshold is ``λ/L``.
        per_coordinate: One threshold per code entry (``θ ∈ R^n``) instead of a scalar.
        support_percent: ``p`` in ``[0, 100]``: use support selection
            (:func:`support_selection_threshold`); 0 (default) is plain soft thresholding.
        first: The first layer of an untied network, only ever applied to ``z = 0``: it has no
            ``W`` (``W z₀`` vanishes, and a ``W`` would get no gradient) and takes ``x`` alone.
        A_shape: ``(m, n)`` when ``A`` is ``None``.
        **kwargs: Base layer arguments.

    Call arguments:
        x: Signals ``(batch, m)``.
        z: Current codes ``(batch, n)``; omitted (``None``) for the first layer, ``z = 0``,
            which gives ``η_θ(B x)``.
    """

    def __init__(
        self,
        A=None,
        lam=0.1,
        *,
        per_coordinate=False,
        support_percent=0.0,
        first=False,
        **kwargs,
    ):
        super().__init__(A, lam, support_percent=support_percent, **kwargs)
        self.per_coordinate = bool(per_coordinate)
        self.first = bool(first)

    def build(self, x_shape, z_shape=None):
        if self.first and z_shape is not None:
            raise ValueError(self._first_error())
        super().build(x_shape, z_shape)

    def _first_error(self):
        return (
            f"{self.name} was made with first=True (the first layer, z = 0, which has no W): "
            f"call it on x alone, or make it with first=False to feed it codes."
        )

    def _make_weights(self):
        B = W = None
        if self._A_value is not None:
            B = self._A_value.T / self._L
            W = np.eye(self.n) - B @ self._A_value
        self.B = self._add_matrix("B", B, (self.n, self.m), trainable=True)
        if not self.first:
            self.W = self._add_matrix("W", W, (self.n, self.n), trainable=True)
        self._add_threshold((self.n,) if self.per_coordinate else ())

    def call(self, x, z=None):
        x, z = self._inputs(x, z)
        u = tf.matmul(x, tf.cast(self.B, self.compute_dtype), transpose_b=True)
        if z is not None:
            if self.first:
                raise ValueError(self._first_error())
            u = u + tf.matmul(z, tf.cast(self.W, self.compute_dtype), transpose_b=True)
        return self._shrink(u)

    def get_config(self):
        config = super().get_config()
        config.update(per_coordinate=self.per_coordinate, first=self.first)
        return config


@keras.saving.register_keras_serializable(package="keraslab")
class LISTACPCell(_LearnedCell):
    """One LISTA-CP layer (Chen, Liu, Wang & Yin, 2018): ``z_next = η_θ(z + Wᵀ(x − A z))``.

    The coupling ``W_2 = I − W_1 A`` that Chen et al. show necessary for convergence is built in,
    leaving one learned ``W ∈ R^{m×n}`` (initialised to ``A/L``, so the cell starts as one ISTA
    step) and ``θ`` (initialised to ``λ/L``). ``A`` is a fixed, non-trainable weight. With
    ``support_percent > 0`` the cell is a LISTA-CPSS layer (support selection, Chen et al. 2018);
    Chen et al. grow the percentage with depth, ``p_t = min(p·t, p_max)`` (see
    :func:`keraslab.models.lista.support_schedule`).

    Args:
        A: The matrix ``(m, n)`` (or ``None`` with ``A_shape``, when the weights are loaded).
        lam: ``λ >= 0``; the initial threshold is ``λ/L``.
        per_coordinate: One threshold per code entry instead of a scalar.
        support_percent: ``p_t`` in ``[0, 100]``; 0 (default) is LISTA-CP.
        A_shape: ``(m, n)`` when ``A`` is ``None``.
        **kwargs: Base layer arguments.

    Call arguments:
        x: Signals ``(batch, m)``.
        z: Current codes ``(batch, n)``, or omitted for the first layer (``z = 0``).
    """

    def __init__(self, A=None, lam=0.1, *, per_coordinate=False, support_percent=0.0, **kwargs):
        super().__init__(A, lam, support_percent=support_percent, **kwargs)
        self.per_coordinate = bool(per_coordinate)

    def _make_weights(self):
        W = None if self._A_value is None else self._A_value / self._L
        self._add_fixed_matrix()
        self.W = self._add_matrix("W", W, (self.m, self.n), trainable=True)
        self._add_threshold((self.n,) if self.per_coordinate else ())

    def call(self, x, z=None):
        x, z = self._inputs(x, z)
        update = tf.matmul(self._residual(x, z), tf.cast(self.W, self.compute_dtype))
        return self._shrink(update if z is None else z + update)

    def get_config(self):
        config = super().get_config()
        config["per_coordinate"] = self.per_coordinate
        return config


@keras.saving.register_keras_serializable(package="keraslab")
class ALISTACell(_LearnedCell):
    """One ALISTA layer (Liu, Chen, Wang & Yin, 2019)::

        z_next = η^{ss}_{θ, p}(z − γ Wᵀ(A z − x))

    ``W`` is the analytic weight of :func:`analytic_weight`, computed once from ``A`` in NumPy;
    ``A`` and ``W`` are fixed (non-trainable) weights. Only the scalar step ``γ`` (initialised
    to 1) and threshold ``θ`` (initialised to ``λ/L``; the authors' code uses ``λ/(1.001 L)``)
    are learned: two parameters per layer. Support selection as in LISTA-CPSS, with ``p``
    growing per layer (:func:`keraslab.models.lista.support_schedule`).

    Args:
        A: The matrix ``(m, n)`` (or ``None`` with ``A_shape``, when the weights are loaded).
        lam: ``λ >= 0``; the initial threshold is ``λ/L``.
        W: The analytic weight, if already computed (a T-layer model shares one); default
            ``analytic_weight(A)``.
        support_percent: ``p`` in ``[0, 100]``.
        A_shape: ``(m, n)`` when ``A`` is ``None``.
        **kwargs: Base layer arguments.

    Call arguments:
        x: Signals ``(batch, m)``.
        z: Current codes ``(batch, n)``, or omitted for the first layer (``z = 0``).
    """

    def __init__(self, A=None, lam=0.1, *, W=None, support_percent=0.0, **kwargs):
        super().__init__(A, lam, support_percent=support_percent, **kwargs)
        self._W_value = None
        if self._A_value is not None:
            if W is None:
                W = analytic_weight(self._A_value)
            W = np.asarray(W, dtype=np.float64)
            if W.shape != (self.m, self.n):
                raise ValueError(
                    f"ALISTACell: W must have the shape of A, ({self.m}, {self.n}), got "
                    f"{W.shape}. Compute it with analytic_weight(A)."
                )
            self._W_value = W

    def _make_weights(self):
        self._add_fixed_matrix()
        self.W = self._add_matrix("W", self._W_value, (self.m, self.n), trainable=False)
        self.gamma = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(1.0), name="gamma"
        )
        self._add_threshold(())
        self._W_value = None

    def call(self, x, z=None):
        x, z = self._inputs(x, z)
        gamma = tf.cast(self.gamma, self.compute_dtype)
        update = gamma * tf.matmul(self._residual(x, z), tf.cast(self.W, self.compute_dtype))
        return self._shrink(update if z is None else z + update)
