"""2D wavelet scattering transform as a Keras 3 layer (TensorFlow backend).

Implements (Mallat, 2012, "Group Invariant Scattering", CPAM 65(10); Bruna & Mallat, 2013,
"Invariant Scattering Convolution Networks", IEEE TPAMI 35(8))::

    S_J x = { x ⋆ φ_J,
              |x ⋆ ψ_{j1,θ1}| ⋆ φ_J,
              ||x ⋆ ψ_{j1,θ1}| ⋆ ψ_{j2,θ2}| ⋆ φ_J   (j2 > j1) }

subsampled by ``2**J``, with the Morlet filters of :mod:`keraslab.layers.filters`. The result
equals Kymatio 0.3's ``Scattering2D`` (Andreux et al., 2020) to single-precision round-off.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keraslab.layers.filters import filter_bank

__all__ = ["Scattering2D", "scattering_padding", "num_coefficients"]

_LAYOUTS = ("channels", "paths")


def scattering_padding(height: int, width: int, J: int) -> tuple[int, int, int, int]:
    """Kymatio's reflect padding ``(top, bottom, left, right)`` for an ``height × width`` input.

    Each axis of length ``size`` is padded to ``(⌊size / 2**J⌋ + 2) · 2**J`` (a multiple of
    ``2**J`` with at least ``2**J`` pixels of margin), split evenly between its two ends with the
    odd pixel at the bottom / right.
    """

    def split(size: int) -> tuple[int, int]:
        padded = ((size + 2**J) // 2**J + 1) * 2**J
        return (padded - size) // 2, (padded - size + 1) // 2

    return split(height) + split(width)


def num_coefficients(J: int, L: int = 8, max_order: int = 2) -> int:
    """Number ``K`` of scattering coefficients per input channel: ``1 + LJ + L²J(J−1)/2``."""
    return 1 + L * J + (L * L * J * (J - 1) // 2 if max_order == 2 else 0)


class _Constants:
    """Plain holder for constant tensors: not a dict, so Keras and TF leave it untracked."""

    def __init__(self, **tensors):
        self.__dict__.update(tensors)


@keras.saving.register_keras_serializable(package="keraslab")
class Scattering2D(keras.layers.Layer):
    r"""2D scattering transform of order 1 or 2 with Morlet wavelets (Bruna & Mallat, 2013).

    For each input channel it computes ``K = 1 + LJ + L²J(J−1)/2`` coefficients (``1 + LJ``
    for ``max_order=1``), each an image subsampled by ``2**J``::

        S_J x = { x ⋆ φ_J,  |x ⋆ ψ_{j1,θ1}| ⋆ φ_J,  ||x ⋆ ψ_{j1,θ1}| ⋆ ψ_{j2,θ2}| ⋆ φ_J }

    with ``0 ≤ j1 < j2 < J`` and ``0 ≤ θ < L`` (Mallat, 2012; Bruna & Mallat, 2013). Filters,
    padding, subsampling and coefficient order are those of Kymatio 0.3's ``Scattering2D``
    (Andreux et al., 2020), whose output it reproduces to float32 round-off.

    **Coefficient order** (``k``, per channel), as in Kymatio: ``k = 0`` is the low-pass
    ``x ⋆ φ_J``; then ``k = 1 + j1·L + θ1`` (first order); then the second-order paths in the
    order of the loops ``for j1, for θ1, for j2 > j1, for θ2``.

    **Layout.** Input ``(batch, H, W, C)``, channels last. With ``output_layout="channels"``
    (default) the output is ``(batch, H // 2**J, W // 2**J, C·K)`` with channel index
    ``c·K + k``; with ``"paths"`` it is ``(batch, H // 2**J, W // 2**J, C, K)``. Kymatio's
    output for the same images in ``(batch, C, H, W)`` layout is ``(batch, C, K, h, w)``, so::

        ours[b, y, x, c * K + k] == kymatio[b, c, k, y, x]
        ours = kymatio.transpose(0, 3, 4, 1, 2).reshape(batch, h, w, C * K)

    **Padding.** The input is reflect-padded to ``(⌊H / 2**J⌋ + 2)·2**J`` rows (likewise for
    columns), transformed, and the border of the result cropped (Kymatio's rule), so ``H`` and
    ``W`` can be any size ``≥ 2**J``; the output has ``⌊H / 2**J⌋ × ⌊W / 2**J⌋`` pixels.

    **How it is computed.** Wavelet convolutions are products in the 2D Fourier domain, and
    subsampling by ``2**j`` is done on spectra by folding (periodization), as in Kymatio; the
    differences are in how the work is batched. Channels are folded into the batch. Each pair of
    first-order orientations ``θ1`` at scale ``j1`` is an independent chain: one broadcast
    product and inverse FFT give ``|x ⋆ ψ_{j1,θ1}|`` for the pair, one complex FFT gives the
    spectra of both real moduli, and one product and inverse FFT per ``j2 > j1`` give all their
    second-order moduli at once. The low-pass ``φ_J`` (a Gaussian, hence separable) followed by
    subsampling and cropping is applied in space as two small matrix products, which replaces
    the FFT, product and inverse FFT Kymatio spends on every path. The layer has no weights;
    the filters are built in ``build`` from the input's spatial size and kept as constants.
    The layer is fastest under XLA (``jit_compile=True``), which fuses the element-wise work.

    The modulus uses ``tf.abs``, whose gradient is 0 (not NaN) where a coefficient is exactly 0,
    so constant or blank images have finite input gradients.

    Float32 computes in complex64; float64 in complex128. Under a mixed ``float16`` /
    ``bfloat16`` policy the transform runs in float32 and the result is cast to the compute
    dtype.

    Args:
        J: Number of scales (``≥ 1``); the output is subsampled by ``2**J``.
        L: Number of orientations (``≥ 1``; the filters are designed for ``L = 8``).
        max_order: ``1`` or ``2``.
        output_layout: ``"channels"`` (4-D output, channel ``c·K + k``) or ``"paths"`` (5-D
            output ``(batch, h, w, C, K)``).
        **kwargs: Base layer arguments (``name``, ``dtype``, …).

    Call arguments:
        inputs: Float tensor ``(batch, H, W, C)`` with ``H, W ≥ 2**J`` known when the layer is
            built.

    Example:

    ```python
    x = keras.Input((28, 28, 1))
    s = keraslab.layers.Scattering2D(J=2, L=8)(x)        # (None, 7, 7, 81)
    y = keras.layers.Dense(10)(keras.layers.Flatten()(s))
    model = keras.Model(x, y)
    ```
    """

    def __init__(self, J, L=8, max_order=2, output_layout="channels", **kwargs):
        super().__init__(**kwargs)
        for name, value, low in (("J", J, 1), ("L", L, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(
                    f"Scattering2D: {name} must be an integer >= {low}, got {value!r}."
                )
        if max_order not in (1, 2) or isinstance(max_order, bool):
            raise ValueError(f"Scattering2D: max_order must be 1 or 2, got {max_order!r}.")
        if output_layout not in _LAYOUTS:
            raise ValueError(
                f"Scattering2D: output_layout must be one of {_LAYOUTS}, got {output_layout!r}."
            )
        self.J = int(J)
        self.L = int(L)
        self.max_order = int(max_order)
        self.output_layout = output_layout
        self.num_coefficients = num_coefficients(self.J, self.L, self.max_order)

    # ------------------------------------------------------------------ shape checks and build

    def _check_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(
                f"Scattering2D expects images of shape (batch, height, width, channels), got an "
                f"input of rank {len(shape)} with shape {shape}. Add a channel axis for "
                f"grayscale images (x[..., None]) or a batch axis for a single image (x[None])."
            )
        _, H, W, _ = shape
        if H is None or W is None:
            raise ValueError(
                f"Scattering2D needs a known height and width to build its filters, got input "
                f"shape {shape}. Give the spatial size in the input, e.g. "
                f"keras.Input(shape=(28, 28, 1)); use one layer per image size."
            )
        size = 2**self.J
        if min(H, W) < size:
            raise ValueError(
                f"Scattering2D(J={self.J}) needs images of at least 2**J = {size} pixels on each "
                f"side, got {H}x{W}. Use J <= {int(np.floor(np.log2(min(H, W))))} for this size "
                f"or upsample / pad the images."
            )
        return shape

    @staticmethod
    def _check_dtype(dtype):
        name = keras.backend.standardize_dtype(dtype)
        if "float" not in name:
            raise ValueError(
                f"Scattering2D needs floating-point images, got dtype {name}. Cast them first, "
                f"e.g. x = keras.ops.cast(x, 'float32') / 255.0, or put a "
                f"keras.layers.Rescaling(1 / 255) layer before this one."
            )

    def build(self, input_shape):
        _, H, W, _ = self._check_shape(input_shape)
        self._spatial = (H, W)
        self._cache = _Constants()  # per-dtype operators, made on first use
        self.built = True

    def _constants(self, dtype):
        """The filters and low-pass operators as tensors of ``dtype`` (cached, made eagerly)."""
        key = dtype.name
        if not hasattr(self._cache, key):
            tensors = {}
            with tf.init_scope():
                for name, value in self._numpy_operators().items():
                    if name.startswith("pad"):
                        tensors[name] = tf.constant(value, tf.int32)
                    else:
                        tensors[name] = tf.constant(value, dtype)
            setattr(self._cache, key, _Constants(**tensors))
        return getattr(self._cache, key)

    def _numpy_operators(self):
        """Filters per (scale, resolution) and the separable low-pass matrices, in float64."""
        H, W = self._spatial
        J = self.J
        top, bottom, left, right = scattering_padding(H, W, J)
        Mp, Np = H + top + bottom, W + left + right
        bank = filter_bank(Mp, Np, J, self.L, dtype=np.float64)
        ops = {}
        for j, levels in enumerate(bank.psi):
            for res, level in enumerate(levels):
                ops[f"psi_{j}_{res}"] = _fold_blocks(level, 2 ** (j - res))
        rows = np.pad(np.arange(H), (top, bottom), mode="reflect")
        cols = np.pad(np.arange(W), (left, right), mode="reflect")
        ops["pad_rows"] = rows
        ops["pad_cols"] = cols
        for res in range(J):
            A, B = _separable_lowpass(bank.phi[res], 2 ** (J - res))
            ops[f"lowpass_rows_{res}"] = A
            ops[f"lowpass_cols_{res}"] = B
            if res == 0:
                # The zeroth order acts on the unpadded input: fold the padding into it.
                ops["lowpass_rows_input"] = _fold_padding(A, rows, H)
                ops["lowpass_cols_input"] = _fold_padding(B, cols, W)
        return ops

    # ------------------------------------------------------------------ shapes and config

    def compute_output_shape(self, input_shape):
        batch, H, W, C = self._check_shape(input_shape)
        h, w = H // 2**self.J, W // 2**self.J
        K = self.num_coefficients
        if self.output_layout == "paths":
            return (batch, h, w, C, K)
        return (batch, h, w, None if C is None else C * K)

    def compute_output_spec(self, inputs):
        self._check_dtype(inputs.dtype)
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            J=self.J, L=self.L, max_order=self.max_order, output_layout=self.output_layout
        )
        return config

    # ------------------------------------------------------------------ the transform

    def call(self, inputs):
        self._check_dtype(inputs.dtype)
        if any(
            d is not None and d != s for d, s in zip(inputs.shape[1:3], self._spatial, strict=True)
        ):
            raise ValueError(
                f"This Scattering2D was built for {self._spatial[0]}x{self._spatial[1]} images, "
                f"got input shape {tuple(inputs.shape)}. Its filters depend on the image size: "
                f"use one Scattering2D layer per image size."
            )
        work = tf.float64 if inputs.dtype == tf.float64 else tf.float32
        x = tf.cast(inputs, work)
        out = _scatter(x, self._constants(work), self.J, self.L, self.max_order, self._spatial)
        out = tf.cast(out, self.compute_dtype)
        if self.output_layout == "channels":
            shape = tf.shape(out)
            out = tf.reshape(out, tf.concat([shape[:3], [-1]], 0))
            C = inputs.shape[-1]
            if C is not None:
                out = tf.ensure_shape(out, [None, None, None, C * self.num_coefficients])
        return out


def _separable_lowpass(phi_hat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Low-pass, subsample by ``k`` and crop one pixel per side, as two matrices ``A, B``.

    For a real image ``U`` on the ``m × n`` grid of ``phi_hat``, Kymatio computes
    ``Re ifft2(periodize_k(fft2(U) · phi_hat))[1:-1, 1:-1]``, which is the circular convolution
    ``U ⊛ h`` with ``h = Re ifft2(phi_hat)`` sampled at ``(k(u+1), k(v+1))``. ``φ`` is a Gaussian,
    so ``h = a ⊗ b`` and the result is ``A U Bᵀ`` with ``A[u, s] = a[(k(u+1) − s) mod m]``.
    """
    m, n = phi_hat.shape
    h = np.real(np.fft.ifft2(phi_hat))
    u, s, vt = np.linalg.svd(h)
    if s[1] > 1e-9 * s[0]:
        raise AssertionError(f"low-pass filter is not separable (s1/s0 = {s[1] / s[0]:.2e})")
    a, b = np.sqrt(s[0]) * u[:, 0], np.sqrt(s[0]) * vt[0]

    def matrix(vec, size):
        out_size = size // k - 2
        rows = k * (np.arange(out_size) + 1)
        return vec[(rows[:, None] - np.arange(size)[None, :]) % size]

    return matrix(a, m), matrix(b, n)


def _fold_padding(A: np.ndarray, index: np.ndarray, size: int) -> np.ndarray:
    """``A @ P`` where ``P`` is the padding matrix ``P[s, i] = [index[s] == i]``."""
    out = np.zeros((A.shape[0], size))
    np.add.at(out.T, index, A.T)
    return out


def _fold_blocks(h_hat: np.ndarray, k: int) -> np.ndarray:
    """Cut ``(…, m, n)`` spectra into their ``k²`` blocks scaled by ``1/k²``: ``(k², …, m/k, n/k)``.

    Periodizing a product ``z · h_hat`` (Kymatio's ``subsample_fourier``: the mean of the ``k²``
    blocks) is then ``Σ_b z_block[b] · blocks[b]``.
    """
    m, n = h_hat.shape[-2:]
    blocks = [
        h_hat[..., a * (m // k) : (a + 1) * (m // k), b * (n // k) : (b + 1) * (n // k)]
        for a in range(k)
        for b in range(k)
    ]
    return np.stack(blocks) / k**2


def _filter_and_fold(z_re, z_im, blocks):
    """``periodize_k(z · ψ)`` for a complex ``z`` given as real and imaginary parts.

    ``z_*``: ``(…, 1, m, n)``; ``blocks``: ``(k², L, m/k, n/k)`` from :func:`_fold_blocks`.
    Returns the complex ``(…, L, m/k, n/k)`` sum of the block products (split into blocks,
    multiply, add: XLA on CPU runs this several times faster than a reshape-and-reduce).
    """
    k = int(round(blocks.shape[0] ** 0.5))
    if k == 1:
        return tf.complex(z_re * blocks[0], z_im * blocks[0])
    filters = tf.unstack(blocks)

    def fold(z):
        parts = [p for rows in tf.split(z, k, axis=-2) for p in tf.split(rows, k, axis=-1)]
        return tf.add_n([p * f for p, f in zip(parts, filters, strict=True)])

    return tf.complex(fold(z_re), fold(z_im))


def _spectra_of_pair(u):
    """2D FFTs of the real images ``u[:, 0]`` and ``u[:, 1]`` with one complex FFT.

    With ``z = fft2(u_a + i u_b)`` and ``z⁻[ω] = z[−ω]``: ``fft2(u_a) = (z + conj z⁻)/2`` and
    ``fft2(u_b) = (z − conj z⁻)/2i``. ``u``: ``(N, 2, m, n)`` real; returns the real and
    imaginary parts of the ``(N, 2, m, n)`` spectra.
    """
    z = tf.signal.fft2d(tf.complex(u[:, 0], u[:, 1]))
    z_minus = tf.roll(tf.reverse(z, axis=[-2, -1]), shift=[1, 1], axis=[-2, -1])
    p, q = tf.math.real(z), tf.math.imag(z)
    r, s = tf.math.real(z_minus), tf.math.imag(z_minus)
    return tf.stack([p + r, q + s], axis=1) * 0.5, tf.stack([q - s, r - p], axis=1) * 0.5


def _lowpass(u, A, B):
    """``(A u Bᵀ)ᵀ`` over the last two axes of a real tensor: ``(…, m, n)`` → ``(…, w, h)``.

    Two plain matrix products on flattened views (``tf.einsum`` with oneDNN crashes on some
    ellipsis shapes with a size-1 axis). The result is returned transposed, columns first,
    which saves a transpose of the intermediate.
    """
    lead = tf.shape(u)[:-2]
    m, n = u.shape[-2], u.shape[-1]
    h, w = A.shape[0], B.shape[0]
    t = tf.matmul(tf.reshape(u, [-1, n]), B, transpose_b=True)  # (…·m, w)
    t = tf.transpose(tf.reshape(t, [-1, m, w]), [0, 2, 1])  # (…, w, m)
    t = tf.matmul(tf.reshape(t, [-1, m]), A, transpose_b=True)  # (…·w, h)
    return tf.reshape(t, tf.concat([lead, [w, h]], 0))


def _scatter(x, c, J, L, max_order, spatial):
    """Scattering of ``x (B, H, W, C)``; returns ``(B, h, w, C, K)``.

    The work is split into independent chains, one per scale ``j1`` and pair of orientations
    ``θ1``: ``|x ⋆ ψ_{j1,θ1}|`` for the pair, its low-pass, then all its second-order paths. The
    chains have no data dependencies on one another, so XLA and TensorFlow run them side by side,
    and their intermediates are small enough to stay in cache.
    """
    H, W = spatial
    shape = tf.shape(x)
    batch, channels = shape[0], shape[3]
    # Channels into the batch: (N = B·C, H, W).
    x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, H, W])

    zeroth = _lowpass(x, c.lowpass_rows_input, c.lowpass_cols_input)[:, None]
    padded = tf.gather(tf.gather(x, c.pad_rows, axis=1), c.pad_cols, axis=2)
    x_hat = tf.signal.fft2d(tf.complex(padded, tf.zeros_like(padded)))
    x_re, x_im = tf.math.real(x_hat)[:, None], tf.math.imag(x_hat)[:, None]

    first, second = [], []
    for j1 in range(J):
        psi1 = getattr(c, f"psi_{j1}_0")
        lowpass1 = getattr(c, f"lowpass_rows_{j1}"), getattr(c, f"lowpass_cols_{j1}")
        second_j1 = []
        for t in range(0, L, 2):
            u1 = tf.abs(tf.signal.ifft2d(_filter_and_fold(x_re, x_im, psi1[:, t : t + 2])))
            first.append(_lowpass(u1, *lowpass1))
            if max_order < 2 or j1 == J - 1:
                continue
            if u1.shape[1] == 2:
                y_re, y_im = _spectra_of_pair(u1)
            else:  # odd L: the last orientation alone
                y_hat = tf.signal.fft2d(tf.complex(u1, tf.zeros_like(u1)))
                y_re, y_im = tf.math.real(y_hat), tf.math.imag(y_hat)
            y_re, y_im = y_re[:, :, None], y_im[:, :, None]
            per_j2 = []
            for j2 in range(j1 + 1, J):
                psi2 = getattr(c, f"psi_{j2}_{j1}")
                u2 = tf.abs(tf.signal.ifft2d(_filter_and_fold(y_re, y_im, psi2)))
                lowpass2 = getattr(c, f"lowpass_rows_{j2}"), getattr(c, f"lowpass_cols_{j2}")
                per_j2.append(_lowpass(u2, *lowpass2))
            # (N, θ1, (j2, θ2), w, h): paths ordered (θ1, j2, θ2).
            second_j1.append(tf.concat(per_j2, axis=2) if len(per_j2) > 1 else per_j2[0])
        if second_j1:
            s2 = tf.concat(second_j1, axis=1)
            second.append(tf.reshape(s2, tf.concat([tf.shape(s2)[:1], [-1], tf.shape(s2)[-2:]], 0)))
    s = tf.concat([zeroth, *first, *second], axis=1)  # (N, K, w, h)
    h, w = H // 2**J, W // 2**J
    s = tf.reshape(s, tf.stack([batch, channels, -1, w, h]))
    return tf.transpose(s, [0, 4, 3, 1, 2])
