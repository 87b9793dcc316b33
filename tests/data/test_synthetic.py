"""Synthetic sparse-coding problems: the matrix, the code statistics, the SNR, seeding of the
tf.data stream, lazy TensorFlow import, and argument errors."""

import math
import subprocess
import sys

import numpy as np
import pytest

from keraslab.data.synthetic import (
    PROBLEMS,
    SparseCodingProblem,
    gaussian_dictionary,
    get_problem,
    sparse_coding_problem,
)
from keraslab.errors import UnknownNameError


def test_gaussian_dictionary_has_unit_columns_and_is_seeded():
    A = gaussian_dictionary()
    assert A.shape == (250, 500) and A.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(A, gaussian_dictionary(250, 500, seed=0))
    assert not np.array_equal(A, gaussian_dictionary(250, 500, seed=1))
    # Entries of a unit column of a Gaussian matrix have mean 0 and variance 1/m.
    assert abs(A.mean()) < 0.01 and A.var() == pytest.approx(1 / 250, rel=0.02)


def test_codes_are_bernoulli_gaussian_with_the_asked_sparsity():
    problem = sparse_coding_problem(m=50, n=200, p=0.1)
    x, z = problem.sample(2000, seed=3)
    assert x.shape == (2000, 50) and z.shape == (2000, 200)
    assert x.dtype == z.dtype == np.float32
    nonzero = z != 0
    # 400,000 Bernoulli(0.1) draws: the frequency is 0.1 ± 0.0005 (one standard deviation).
    assert nonzero.mean() == pytest.approx(0.1, abs=0.002)
    values = z[nonzero]
    assert abs(values.mean()) < 0.01 and values.std() == pytest.approx(1.0, abs=0.01)
    # Noiseless by default: x = A z.
    assert problem.snr_db == math.inf and problem.noise_std == 0.0
    np.testing.assert_allclose(x, z @ problem.A.T, rtol=1e-5, atol=1e-5)
    sparser = sparse_coding_problem(m=50, n=200, p=0.02).sample(2000, seed=3)[1]
    assert (sparser != 0).mean() == pytest.approx(0.02, abs=0.001)


@pytest.mark.parametrize("snr_db", [40.0, 10.0, 0.0])
def test_noise_gives_the_asked_snr(snr_db):
    problem = sparse_coding_problem(m=100, n=200, snr_db=snr_db)
    x, z = problem.sample(2000, seed=5)
    clean = z.astype(np.float64) @ problem.A.T
    noise = x - clean
    measured = 10 * np.log10(np.sum(clean**2) / np.sum(noise**2))
    assert measured == pytest.approx(snr_db, abs=0.15)
    assert abs(noise.mean()) < 3 * problem.noise_std / np.sqrt(noise.size)


def test_dataset_is_seeded_and_streams_batches():
    problem = sparse_coding_problem(m=20, n=40)
    first = [(x.numpy(), z.numpy()) for x, z in problem.dataset(8, seed=7).take(3)]
    again = [(x.numpy(), z.numpy()) for x, z in problem.dataset(8, seed=7).take(3)]
    other = next(iter(problem.dataset(8, seed=8)))
    for (x1, z1), (x2, z2) in zip(first, again, strict=True):
        assert x1.shape == (8, 20) and z1.shape == (8, 40)
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(z1, z2)
    assert not np.array_equal(first[0][1], first[1][1])  # batches differ from one another
    assert not np.array_equal(first[0][1], other[1].numpy())
    # sample(num, seed) is the first batch of dataset(batch_size=num, seed).
    np.testing.assert_array_equal(problem.sample(8, seed=7)[1], first[0][1])
    assert len(list(problem.dataset(4, num_batches=5))) == 5
    assert problem.dataset(4).cardinality() == -1  # infinite


def test_problem_from_any_matrix():
    A = np.arange(12.0).reshape(3, 4) + 1
    problem = SparseCodingProblem(A, p=0.5, snr_db=20)
    assert (problem.m, problem.n) == (3, 4) and problem.A.dtype == np.float32
    expected = math.sqrt(0.5 * np.sum(A**2) / 3 / 100)
    assert problem.noise_std == pytest.approx(expected, rel=1e-6)


def test_importing_it_does_not_import_tensorflow():
    code = (
        "import sys, keraslab.data.synthetic as s; "
        "s.sparse_coding_problem(m=5, n=10).noise_std; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sparse_coding_problem(p=0.0), r"p \(the probability.*\(0, 1\]"),
        (lambda: sparse_coding_problem(p=1.5), r"p \(the probability"),
        (lambda: sparse_coding_problem(m=0), "m must be an integer >= 1"),
        (lambda: sparse_coding_problem(n=2.5), "n must be an integer >= 1"),
        (lambda: sparse_coding_problem(snr_db=float("nan")), "snr_db must be a number of dB"),
        (lambda: sparse_coding_problem(snr_db=None), "snr_db must be a number of dB"),
        (lambda: sparse_coding_problem(seed=-1), "seed must be an integer >= 0"),
        (lambda: SparseCodingProblem(np.ones(4)), r"2-D matrix \(m, n\), got shape \(4,\)"),
        (lambda: sparse_coding_problem(m=5, n=10).dataset(0), "batch_size must be"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_named_problems_are_the_literatures_default_and_fixed():
    default = get_problem("gaussian_250x500")
    assert (default.m, default.n, default.p, default.snr_db) == (250, 500, 0.1, math.inf)
    np.testing.assert_array_equal(default.A, gaussian_dictionary(250, 500, seed=0))
    noisy = get_problem("gaussian_250x500_40db")
    np.testing.assert_array_equal(noisy.A, default.A)  # same A, only the noise differs
    assert noisy.snr_db == 40.0
    assert set(PROBLEMS) >= {"gaussian_250x500", "gaussian_250x500_40db", "gaussian_25x50"}
    with pytest.raises(UnknownNameError, match="unknown sparse-coding problem 'x'.*gaussian_25x50"):
        get_problem("x")
