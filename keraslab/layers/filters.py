"""Morlet and Gabor filter banks for the 2D scattering transform, in NumPy.

The definitions are those of Kymatio 0.3's 2D filter bank (Andreux et al., 2020, "Kymatio:
Scattering Transforms in Python", JMLR 21(60)), which follow Bruna & Mallat (2013), "Invariant
Scattering Convolution Networks", IEEE TPAMI 35(8), and Mallat (2012), "Group Invariant
Scattering", CPAM 65(10). They are re-derived here so that :class:`keraslab.layers.Scattering2D`
reproduces Kymatio's coefficients without depending on it.

For a spatial grid of size ``M × N`` (the *padded* input size, a multiple of ``2**J``):

* Gabor filter, periodized over the ``5 × 5`` translates of the grid by ``e ∘ (M, N)``,
  ``e ∈ {−2 … 2}²``, so that it wraps around smoothly::

      g_{σ,θ,ξ,s}(u) = s / (2 · 3.1415 · σ²) · Σ_e exp(−|D_s R_θᵀ (u + e∘(M, N))|² / (2σ²))
                                               · exp(i ξ (cos θ, sin θ) · (u + e∘(M, N)))

  with ``R_θ`` the rotation by ``θ`` and ``D_s = diag(1, s)`` (``s`` is the *slant*: the envelope
  is ``1/s`` times longer across the direction of oscillation than along it). The normalization
  uses ``3.1415`` rather than ``π``, as Kymatio does; it only scales the filters (by
  ``1 + 3e-5``) but is kept so the coefficients agree with Kymatio's to better than ``1e-5``.

* Morlet wavelet: a Gabor filter minus a multiple of its envelope so that it has zero mean::

      ψ = g_{σ,θ,ξ,s} − β g_{σ,θ,0,s},    β = Σ_u g_{σ,θ,ξ,s}(u) / Σ_u g_{σ,θ,0,s}(u).

* The bank, for ``j = 0 … J−1`` and ``θ = 0 … L−1`` (Bruna & Mallat's choice of constants)::

      ψ_{j,θ} = Morlet with σ = 0.8 · 2**j,  ξ = (3π/4) · 2**−j,  slant = 4/L,
                angle (⌊L − L/2 − 1⌋ − θ) · π / L
      φ_J     = Gabor with σ = 0.8 · 2**(J−1),  ξ = 0,  slant = 1 (a Gaussian low-pass).

All filters are stored in the Fourier domain as the real part of their 2D DFT (the imaginary
part vanishes up to round-off). A filter applied to a signal that has already been subsampled by
``2**res`` is *periodized* to the coarser grid: the high frequencies are zeroed and the spectrum
is folded (summed) onto the ``M / 2**res × N / 2**res`` grid — see :func:`periodize_filter_fft`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = [
    "FilterBank",
    "filter_bank",
    "gabor_2d",
    "morlet_2d",
    "periodize_filter_fft",
]

# Kymatio's normalization constant (a truncated π): see the module docstring.
_KYMATIO_PI = 3.1415


def gabor_2d(
    M: int, N: int, sigma: float, theta: float, xi: float, slant: float = 1.0, offset: int = 0
) -> np.ndarray:
    """A 2D Gabor filter ``g(u) = exp(−uᵀ Σ u / 2) e^{i ξ·u}`` in space, periodized on ``M × N``.

    ``Σ = R_θ diag(1, slant²) R_θᵀ / σ²``; the frequency vector is ``ξ (cos θ, sin θ)``; the
    filter is summed over the ``5 × 5`` translates of the grid by multiples of ``(M, N)`` and
    divided by ``2 · 3.1415 · σ² / slant``. Coordinates start at ``offset`` (``0``: the filter is
    centred on the origin, i.e. on the grid's corner, as the FFT expects).

    Args:
        M, N: Spatial size of the grid.
        sigma: Width of the Gaussian envelope, in pixels.
        theta: Orientation, in radians.
        xi: Central frequency, in radians per pixel.
        slant: Ratio of the envelope's widths along and across the orientation.
        offset: First coordinate of the grid.

    Returns:
        Complex128 array of shape ``(M, N)``.
    """
    c, s = np.cos(theta), np.sin(theta)
    R = np.array([[c, -s], [s, c]])
    curv = R @ np.diag([1.0, slant * slant]) @ R.T / (2.0 * sigma * sigma)
    x = np.arange(offset, offset + M, dtype=np.float64)
    y = np.arange(offset, offset + N, dtype=np.float64)
    shifts = np.arange(-2, 3, dtype=np.float64)
    # (5, M) and (5, N): every coordinate in each of the 5 translates of the grid.
    xx = (x[None, :] + shifts[:, None] * M)[:, None, :, None]
    yy = (y[None, :] + shifts[:, None] * N)[None, :, None, :]
    arg = -(curv[0, 0] * xx * xx + (curv[0, 1] + curv[1, 0]) * xx * yy + curv[1, 1] * yy * yy)
    arg = arg + 1j * xi * (xx * c + yy * s)
    gab = np.exp(arg).sum(axis=(0, 1))
    return gab / (2.0 * _KYMATIO_PI * sigma * sigma / slant)


def morlet_2d(
    M: int, N: int, sigma: float, theta: float, xi: float, slant: float = 0.5, offset: int = 0
) -> np.ndarray:
    """A 2D Morlet wavelet: ``ψ = g_ξ − β g_0`` with ``β`` chosen so that ``Σ_u ψ(u) = 0``.

    ``g_ξ`` is :func:`gabor_2d` with the given parameters and ``g_0`` the same with ``ξ = 0``
    (its Gaussian envelope). Arguments as for :func:`gabor_2d`. Returns a complex128 ``(M, N)``
    array.
    """
    wave = gabor_2d(M, N, sigma, theta, xi, slant, offset)
    envelope = gabor_2d(M, N, sigma, theta, 0.0, slant, offset)
    beta = wave.sum() / envelope.sum()
    return wave - beta * envelope


def periodize_filter_fft(h_hat: np.ndarray, res: int) -> np.ndarray:
    """Restrict a Fourier-domain filter to the grid of a signal subsampled by ``2**res``.

    The frequencies beyond the coarser grid's band are zeroed (Kymatio's mask: along each axis
    of length ``M`` the indices ``M·2**−(res+1) ≤ k < M·2**−(res+1) + M·(1 − 2**−res)`` are
    dropped) and the rest is folded::

        out[k, l] = Σ_{a, b < 2**res} h_hat[k + a·M/2**res, l + b·N/2**res].

    Args:
        h_hat: Real ``(M, N)`` filter in the Fourier domain; ``M`` and ``N`` divisible by
            ``2**res``.
        res: Resolution level (``0`` returns the filter unchanged).

    Returns:
        Array of shape ``(M // 2**res, N // 2**res)``, same dtype as ``h_hat``.
    """
    M, N = h_hat.shape
    k = 2**res
    if M % k or N % k:
        raise ValueError(f"filter size {(M, N)} is not divisible by 2**res = {k}")
    mask_x = np.ones(M, dtype=bool)
    mask_y = np.ones(N, dtype=bool)
    start_x, len_x = int(M * 2 ** (-res - 1)), int(M * (1 - 2 ** (-res)))
    start_y, len_y = int(N * 2 ** (-res - 1)), int(N * (1 - 2 ** (-res)))
    mask_x[start_x : start_x + len_x] = False
    mask_y[start_y : start_y + len_y] = False
    masked = h_hat * (mask_x[:, None] & mask_y[None, :])
    return masked.reshape(k, M // k, k, N // k).sum(axis=(0, 2))


@dataclasses.dataclass(frozen=True)
class FilterBank:
    """The Fourier-domain filters of a 2D scattering transform on an ``M × N`` (padded) grid.

    Attributes:
        shape: ``(M, N)``, the padded grid the filters were built on.
        J: Number of scales.
        L: Number of orientations.
        phi: ``phi[res]`` is the low-pass ``φ_J`` periodized to resolution ``res``, shape
            ``(M / 2**res, N / 2**res)``, for ``res = 0 … J−1``.
        psi: ``psi[j][res]`` is the stack of the ``L`` wavelets ``ψ_{j,θ}`` (``θ = 0 … L−1``)
            periodized to resolution ``res``, shape ``(L, M / 2**res, N / 2**res)``, for
            ``res = 0 … min(j, max(J − 2, 0))`` (the only resolutions the transform uses).
    """

    shape: tuple[int, int]
    J: int
    L: int
    phi: tuple[np.ndarray, ...]
    psi: tuple[tuple[np.ndarray, ...], ...]


def filter_bank(M: int, N: int, J: int, L: int = 8, dtype=np.float32) -> FilterBank:
    """Build the Morlet filter bank of Bruna & Mallat (2013) as Kymatio 0.3 does.

    ``ψ_{j,θ}``: :func:`morlet_2d` with ``σ = 0.8·2**j``, ``ξ = 3π/4·2**−j``, slant ``4/L`` and
    angle ``(⌊L − L/2 − 1⌋ − θ)·π/L``; ``φ_J``: :func:`gabor_2d` with ``σ = 0.8·2**(J−1)``,
    ``ξ = 0``. Each is transformed with a 2D FFT, its real part kept, and periodized with
    :func:`periodize_filter_fft` for each resolution the transform needs.

    The filters are computed in float64 and cast to ``dtype`` at the end.

    Args:
        M, N: Padded spatial size, divisible by ``2**J``.
        J: Number of scales (``≥ 1``).
        L: Number of orientations (``≥ 1``).
        dtype: Floating dtype of the returned arrays.

    Returns:
        A :class:`FilterBank`.
    """
    if J < 1 or L < 1:
        raise ValueError(f"need J >= 1 and L >= 1, got J={J}, L={L}")
    if M % 2**J or N % 2**J:
        raise ValueError(f"grid size {(M, N)} is not divisible by 2**J = {2**J}")
    psi = []
    for j in range(J):
        full = np.stack(
            [
                np.real(
                    np.fft.fft2(
                        morlet_2d(
                            M,
                            N,
                            sigma=0.8 * 2**j,
                            theta=(int(L - L / 2 - 1) - theta) * np.pi / L,
                            xi=3.0 / 4.0 * np.pi / 2**j,
                            slant=4.0 / L,
                        )
                    )
                )
                for theta in range(L)
            ]
        )
        levels = []
        for res in range(min(j + 1, max(J - 1, 1))):
            level = np.stack([periodize_filter_fft(f, res) for f in full])
            levels.append(level.astype(dtype))
        psi.append(tuple(levels))
    phi_full = np.real(np.fft.fft2(gabor_2d(M, N, sigma=0.8 * 2 ** (J - 1), theta=0.0, xi=0.0)))
    phi = tuple(periodize_filter_fft(phi_full, res).astype(dtype) for res in range(J))
    return FilterBank(shape=(M, N), J=J, L=L, phi=phi, psi=tuple(psi))
