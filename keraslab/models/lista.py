"""Unrolled learned-ISTA networks (LISTA and its descendants) and the NMSE they are judged by.

:func:`lista` builds a ``T``-layer functional model from the cells of
:mod:`keraslab.layers.sparse` for one of five variants, initialised from ``A`` so that, before
training, every variant except ALISTA computes exactly ``T`` ISTA iterations::

    lista        untied LISTA, z_t = η_{θ_t}(W_t z_{t−1} + B_t x)        (Chen et al., 2018, eq. 3)
    lista_tied   one LISTA cell reused T times                        (Gregor & LeCun, 2010)
    lista_cp     z_t = η_{θ_t}(z_{t−1} + W_tᵀ(x − A z_{t−1}))           (Chen et al., 2018)
    lista_cpss   lista_cp with support selection, p_t = min(p·t, p_max) (Chen et al., 2018)
    alista       z_t = η^{ss}_{θ_t,p_t}(z_{t−1} − γ_t Wᵀ(A z_{t−1} − x)), analytic W
                                                                      (Liu et al., 2019)

with ``z_0 = 0``; the notation (``x`` signal, ``z`` code, ``A`` the ``m×n`` matrix) and its
mapping to the papers' is in :mod:`keraslab.layers.sparse`. :func:`nmse_db` and
:class:`NMSE` measure ``10·log10(E‖ẑ − z‖² / E‖z‖²)``, the papers' figure of merit.
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np

from keraslab.layers.sparse import ALISTACell, LISTACell, LISTACPCell, analytic_weight

__all__ = ["NMSE", "VARIANTS", "lista", "nmse_db", "support_schedule"]

VARIANTS = ("lista", "lista_tied", "lista_cp", "lista_cpss", "alista")


def support_schedule(T: int, percent: float = 1.2, max_percent: float = 13.0) -> list[float]:
    """Support-selection percentages ``p_t = min(p·t, p_max)``, ``t = 1 … T`` (Chen et al., 2018).

    The defaults, 1.2 % more per layer up to 13 %, are those of the authors' published commands
    for the 250 × 500, ``p = 0.1`` problem (LISTA-CPSS and ALISTA alike).
    """
    return [min(percent * t, max_percent) for t in range(1, T + 1)]


def _check_args(A, T, lam, variant, percent, max_percent, per_coordinate) -> np.ndarray:
    array = np.asarray(A)
    if array.ndim != 2:
        raise ValueError(
            f"lista: A must be a 2-D matrix of shape (m, n) (signals x = A z in R^m, codes z in "
            f"R^n), got an array of shape {array.shape}. Pass the matrix itself, e.g. "
            f"keraslab.data.synthetic.sparse_coding_problem().A."
        )
    if isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 1:
        raise ValueError(
            f"lista: T (the number of layers) must be an integer >= 1, got {T!r}. The papers use "
            f"T=16."
        )
    if (
        isinstance(lam, bool)
        or not isinstance(lam, numbers.Real)
        or not math.isfinite(lam)
        or lam < 0
    ):
        raise ValueError(
            f"lista: lam must be a finite number >= 0 (the λ of ½‖x − Az‖² + λ‖z‖₁; the initial "
            f"thresholds are λ/L), got {lam!r}. Use lam=0 for no initial shrinkage."
        )
    if variant not in VARIANTS:
        raise ValueError(f"lista: unknown variant {variant!r}; choose one of {VARIANTS}.")
    for name, value in (("support_percent", percent), ("max_support_percent", max_percent)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 100:
            raise ValueError(
                f"lista: {name} must be a percentage in [0, 100] (e.g. 1.2 for 1.2 %), got "
                f"{value!r}."
            )
    if per_coordinate and variant == "alista":
        raise ValueError(
            "lista: ALISTA learns one scalar threshold per layer (2 parameters per layer); "
            "per_coordinate=True is for the LISTA and LISTA-CP(SS) variants."
        )
    return array


def lista(
    A: np.ndarray,
    T: int = 16,
    variant: str = "lista",
    lam: float = 0.1,
    *,
    return_all: bool = False,
    per_coordinate: bool = False,
    support_percent: float = 1.2,
    max_support_percent: float = 13.0,
    dtype: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """A ``T``-layer unrolled LISTA-family network for the matrix ``A`` (``m × n``).

    The model maps signals ``x`` (``(batch, m)``, input named ``"signal"``) to codes ``ẑ``
    (``(batch, n)``). Cells are named ``layer_1 … layer_T`` (``lista_cell`` for the tied
    variant), so ``model.get_layer("layer_3")`` reaches the third layer for stage-wise
    training. Initialisation: ``B = Aᵀ/L``, ``W = I − BA``, CP ``W = A/L``, ``θ = λ/L`` with
    ``L = ‖A‖₂²``; ALISTA: ``W`` from :func:`keraslab.layers.sparse.analytic_weight`,
    ``γ = 1``, ``θ = λ/L``.

    Args:
        A: The matrix ``(m, n)``, e.g. ``keraslab.data.synthetic.sparse_coding_problem().A``.
        T: Number of layers, ``>= 1``.
        variant: One of :data:`VARIANTS` (see the module docstring).
        lam: ``λ >= 0`` of the lasso the initialisation comes from.
        return_all: Output the list ``[z_1, …, z_T]`` of every layer's estimate (named
            ``z_1 … z_T``), for per-layer losses and NMSE-per-layer curves, instead of ``z_T``.
        per_coordinate: One threshold per code entry (not for ``alista``).
        support_percent: ``p``, the support-selection percentage added per layer
            (``lista_cpss`` and ``alista`` only).
        max_support_percent: ``p_max``, its cap.
        dtype: The input's and the cells' dtype (e.g. ``"float64"`` to compare with a
            double-precision reference); default: the global dtype policy.
        name: Model name; defaults to ``variant``.

    Returns:
        A functional ``keras.Model``.

    Raises:
        ValueError: ``A`` not 2-D, ``T < 1``, negative ``lam``, an unknown variant, a
            percentage outside ``[0, 100]``, or ``per_coordinate`` with ``alista``.
    """
    A = _check_args(A, T, lam, variant, support_percent, max_support_percent, per_coordinate)
    m = A.shape[0]
    percents = support_schedule(T, support_percent, max_support_percent)
    if variant == "lista_tied":
        cell = LISTACell(A, lam, per_coordinate=per_coordinate, dtype=dtype, name="lista_cell")
        cells = [cell] * T
    elif variant == "lista":
        cells = [
            LISTACell(
                A, lam, per_coordinate=per_coordinate, first=t == 1, dtype=dtype, name=f"layer_{t}"
            )
            for t in range(1, T + 1)
        ]
    elif variant in ("lista_cp", "lista_cpss"):
        ss = variant == "lista_cpss"
        cells = [
            LISTACPCell(
                A,
                lam,
                per_coordinate=per_coordinate,
                support_percent=percents[t - 1] if ss else 0.0,
                dtype=dtype,
                name=f"layer_{t}",
            )
            for t in range(1, T + 1)
        ]
    else:
        W = analytic_weight(A)  # once, not once per layer
        cells = [
            ALISTACell(A, lam, W=W, support_percent=percents[t - 1], dtype=dtype, name=f"layer_{t}")
            for t in range(1, T + 1)
        ]

    input_dtype = None if dtype is None else keras.DTypePolicy(dtype).variable_dtype
    x = keras.Input((m,), dtype=input_dtype, name="signal")
    z = None
    estimates = []
    for cell in cells:
        z = cell(x) if z is None else cell(x, z)
        estimates.append(z)
    if return_all:
        # Identity layers give the outputs distinct names, even when one tied cell made them all.
        outputs = [
            keras.layers.Identity(dtype=dtype, name=f"z_{t}")(e)
            for t, e in enumerate(estimates, start=1)
        ]
    else:
        outputs = z
    return keras.Model(x, outputs, name=name or variant)


def nmse_db(z_hat, z):
    """Normalized mean squared error in dB, ``10·log10(Σ‖ẑ − z‖² / Σ‖z‖²)``.

    The sums run over the whole batch (every sample and coordinate): a *ratio of sums*, the
    estimate of ``E‖ẑ − z‖² / E‖z‖²`` that Chen et al. (2018) and Liu et al. (2019) report — not
    the mean of per-sample ratios, which all-but-empty codes would dominate. Works on NumPy
    arrays and tensors (eager or traced); returns a scalar tensor (``float(...)`` for a
    number). ``−∞`` for a perfect estimate; undefined (``nan``/``inf``) when ``z`` is all zero.
    """
    z_hat = keras.ops.convert_to_tensor(z_hat)
    z = keras.ops.cast(z, z_hat.dtype)
    error = keras.ops.sum(keras.ops.square(z_hat - z))
    energy = keras.ops.sum(keras.ops.square(z))
    return 10.0 * keras.ops.log10(error / energy)


@keras.saving.register_keras_serializable(package="keraslab")
class NMSE(keras.metrics.Metric):
    """:func:`nmse_db` accumulated over an evaluation: ``10·log10(Σ‖ẑ − z‖² / Σ‖z‖²)``.

    Both sums run over every batch seen since the last reset (a ratio of sums over the whole
    dataset, not a mean of per-batch dB values), so ``model.evaluate`` reports the papers'
    ``E‖ẑ − z‖² / E‖z‖²`` in dB. Optional ``sample_weight`` weights each sample in both sums.

    Example:

    ```python
    model.compile(optimizer="adam", loss="mse", metrics=[NMSE()])
    ```
    """

    def __init__(self, name: str = "nmse_db", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.error = self.add_variable((), "zeros", name="error", aggregation="sum")
        self.energy = self.add_variable((), "zeros", name="energy", aggregation="sum")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = keras.ops.cast(y_pred, self.dtype)
        y_true = keras.ops.cast(y_true, self.dtype)
        error = keras.ops.sum(keras.ops.square(y_pred - y_true), axis=-1)
        energy = keras.ops.sum(keras.ops.square(y_true), axis=-1)
        if sample_weight is not None:
            weight = keras.ops.reshape(keras.ops.cast(sample_weight, self.dtype), (-1,))
            error, energy = error * weight, energy * weight
        self.error.assign_add(keras.ops.sum(error))
        self.energy.assign_add(keras.ops.sum(energy))

    def result(self):
        return 10.0 * keras.ops.log10(self.error / self.energy)

    def reset_state(self):
        self.error.assign(0.0)
        self.energy.assign(0.0)
