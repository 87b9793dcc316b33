"""Synthetic sparse-coding problems: ``x = A z + ε``, Gaussian ``A``, Bernoulli–Gaussian ``z``.

The setting of the LISTA literature (Chen, Liu, Wang & Yin, 2018; Liu, Chen, Wang & Yin, 2019):

* ``A ∈ R^{m×n}`` with i.i.d. Gaussian entries and each column scaled to unit ℓ₂ norm
  (default ``m = 250``, ``n = 500``), drawn once per seed with NumPy;
* codes ``z_i = b_i · g_i`` with ``b_i ~ Bernoulli(p)`` and ``g_i ~ N(0, 1)`` independent
  (default ``p = 0.1``);
* white Gaussian noise ``ε ~ N(0, σ² I_m)`` at a given signal-to-noise ratio in dB, defined on
  expectations: ``SNR = 10·log10(E‖A z‖² / E‖ε‖²)``, so ``σ² = p‖A‖_F² / (m · 10^{SNR/10})``
  (``E‖Az‖² = p‖A‖_F² = p·n`` for unit columns). ``SNR = ∞`` is noiseless.

Examples are streamed as a ``tf.data.Dataset`` of ``(x, z)`` batches, ``x`` ``(batch, m)`` and
``z`` ``(batch, n)`` float32, generated on the fly by stateless random ops keyed on
``(seed, batch index)``: the same seed gives the same batches, in any run and with any amount of
``tf.data`` parallelism. TensorFlow is imported only when data is generated, so the rest of
``keraslab.data`` stays fast to import.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from keraslab.errors import UnknownNameError

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "PROBLEMS",
    "PROBLEM_SEEDS",
    "SparseCodingProblem",
    "gaussian_dictionary",
    "get_problem",
    "sparse_coding_problem",
]


def _check_size(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}.")
    return int(seed)


def gaussian_dictionary(m: int = 250, n: int = 500, seed: int = 0) -> np.ndarray:
    """``A ∈ R^{m×n}``, i.i.d. ``N(0, 1)`` entries, each column scaled to unit ℓ₂ norm (float32).

    The same ``(m, n, seed)`` always gives the same matrix (NumPy's PCG64 generator).
    """
    m, n = _check_size(m, "m"), _check_size(n, "n")
    A = np.random.default_rng(_check_seed(seed)).standard_normal((m, n))
    return (A / np.linalg.norm(A, axis=0, keepdims=True)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class SparseCodingProblem:
    """``x = A z + ε``: a matrix, a code distribution and a noise level; generates ``(x, z)``.

    Attributes:
        A: The ``(m, n)`` float32 matrix.
        p: Probability that a code entry is non-zero, in ``(0, 1]``.
        snr_db: Signal-to-noise ratio in dB (``math.inf``: noiseless).

    Build one with :func:`sparse_coding_problem` (Gaussian ``A``) or directly from any ``A``.
    """

    A: np.ndarray
    p: float = 0.1
    snr_db: float = math.inf

    def __post_init__(self):
        A = np.asarray(self.A, dtype=np.float32)
        if A.ndim != 2 or 0 in A.shape:
            raise ValueError(
                f"SparseCodingProblem: A must be a non-empty 2-D matrix (m, n), got shape "
                f"{A.shape}."
            )
        if not np.all(np.isfinite(A)):
            raise ValueError("SparseCodingProblem: A contains NaN or infinite entries.")
        object.__setattr__(self, "A", A)
        if isinstance(self.p, bool) or not isinstance(self.p, numbers.Real) or not 0 < self.p <= 1:
            raise ValueError(
                f"p (the probability that a code entry is non-zero) must be in (0, 1], got "
                f"{self.p!r}; e.g. p=0.1 for 10 % non-zeros."
            )
        snr = self.snr_db
        if (
            snr is None
            or isinstance(snr, bool)
            or not isinstance(snr, numbers.Real)
            or (math.isnan(snr) or snr == -math.inf)
        ):
            raise ValueError(f"snr_db must be a number of dB or math.inf (noiseless), got {snr!r}.")
        object.__setattr__(self, "p", float(self.p))
        object.__setattr__(self, "snr_db", float(snr))

    @property
    def m(self) -> int:
        """Signal length (rows of ``A``)."""
        return self.A.shape[0]

    @property
    def n(self) -> int:
        """Code length (columns of ``A``)."""
        return self.A.shape[1]

    @property
    def noise_std(self) -> float:
        """``σ = √(p‖A‖_F² / (m · 10^{SNR/10}))``; 0 when noiseless."""
        if math.isinf(self.snr_db):
            return 0.0
        signal_power = self.p * float(np.sum(np.square(self.A, dtype=np.float64))) / self.m
        return math.sqrt(signal_power / 10.0 ** (self.snr_db / 10.0))

    def _batch(self, index, batch_size: int, seed: int):
        """One batch ``(x, z)`` from stateless ops keyed on ``(seed, index)`` (graph-safe)."""
        import tensorflow as tf

        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)])
        support_key, value_key, noise_key = tf.unstack(
            tf.random.experimental.stateless_split(key, num=3)
        )
        shape = [batch_size, self.n]
        support = tf.random.stateless_uniform(shape, support_key) < self.p
        z = tf.where(support, tf.random.stateless_normal(shape, value_key), 0.0)
        x = tf.matmul(z, tf.constant(self.A), transpose_b=True)
        if self.noise_std > 0:
            x += self.noise_std * tf.random.stateless_normal([batch_size, self.m], noise_key)
        return x, z

    def dataset(
        self, batch_size: int = 64, seed: int = 0, num_batches: int | None = None
    ) -> tf.data.Dataset:
        """A ``tf.data.Dataset`` of ``(x, z)`` batches: ``(batch_size, m)``, ``(batch_size, n)``.

        Batch ``i`` is a function of ``(seed, i, batch_size)`` only, so the same arguments give
        the same stream; different seeds give independent streams (use one for training and
        another for validation). Infinite unless ``num_batches`` is given.
        """
        import tensorflow as tf

        batch_size = _check_size(batch_size, "batch_size")
        seed = _check_seed(seed)
        if num_batches is None:
            indices = tf.data.Dataset.counter()
        else:
            indices = tf.data.Dataset.range(_check_size(num_batches, "num_batches"))
        return indices.map(
            lambda i: self._batch(i, batch_size, seed),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        ).prefetch(tf.data.AUTOTUNE)

    def sample(self, num: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``num`` examples as NumPy arrays ``(x, z)``: the first batch of
        ``dataset(batch_size=num, seed=seed)`` — e.g. a fixed validation or test set."""
        x, z = self._batch(0, _check_size(num, "num"), _check_seed(seed))
        return x.numpy(), z.numpy()


def sparse_coding_problem(
    m: int = 250, n: int = 500, p: float = 0.1, snr_db: float = math.inf, seed: int = 0
) -> SparseCodingProblem:
    """The LISTA benchmark problem: :func:`gaussian_dictionary` ``A`` and Bernoulli(p)×N(0, 1)
    codes at ``snr_db`` (default noiseless). ``seed`` draws ``A``; the data streams take their
    own seeds (:meth:`SparseCodingProblem.dataset`)."""
    return SparseCodingProblem(gaussian_dictionary(m, n, seed), p=p, snr_db=snr_db)


#: Named problems (arguments of :func:`sparse_coding_problem`) that zoo entries and the CLI
#: refer to: the LISTA literature's default 250 × 500 problem, noiseless and at 40 dB, and a
#: 25 × 50 one small enough for smoke tests.
PROBLEMS: dict[str, dict[str, float]] = {
    "gaussian_250x500": {"m": 250, "n": 500, "p": 0.1, "snr_db": math.inf, "seed": 0},
    "gaussian_250x500_40db": {"m": 250, "n": 500, "p": 0.1, "snr_db": 40.0, "seed": 0},
    "gaussian_25x50": {"m": 25, "n": 50, "p": 0.1, "snr_db": math.inf, "seed": 0},
}

#: Seeds of a named problem's fixed splits (``problem.sample(size, seed)``) and of its training
#: stream (``problem.dataset(batch, seed=train + run seed)``), as in the LISTA benchmark.
PROBLEM_SEEDS = {"validation": 1, "test": 2, "train": 10}


def get_problem(name: str) -> SparseCodingProblem:
    """The named problem of :data:`PROBLEMS` (raises :class:`UnknownNameError` listing them)."""
    try:
        kwargs = PROBLEMS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown sparse-coding problem {name!r}; known problems: {', '.join(PROBLEMS)}"
        ) from None
    return sparse_coding_problem(**kwargs)
