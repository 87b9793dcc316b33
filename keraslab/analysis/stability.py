"""Stability of a representation: non-expansiveness, energy, translations, deformations, rotations.

Numerical checks of the properties that make the wavelet scattering transform a good image
representation (Mallat, 2012, "Group Invariant Scattering", CPAM 65(10); Bruna & Mallat, 2013,
"Invariant Scattering Convolution Networks", IEEE TPAMI 35(8)):

* non-expansive: ``‖Φx − Φy‖ ≤ ‖x − y‖`` (:func:`nonexpansiveness`);
* energy preserving, with the energy concentrated in the first orders (:func:`energy`);
* locally translation invariant: ``‖Φ T_a x − Φx‖`` small for ``|a| ≪ 2**J``
  (:func:`translation_invariance`);
* Lipschitz-stable to deformations: ``‖Φ L_τ x − Φx‖ ≤ C ‖x‖ (2**−J ‖τ‖∞ + ‖∇τ‖∞ + …)``,
  where the Fourier modulus, translation invariant too, is not (:func:`deformation_stability`);
* covariant to rotations: rotating the image rotates the maps and permutes the orientations
  (:func:`rotation_covariance`).

``Φ`` is any callable mapping a float32 batch ``(B, H, W, C)`` to a batch of arrays (a
:class:`keraslab.layers.Scattering2D` instance, a Keras model, :func:`fourier_modulus`, …). Every
function returns plain NumPy data in a small dataclass with a ``to_dict()`` for ``results.json``.

**Normalization of a subsampled output.** A ``Scattering2D(J)`` output is sampled on a grid
``2**J`` times coarser than the input, with no renormalization (as in Kymatio). Write
``U = x ⋆ φ_J`` (or ``|…| ⋆ φ_J``) on the input grid and ``S = U(2**J · + o)`` its samples at the
offset ``o`` the layer uses. The ``4**J`` offsets ``o ∈ {0 … 2**J − 1}²`` partition the grid, so
``Σ_o ‖U(2**J · + o)‖² = ‖U‖²``: ``4**J ‖S‖²`` is the full-resolution energy ``‖U‖²`` averaged
over the sampling offsets (exactly, in expectation, for a stationary signal; up to the aliasing
of ``φ_J``, whose Fourier transform still has 45 % of its peak at the new Nyquist frequency, for
one image). Hence, by default, norms of a ``Scattering2D`` output are **multiplied by 2**J**
(energies by ``4**J``) so they compare with norms of the input on its own grid; any other Φ is
taken as is (``scale=1``). Pass ``scale=`` to override.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from keraslab.layers.filters import filter_bank
from keraslab.layers.scattering import Scattering2D, scattering_padding
from keraslab.ops.validate import finite
from keraslab.ops.warping import warp

__all__ = [
    "DeformationCurve",
    "EnergyByOrder",
    "NonExpansiveness",
    "RotationCovariance",
    "ShiftCurve",
    "coefficient_orders",
    "coefficient_paths",
    "deform",
    "deformation_stability",
    "displacement_field",
    "energy",
    "fourier_modulus",
    "littlewood_paley_sum",
    "nonexpansiveness",
    "rotation_covariance",
    "shift_images",
    "translation_invariance",
]

Representation = Callable[[Any], Any]


# ---------------------------------------------------------------------------------- helpers


def _images(x: Any, name: str = "x") -> np.ndarray:
    """A float32 ``(B, H, W, C)`` NumPy batch (a ``(B, H, W)`` batch gets a channel axis)."""
    arr = np.asarray(keras.ops.convert_to_numpy(x) if not isinstance(x, np.ndarray) else x)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(
            f"{name} must be a batch of images (batch, height, width, channels), got shape "
            f"{arr.shape}. Add a batch axis for a single image (x[None])."
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    return finite(arr.astype(np.float32), name)


def _apply(phi: Representation, x: np.ndarray) -> np.ndarray:
    """``phi(x)`` as a float64 array ``(B, …)``."""
    out = phi(x)
    out = out if isinstance(out, np.ndarray) else keras.ops.convert_to_numpy(out)
    out = np.asarray(out, dtype=np.float64)
    if out.shape[:1] != x.shape[:1]:
        raise ValueError(
            f"phi must map a batch of {x.shape[0]} images to a batch of {x.shape[0]} arrays, "
            f"got an output of shape {out.shape}."
        )
    return out


def _norms(a: np.ndarray) -> np.ndarray:
    """Euclidean norm of each item of a batch."""
    return np.sqrt(np.sum(np.reshape(a, (a.shape[0], -1)) ** 2, axis=1))


def _scale(phi: Representation, scale: float | None) -> float:
    """The factor applied to norms of ``phi``'s outputs (see the module docstring)."""
    if scale is not None:
        return float(scale)
    return float(2**phi.J) if isinstance(phi, Scattering2D) else 1.0


def _relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``‖a − b‖ / ‖b‖`` per item (``0`` where both vanish)."""
    num, den = _norms(a - b), _norms(b)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _as_lists(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): _as_lists(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_as_lists(v) for v in obj]
    return obj


class _Result:
    def to_dict(self) -> dict:
        """The result as JSON-ready Python lists and numbers."""
        out = {f.name: _as_lists(getattr(self, f.name)) for f in dataclasses.fields(self)}
        for name in getattr(self, "_summaries", ()):
            out[name] = _as_lists(getattr(self, name))
        return out


# ---------------------------------------------------------------- the coefficient layout


def coefficient_paths(J: int, L: int = 8, max_order: int = 2) -> list[tuple[tuple[int, int], ...]]:
    """The scattering path of each coefficient ``k``, in Kymatio's (and ``Scattering2D``'s) order.

    ``()`` for ``k = 0`` (``x ⋆ φ_J``), ``((j1, θ1),)`` for ``k = 1 + j1·L + θ1``, then
    ``((j1, θ1), (j2, θ2))`` for ``||x ⋆ ψ_{j1,θ1}| ⋆ ψ_{j2,θ2}| ⋆ φ_J`` in the order of the loops
    ``j1, θ1, j2 > j1, θ2`` (Bruna & Mallat, 2013). The order of a path is its length.
    """
    paths: list[tuple[tuple[int, int], ...]] = [()]
    paths += [((j1, t1),) for j1 in range(J) for t1 in range(L)]
    if max_order == 2:
        paths += [
            ((j1, t1), (j2, t2))
            for j1 in range(J)
            for t1 in range(L)
            for j2 in range(j1 + 1, J)
            for t2 in range(L)
        ]
    return paths


def coefficient_orders(J: int, L: int = 8, max_order: int = 2) -> np.ndarray:
    """The order (0, 1 or 2) of each of the ``K`` coefficients, see :func:`coefficient_paths`."""
    return np.array([len(p) for p in coefficient_paths(J, L, max_order)], dtype=np.int64)


def littlewood_paley_sum(height: int, width: int, J: int, L: int = 8) -> np.ndarray:
    r"""The Littlewood–Paley sum of ``Scattering2D(J, L)``'s filters on its padded grid.

    For real signals (Mallat, 2012, eq. 2.9; Bruna & Mallat, 2013)::

        A(ω) = |φ̂_J(ω)|² + ½ Σ_{j<J, θ<L} (|ψ̂_{j,θ}(ω)|² + |ψ̂_{j,θ}(−ω)|²)

    If ``A(ω) ≤ 1`` for all ``ω``, one layer ``x ↦ (x ⋆ φ_J, |x ⋆ ψ_{j,θ}|)`` is non-expansive,
    and so is the scattering transform. Kymatio's Morlet bank is close to, not exactly, a tight
    frame: ``max A ≈ 1.0186`` for ``J = 3`` (``1.00006`` for ``J = 2``), ``min A ≈ 0.12`` (in
    the corners of the spectrum, beyond the finest wavelet).
    """
    top, bottom, left, right = scattering_padding(height, width, J)
    bank = filter_bank(height + top + bottom, width + left + right, J, L, dtype=np.float64)
    psi = np.concatenate([bank.psi[j][0] for j in range(J)])
    psi_minus = np.roll(psi[:, ::-1, ::-1], 1, axis=(1, 2))  # ψ̂(−ω) on the DFT grid
    return bank.phi[0] ** 2 + 0.5 * np.sum(psi**2 + psi_minus**2, axis=0)


# ---------------------------------------------------------------- 1. non-expansiveness


@dataclasses.dataclass(frozen=True)
class NonExpansiveness(_Result):
    """Per pair ``i``: ``ratios[i] = scale · ‖Φx_i − Φy_i‖ / ‖x_i − y_i‖``.

    Attributes:
        ratios: ``(B,)`` ratios.
        input_distances: ``(B,)`` ``‖x_i − y_i‖``.
        output_distances: ``(B,)`` ``scale · ‖Φx_i − Φy_i‖``.
        scale: factor applied to the representation's norms (``2**J`` for ``Scattering2D``).
    """

    ratios: np.ndarray
    input_distances: np.ndarray
    output_distances: np.ndarray
    scale: float
    _summaries = ("max_ratio", "mean_ratio")

    @property
    def max_ratio(self) -> float:
        return float(np.max(self.ratios))

    @property
    def mean_ratio(self) -> float:
        return float(np.mean(self.ratios))


def nonexpansiveness(
    phi: Representation, x: Any, y: Any, *, scale: float | None = None
) -> NonExpansiveness:
    r"""Measure ``‖Φx − Φy‖ / ‖x − y‖`` for pairs of images ``(x_i, y_i)``.

    The scattering transform is non-expansive, ``‖S_J x − S_J y‖ ≤ ‖x − y‖``, when its filters
    satisfy the Littlewood–Paley condition ``A(ω) ≤ 1`` (Mallat, 2012, Prop. 2.5): each layer
    is a frame operator of bound ``max A`` followed by a modulus, which is 1-Lipschitz. With
    Kymatio's filters (``max A ≈ 1.019`` for ``J = 3``, :func:`littlewood_paley_sum`) and two
    layers the bound is ``max A`` instead of 1. The layer's output is subsampled by ``2**J``
    without renormalization, so its norm is multiplied by ``scale = 2**J`` (see the module
    docstring); the aliasing of that subsampling and the reflect padding (the filters also see
    the mirrored border) make a single pair's ratio an estimate, not a bound.

    Args:
        phi: The representation, ``(B, H, W, C)`` → ``(B, …)``.
        x, y: Two batches of images of the same shape; pairs with ``x_i == y_i`` are rejected.
        scale: Factor on ``‖Φx − Φy‖``; default ``2**J`` for a ``Scattering2D``, else ``1``.

    Returns:
        A :class:`NonExpansiveness`.
    """
    xs, ys = _images(x, "x"), _images(y, "y")
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same shape, got {xs.shape} and {ys.shape}.")
    d_in = _norms(xs.astype(np.float64) - ys)
    if np.any(d_in == 0):
        raise ValueError("nonexpansiveness needs x_i != y_i for every pair.")
    s = _scale(phi, scale)
    d_out = s * _norms(_apply(phi, xs) - _apply(phi, ys))
    return NonExpansiveness(
        ratios=d_out / d_in, input_distances=d_in, output_distances=d_out, scale=s
    )


# ---------------------------------------------------------------- 2. energy per order


@dataclasses.dataclass(frozen=True)
class EnergyByOrder(_Result):
    """Energy of ``Φx`` per scattering order, as fractions of ``‖x‖²``.

    Attributes:
        input_energy: ``(B,)`` ``‖x_i‖²`` (after centering, if asked).
        order_energy: ``(B, max_order + 1)`` ``scale² · Σ_{|p| = m} ‖S_J[p] x_i‖²``.
        fractions: ``order_energy / input_energy``.
        scale: factor applied to the representation's norms.
    """

    input_energy: np.ndarray
    order_energy: np.ndarray
    fractions: np.ndarray
    scale: float
    _summaries = ("mean_fractions", "mean_total")

    @property
    def mean_fractions(self) -> np.ndarray:
        """Mean over images of the fraction of energy in each order."""
        return np.mean(self.fractions, axis=0)

    @property
    def mean_total(self) -> float:
        """Mean over images of ``‖Φx‖² / ‖x‖²``, all orders together."""
        return float(np.mean(np.sum(self.fractions, axis=1)))


def energy(
    phi: Representation,
    x: Any,
    *,
    orders: Sequence[int] | np.ndarray | None = None,
    center: bool = True,
    scale: float | None = None,
) -> EnergyByOrder:
    r"""Energy of the scattering coefficients per order, relative to the image's energy.

    For order ``m``: ``E_m(x) = scale² Σ_{|p| = m} ‖S_J[p] x‖² / ‖x‖²``. With a Littlewood–Paley
    sum equal to 1 the scattering of all orders preserves energy, ``Σ_m E_m = 1`` (Mallat, 2012,
    Thm. 2.6); the transform stops at order 2 and keeps only frequency-decreasing paths
    (``j2 > j1``), so ``Σ_{m≤2} E_m < 1`` up to the filters' excess over 1. On natural images
    the energy decays fast with the order: most of it is in orders ≤ 2 (Bruna & Mallat, 2013,
    Table 1), and ``E_0 > E_1 > E_2``.

    Args:
        phi: The representation. Its output, flattened, must list the ``K`` coefficients of
            each position and channel contiguously (``Scattering2D`` in either layout).
        x: Batch of images ``(B, H, W, C)``.
        orders: The order of each of the ``K`` coefficients; default from a ``Scattering2D``'s
            ``J``, ``L`` and ``max_order`` (:func:`coefficient_orders`).
        center: Subtract each image's mean per channel first, so ``E_0`` measures the image's
            low frequencies rather than its mean brightness. The wavelets have zero mean, so this
            changes only order 0 (and ``‖x‖²``).
        scale: Factor on the representation's norms; default ``2**J`` for a ``Scattering2D``.

    Returns:
        An :class:`EnergyByOrder`.
    """
    xs = _images(x)
    if center:
        xs = xs - xs.mean(axis=(1, 2), keepdims=True)
    if orders is None:
        if not isinstance(phi, Scattering2D):
            raise ValueError(
                "energy needs `orders` (the order of each coefficient) unless phi is a "
                "Scattering2D; see keraslab.analysis.coefficient_orders(J, L, max_order)."
            )
        orders = coefficient_orders(phi.J, phi.L, phi.max_order)
    orders = np.asarray(orders, dtype=np.int64)
    out = _apply(phi, xs)
    K = orders.size
    if out[0].size % K:
        raise ValueError(f"phi's output of shape {out.shape[1:]} does not hold K = {K} per site.")
    per_k = np.sum(np.reshape(out, (out.shape[0], -1, K)) ** 2, axis=1)  # (B, K)
    s = _scale(phi, scale)
    by_order = np.stack([per_k[:, orders == m].sum(axis=1) for m in range(orders.max() + 1)], 1)
    by_order = s * s * by_order
    e_in = _norms(xs.astype(np.float64)) ** 2
    fractions = np.divide(
        by_order, e_in[:, None], out=np.zeros_like(by_order), where=e_in[:, None] > 0
    )
    return EnergyByOrder(input_energy=e_in, order_energy=by_order, fractions=fractions, scale=s)


# ---------------------------------------------------------------- 3. translations


def shift_images(x: Any, shift: int | tuple[int, int], mode: str = "circular") -> np.ndarray:
    """Translate a batch ``(B, H, W, C)`` by ``shift = (rows, columns)`` (an int: columns).

    ``T_a x(u) = x(u − a)``; ``mode="circular"`` wraps around (``np.roll``), ``"zero"`` fills the
    uncovered border with zeros.
    """
    xs = _images(x)
    dy, dx = (0, int(shift)) if np.isscalar(shift) else (int(shift[0]), int(shift[1]))
    if mode == "circular":
        return np.roll(xs, (dy, dx), axis=(1, 2))
    if mode != "zero":
        raise ValueError(f"mode must be 'circular' or 'zero', got {mode!r}.")
    out = np.zeros_like(xs)
    H, W = xs.shape[1:3]
    src = xs[:, max(0, -dy) : H - max(0, dy), max(0, -dx) : W - max(0, dx)]
    out[:, max(0, dy) : max(0, dy) + src.shape[1], max(0, dx) : max(0, dx) + src.shape[2]] = src
    return out


@dataclasses.dataclass(frozen=True)
class ShiftCurve(_Result):
    """Relative change under translations ``a``, for Φ and for the raw pixels.

    Attributes:
        shifts: ``(S, 2)`` translations ``(rows, columns)``.
        representation: ``(S, B)`` ``‖Φ T_a x − Φx‖ / ‖Φx‖``.
        pixels: ``(S, B)`` ``‖T_a x − x‖ / ‖x‖``.
    """

    shifts: np.ndarray
    representation: np.ndarray
    pixels: np.ndarray
    _summaries = ("mean_representation", "mean_pixels")

    @property
    def mean_representation(self) -> np.ndarray:
        return self.representation.mean(axis=1)

    @property
    def mean_pixels(self) -> np.ndarray:
        return self.pixels.mean(axis=1)


def translation_invariance(
    phi: Representation,
    x: Any,
    shifts: Sequence[int | tuple[int, int]],
    *,
    mode: str = "circular",
) -> ShiftCurve:
    r"""Relative change ``‖Φ(T_a x) − Φx‖ / ‖Φx‖`` for each translation ``a`` in ``shifts``.

    The scattering transform is locally invariant to translations: ``‖S_J T_a x − S_J x‖ ≤
    C 2**−J |a| ‖x‖`` (Mallat, 2012, Thm. 2.10, with ``τ = a`` constant), small for
    ``|a| ≪ 2**J`` and growing with ``|a|``, whereas the pixels change by ``O(1)`` as soon as
    ``|a|`` exceeds the size of the image's details. The pixels' change
    ``‖T_a x − x‖ / ‖x‖`` is reported alongside. With ``mode="circular"`` what leaves one side
    re-enters on the other (harmless on images with a dark border, like MNIST); ``"zero"``
    pads with zeros.

    Args:
        phi: The representation.
        x: Batch of images ``(B, H, W, C)``.
        shifts: Translations: ints (columns) or ``(rows, columns)`` pairs.
        mode: ``"circular"`` or ``"zero"``, see :func:`shift_images`.

    Returns:
        A :class:`ShiftCurve`.
    """
    xs = _images(x)
    pairs = [(0, int(a)) if np.isscalar(a) else (int(a[0]), int(a[1])) for a in shifts]
    moved = np.concatenate([shift_images(xs, a, mode) for a in pairs])  # one call of phi
    base, out = _apply(phi, xs), _apply(phi, moved)
    S, B = len(pairs), xs.shape[0]
    rep = _relative(out, np.tile(base, (S,) + (1,) * (base.ndim - 1))).reshape(S, B)
    pix = _relative(moved, np.tile(xs, (S, 1, 1, 1))).reshape(S, B)
    return ShiftCurve(shifts=np.array(pairs, dtype=np.int64), representation=rep, pixels=pix)


# ---------------------------------------------------------------- 4. deformations


def displacement_field(
    height: int,
    width: int,
    strength: float,
    kind: str = "random",
    *,
    correlation: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    r"""A smooth displacement field ``τ`` of shape ``(H, W, 2)`` (rows, columns) with
    ``‖∇τ‖∞ = sup_u ‖∇τ(u)‖₂ = strength`` (operator norm of the 2×2 Jacobian, finite
    differences for ``"random"``).

    * ``"dilation"``: ``τ(u) = s (u − c)``, ``c`` the image centre (``∇τ = s I``);
    * ``"rotation"``: ``τ(u) = s R_{π/2} (u − c)``, an infinitesimal rotation by ``s`` radians;
    * ``"random"``: white noise filtered by a periodic Gaussian of standard deviation
      ``correlation`` pixels (default ``max(H, W) / 6``), seeded, rescaled to the strength.

    The field's shape does not depend on ``strength``, only its amplitude, so a sweep over
    strengths deforms along one direction.
    """
    rows, cols = np.meshgrid(
        np.arange(height) - (height - 1) / 2, np.arange(width) - (width - 1) / 2, indexing="ij"
    )
    if kind == "dilation":
        return strength * np.stack([rows, cols], axis=-1)
    if kind == "rotation":
        return strength * np.stack([-cols, rows], axis=-1)
    if kind != "random":
        raise ValueError(f"kind must be 'random', 'dilation' or 'rotation', got {kind!r}.")
    sigma = float(correlation) if correlation is not None else max(height, width) / 6
    noise = np.random.default_rng(seed).standard_normal((2, height, width))
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :]
    gauss = np.exp(-2 * (np.pi * sigma) ** 2 * (fy**2 + fx**2))
    tau = np.real(np.fft.ifft2(np.fft.fft2(noise) * gauss))  # (2, H, W)
    jac = np.stack([np.stack(np.gradient(t), axis=-1) for t in tau], axis=-2)  # (H, W, 2, 2)
    top = np.max(np.linalg.norm(jac, ord=2, axis=(-2, -1)))
    return strength * np.moveaxis(tau, 0, -1) / top


def deform(x: Any, tau: np.ndarray) -> np.ndarray:
    """``L_τ x(u) = x(u − τ(u))`` by bilinear interpolation, zero outside the image: the warp of
    :func:`keraslab.ops.warp` (the one the training transformations use), computed in float64.

    Args:
        x: Batch of images ``(B, H, W, C)``.
        tau: Displacement ``(H, W, 2)`` or ``(B, H, W, 2)`` in pixels, (rows, columns).
    """
    xs = _images(x)
    tau = np.broadcast_to(np.asarray(tau, dtype=np.float64), xs.shape[:3] + (2,))
    return np.asarray(warp(xs.astype(np.float64), tau)).astype(np.float32)


def fourier_modulus(x: Any) -> np.ndarray:
    r"""The Fourier modulus ``|x̂(ω)|`` per channel, ``(B, H, W, C)`` (orthonormal DFT).

    Translation invariant (``|\widehat{T_a x}| = |x̂|``) and non-expansive
    (``‖|x̂| − |ŷ|‖ ≤ ‖x̂ − ŷ‖ = ‖x − y‖``, Parseval) but unstable to deformations: a dilation
    by ``1 + s`` moves the frequency ``ω`` by ``s|ω|``, which is large at high frequencies
    whatever how small ``s`` is (Mallat, 2012, Sec. 1; Bruna & Mallat, 2013, Sec. 2.1). The
    baseline of :func:`deformation_stability`.
    """
    xs = _images(x)
    return np.abs(np.fft.fft2(xs, axes=(1, 2), norm="ortho")).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class DeformationCurve(_Result):
    """Relative change under ``L_τ`` for growing ``‖∇τ‖∞``, for Φ and for ``|x̂|``.

    Attributes:
        strengths: ``(S,)`` values of ``‖∇τ‖∞``.
        max_displacement: ``(S,)`` ``‖τ‖∞`` in pixels.
        representation: ``(S, B)`` ``‖Φ L_τ x − Φx‖ / ‖Φx‖``.
        fourier: ``(S, B)`` the same for :func:`fourier_modulus`.
        pixels: ``(S, B)`` ``‖L_τ x − x‖ / ‖x‖``.
        kind: the kind of field (:func:`displacement_field`).
    """

    strengths: np.ndarray
    max_displacement: np.ndarray
    representation: np.ndarray
    fourier: np.ndarray
    pixels: np.ndarray
    kind: str
    _summaries = ("mean_representation", "mean_fourier")

    @property
    def mean_representation(self) -> np.ndarray:
        return self.representation.mean(axis=1)

    @property
    def mean_fourier(self) -> np.ndarray:
        return self.fourier.mean(axis=1)


def deformation_stability(
    phi: Representation,
    x: Any,
    strengths: Sequence[float],
    *,
    kind: str = "random",
    correlation: float | None = None,
    seed: int = 0,
) -> DeformationCurve:
    r"""Relative change of Φ and of the Fourier modulus under small smooth deformations.

    ``L_τ x(u) = x(u − τ(u))`` with ``τ`` from :func:`displacement_field`, ``‖∇τ‖∞ = s`` for each
    ``s`` in ``strengths`` (one field, scaled). The scattering transform is Lipschitz-continuous
    to deformations (Mallat, 2012, Thm. 2.12)::

        ‖S_J L_τ x − S_J x‖ ≤ C ‖x‖ (2**−J ‖τ‖∞ + ‖∇τ‖∞ + ‖Hτ‖∞)

    so its change grows about linearly with ``s`` and stays small, whereas ``|x̂|`` changes by
    ``O(1)`` already for small ``s`` on images with sharp edges (Bruna & Mallat, 2013, Sec. 2.1).
    Both are reported as ``‖Φ L_τ x − Φx‖ / ‖Φx‖``; the pixels' change is given too.

    Args:
        phi: The representation.
        x: Batch of images ``(B, H, W, C)``.
        strengths: Values of ``‖∇τ‖∞`` (``0.05`` is a 5 % local stretch).
        kind: ``"random"``, ``"dilation"`` or ``"rotation"`` (:func:`displacement_field`).
        correlation: Smoothness of the random field, in pixels.
        seed: Seed of the random field.

    Returns:
        A :class:`DeformationCurve`.
    """
    xs = _images(x)
    B, H, W, _ = xs.shape
    strengths = np.asarray(strengths, dtype=np.float64)
    taus = [
        displacement_field(H, W, s, kind, correlation=correlation, seed=seed) for s in strengths
    ]
    moved = np.concatenate([deform(xs, t) for t in taus])
    S = len(taus)

    def rel(a, b):
        return _relative(a, np.tile(b, (S,) + (1,) * (b.ndim - 1))).reshape(S, B)

    return DeformationCurve(
        strengths=strengths,
        max_displacement=np.array([np.max(np.linalg.norm(t, axis=-1)) for t in taus]),
        representation=rel(_apply(phi, moved), _apply(phi, xs)),
        fourier=rel(fourier_modulus(moved), fourier_modulus(xs)),
        pixels=rel(moved, xs),
        kind=kind,
    )


# ---------------------------------------------------------------- 5. rotations


@dataclasses.dataclass(frozen=True)
class RotationCovariance(_Result):
    """How far ``S(R x)`` is from ``R`` applied to ``S x`` with its orientations permuted.

    Attributes:
        quarter_turns: the rotation, in multiples of 90° (counterclockwise, as ``np.rot90``).
        theta_shift: the permutation ``θ ↦ θ + theta_shift mod L`` (``L/2`` per quarter turn).
        relative_error: ``{order: (B,)}`` ``‖S_m(Rx) − P R S_m(x)‖ / ‖S_m(Rx)‖`` per order ``m``
            (0, 1 and, for ``max_order = 2``, 2).
        unpermuted_error: ``{order: (B,)}`` the same without permuting ``θ`` (the control: large).
    """

    quarter_turns: int
    theta_shift: int
    relative_error: dict
    unpermuted_error: dict
    _summaries = ("max_error",)

    @property
    def max_error(self) -> dict:
        return {m: float(np.max(e)) for m, e in self.relative_error.items()}


def rotation_covariance(
    layer: Scattering2D, x: Any, *, quarter_turns: int = 1, align: bool = True
) -> RotationCovariance:
    r"""Check that rotating by 90° rotates the scattering maps and shifts ``θ`` by ``L/2``.

    A rotation ``R`` of the image rotates each wavelet's response and changes its angle:
    ``|Rx ⋆ ψ_{j,θ}| = R|x ⋆ ψ_{j,R⁻¹θ}|`` (Mallat, 2012, Sec. 5; Sifre & Mallat, 2013, "Rotation,
    Scaling and Deformation Invariant Scattering for Texture Discrimination", CVPR). The ``L``
    angles ``θ·π/L`` span ``[0, π)``; ``|x ⋆ ψ_{α+π}| = |x ⋆ ψ_α|`` for a real ``x`` (``ψ_{α+π} =
    ψ̄_α``), so a quarter turn is ``θ ↦ θ + L/2 mod L`` for every first- and second-order index
    (``(θ1, θ2) ↦ (θ1 + L/2, θ2 + L/2)``). We compare ``S(rot90 x)`` with ``rot90`` of each map
    of ``S(x)``, its ``θ`` indices permuted.

    Only multiples of 90° are exact on a pixel grid: a rotation by ``π/L`` (which permutes
    ``θ`` by one step in the continuous setting) needs interpolation, which low-pass filters
    the image, so its error would measure the interpolation rather than the transform.

    **Where the rotation is centred.** ``Scattering2D`` (like Kymatio) reflect-pads the image,
    computes circular convolutions on the padded grid and samples the output at ``2**J (u + 1)``
    in padded coordinates. On the square padded grid the filter bank is mapped onto itself by a
    quarter turn about any point ``c`` with ``2c`` integer (the convolutions are
    circular), and the sampling grids (``2**J`` for the output, ``2**j1`` for
    the first modulus) are mapped onto themselves by a rotation about the centre ``c`` of the
    output grid. ``np.rot90`` turns about the image centre ``(N − 1)/2`` instead, which is
    ``2**J − 1`` input pixels off after a quarter turn: almost one output pixel, so its maps are
    not the rotated ones (relative errors of order 1). With ``align=True`` (default) the input
    is turned about ``c`` instead (``np.rot90`` then a translation by ``2c − (N − 1)`` pixels,
    zeros entering), and the covariance is exact up to the filters' discretization for images
    that vanish within ``2**(J+1)`` pixels of their border (so neither the translation nor the
    reflect padding sees the content; embed images in a zero canvas). Measured on Fashion-MNIST
    in such a canvas: ``≤ 3e-7`` (float32 round-off) for ``J = 1, 2`` and orders 0, 1 for
    ``J = 3``; ``8e-5`` at order 2 for ``J = 3``, which we attribute to the periodization of the
    coarser wavelets (cropping their spectrum to the subsampled grid is not symmetric under a
    quarter turn). Without alignment (``align=False``) the errors are ``0.25–0.9``.

    Args:
        layer: A ``Scattering2D`` with an even ``L``.
        x: Square images ``(B, N, N, C)``.
        quarter_turns: Number of counterclockwise quarter turns.
        align: Turn about the centre of the layer's sampling grid (exact) rather than about the
            image centre (``np.rot90``, off by ``2**J − 1`` pixels).

    Returns:
        A :class:`RotationCovariance`.
    """
    if not isinstance(layer, Scattering2D):
        raise ValueError("rotation_covariance needs a keraslab.layers.Scattering2D layer.")
    if layer.L % 2:
        raise ValueError(f"a quarter turn permutes θ by L/2: needs an even L, got L={layer.L}.")
    xs = _images(x)
    if xs.shape[1] != xs.shape[2]:
        raise ValueError(f"rotation_covariance needs square images, got {xs.shape[1:3]}.")
    L, K = layer.L, layer.num_coefficients
    turns = int(quarter_turns) % 4
    shift = (turns * L // 2) % L
    paths = coefficient_paths(layer.J, L, layer.max_order)
    index = {p: k for k, p in enumerate(paths)}
    perm = np.array([index[tuple((j, (t + shift) % L) for j, t in p)] for p in paths])
    rotated_in = np.rot90(xs, turns, axes=(1, 2))
    if align:
        N, k = xs.shape[1], 2**layer.J
        top = scattering_padding(N, N, layer.J)[0]
        d = (k + k * (N // k) - 2 * top) - (N - 1)  # 2c − (N − 1), c the output grid's centre
        # One quarter turn about c = rot90, then the flipped axis (rows) moves by d; a half
        # turn flips both axes, three quarters the columns.
        move = {0: (0, 0), 1: (d, 0), 2: (d, d), 3: (0, d)}[turns]
        rotated_in = shift_images(rotated_in, move, mode="zero")
    s_rot = _apply(layer, np.ascontiguousarray(rotated_in))
    s = _apply(layer, xs)
    B = xs.shape[0]
    s_rot = s_rot.reshape(s_rot.shape[:3] + (-1, K))  # (B, h, w, C, K)
    s = np.rot90(s.reshape(s.shape[:3] + (-1, K)), turns, axes=(1, 2))
    orders = coefficient_orders(layer.J, L, layer.max_order)
    # Path p of S(Rx) is R applied to path p + shift of S(x) (shift ≡ −shift mod L: L/2 or 0).
    predicted = s[..., perm]
    errors, controls = {}, {}
    for m in range(orders.max() + 1):
        target = s_rot[..., orders == m].reshape(B, -1)
        errors[m] = _relative(predicted[..., orders == m].reshape(B, -1), target)
        controls[m] = _relative(s[..., orders == m].reshape(B, -1), target)
    return RotationCovariance(
        quarter_turns=turns, theta_shift=shift, relative_error=errors, unpermuted_error=controls
    )
