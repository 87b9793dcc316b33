"""The Morlet filter bank: definitions, periodization, and agreement with Kymatio 0.3's bank."""

import numpy as np
import pytest

from keraslab.layers import filters


def test_morlet_has_zero_mean_and_gabor_is_a_normalized_gaussian():
    psi = filters.morlet_2d(32, 32, sigma=0.8, theta=np.pi / 8, xi=3 * np.pi / 4, slant=0.5)
    assert abs(psi.sum()) < 1e-10 * np.abs(psi).sum()
    # With a 5x5 periodization the Gaussian's mass is (almost) exactly 1 up to 3.1415 vs pi.
    phi = filters.gabor_2d(32, 32, sigma=3.2, theta=0.0, xi=0.0)
    np.testing.assert_allclose(phi.sum().real, np.pi / 3.1415, rtol=1e-9)
    assert np.abs(phi.imag).max() == 0


def test_periodize_matches_a_direct_fold():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((16, 24))
    out = filters.periodize_filter_fft(h, 2)
    masked = h.copy()
    masked[2:14, :] = 0  # M·2^-3 = 2 ... 2 + 16·(3/4) = 14
    masked[:, 3:21] = 0
    expected = sum(masked[a * 4 : a * 4 + 4, b * 6 : b * 6 + 6] for a in range(4) for b in range(4))
    np.testing.assert_allclose(out, expected)
    np.testing.assert_array_equal(filters.periodize_filter_fft(h, 0), h)


def test_bank_shapes_and_resolutions():
    bank = filters.filter_bank(40, 48, J=3, L=6)
    assert bank.shape == (40, 48) and (bank.J, bank.L) == (3, 6)
    assert [p.shape for p in bank.phi] == [(40, 48), (20, 24), (10, 12)]
    # psi[j] is needed at resolutions 0 … min(j, J-2).
    assert [len(levels) for levels in bank.psi] == [1, 2, 2]
    assert bank.psi[2][1].shape == (6, 20, 24)
    assert bank.phi[0].dtype == np.float32


def test_bank_rejects_bad_sizes():
    with pytest.raises(ValueError, match="divisible"):
        filters.filter_bank(36, 40, J=3)
    with pytest.raises(ValueError, match="J >= 1"):
        filters.filter_bank(32, 32, J=0)


@pytest.mark.parametrize(("M", "N", "J", "L"), [(40, 40, 2, 8), (48, 32, 3, 4), (32, 32, 1, 6)])
def test_bank_equals_kymatio(M, N, J, L):
    kymatio_bank = pytest.importorskip("kymatio.scattering2d.filter_bank")
    ref = kymatio_bank.filter_bank(M, N, J, L)
    ours = filters.filter_bank(M, N, J, L)
    for res, level in enumerate(ref["phi"]["levels"]):
        np.testing.assert_allclose(ours.phi[res], level, rtol=0, atol=1e-6 * np.abs(level).max())
    for psi in ref["psi"]:
        j, theta = psi["j"], psi["theta"]
        assert len(psi["levels"]) == len(ours.psi[j])
        for res, level in enumerate(psi["levels"]):
            np.testing.assert_allclose(
                ours.psi[j][res][theta], level, rtol=0, atol=1e-6 * np.abs(level).max()
            )
