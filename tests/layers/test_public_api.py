"""What ``keraslab.layers`` exports is what the labs and users may import: the scattering's
filter bank and padding rule included (lab 02 draws the filters with them)."""

import numpy as np

import keraslab.layers as layers
from keraslab.layers import Scattering2D, filter_bank, num_coefficients, scattering_padding


def test_every_name_in_all_is_importable():
    assert sorted(layers.__all__) == sorted(set(layers.__all__))
    for name in layers.__all__:
        assert getattr(layers, name) is not None, name


def test_filter_bank_on_the_padded_grid_matches_the_layer():
    J, L = 2, 8
    top, bottom, left, right = scattering_padding(28, 28, J)
    M, N = 28 + top + bottom, 28 + left + right
    assert (M % 2**J, N % 2**J) == (0, 0) and min(top, bottom, left, right) >= 2**J
    bank = filter_bank(M, N, J, L)
    assert len(bank.psi) == J and len(bank.psi[0][0]) == L
    assert np.asarray(bank.psi[0][0][0]).shape == (M, N)
    x = np.zeros((1, 28, 28, 1), np.float32)
    assert Scattering2D(J, L=L)(x).shape[-1] == num_coefficients(J, L) == 81
