"""Image patches for sparse coding, and the overcomplete 2D DCT dictionary they are coded in.

**Patches.** :func:`extract_patches` draws ``p × p`` patches (default ``8 × 8``) from a stack
of grayscale images at seeded, uniformly random positions (image, row, column), as NumPy rows
``x ∈ R^{p²}`` flattened row-major; :func:`patch_dataset` streams the same kind of patches as a
``tf.data`` pipeline. Integer images are scaled to ``[0, 1]`` (``/255``); float images are taken
as they are.

**Mean removal** (``remove_mean=True``, the default): each patch loses its own mean,
``x ← x − mean(x)·1``, and the mean is returned beside it. A patch's mean is its DC component —
one number that every patch has, at a scale that dwarfs the rest (Fashion-MNIST is mostly a black
background and flat garment interiors). Left in, the constant atom would be active in almost
every code and would dominate both the code energy and the NMSE; removed, the patches live in
the ``(p² − 1)``-dimensional subspace of zero-mean vectors and the sparse code describes their
structure (edges, textures), as in the sparse-coding literature on natural image patches
(Olshausen & Field, 1996; Aharon, Elad & Bruckstein, 2006). Add the mean back to display a
reconstruction. ``min_std`` optionally rejects flat patches (standard deviation ``≤ min_std``
after scaling), which code to ``z = 0`` and carry no information about a coder.

**Dictionary.** :func:`dct_dictionary` builds ``A ∈ R^{p² × K²}`` from the 1D atoms::

    d_k(i) = c_k cos(π (2i + 1) k / (2K)),    i = 0 … p − 1,   k = 0 … K − 1

(``c_k`` makes each unit-norm) and their tensor products, the 2D atoms
``a_{k,l}(i, j) = d_k(i) d_l(j)`` flattened row-major — column ``k·K + l`` of ``A``, so
``A = D ⊗ D`` (Kronecker). ``K = p`` is the orthonormal DCT-II basis; ``K = 2p`` (default,
``64 × 256`` for ``8 × 8`` patches) samples frequencies twice as finely: its even 1D atoms are
the DCT-II basis and its odd ones the DCT-IV basis, so ``D Dᵀ = 2 I``, ``A Aᵀ = 4 I`` (a tight
frame, ``L = ‖A‖₂² = 4``), with mutual coherence about 0.90 — far from the incoherent Gaussian
matrices LISTA's theory assumes. The overcomplete DCT is the fixed dictionary K-SVD starts from
(Aharon, Elad & Bruckstein, 2006).

Imports only NumPy at module level; TensorFlow is imported by :func:`patch_dataset` alone.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["PatchSet", "dct_dictionary", "extract_patches", "patch_dataset"]


@dataclass(frozen=True)
class PatchSet:
    """Patches drawn by :func:`extract_patches`.

    Attributes:
        patches: ``(num, p²)`` float32, each row a ``p × p`` patch flattened row-major (mean
            removed when asked).
        means: ``(num,)`` float32, each patch's mean before removal (0 when not removed), so
            ``patches + means[:, None]`` is the original patch.
        positions: ``(num, 3)`` int64 ``(image index, top row, left column)`` of each patch.
        size: ``p``.
    """

    patches: np.ndarray
    means: np.ndarray
    positions: np.ndarray
    size: int

    def __len__(self) -> int:
        return len(self.patches)

    def images(self, add_mean: bool = True) -> np.ndarray:
        """The patches as ``(num, p, p)`` images, with their means added back by default."""
        x = self.patches + (self.means[:, None] if add_mean else 0.0)
        return x.reshape(-1, self.size, self.size)


def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_min_std(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(
            f"min_std must be a number >= 0 (0 keeps every patch), got {value!r}; e.g. "
            f"min_std=0.05 drops patches whose pixels vary by less than 5 % of the range."
        )
    return float(value)


def _grayscale(images, size: int) -> np.ndarray:
    """``(N, H, W)`` float64 images in the units patches are measured in."""
    array = np.asarray(images)
    if array.ndim == 4:
        if array.shape[-1] != 1:
            raise ValueError(
                f"patches are drawn from grayscale images, got {array.shape[-1]} channels "
                f"(shape {array.shape}); convert to one channel first, e.g. images.mean(-1)."
            )
        array = array[..., 0]
    if array.ndim != 3 or array.shape[0] == 0:
        raise ValueError(
            f"images must be a non-empty batch (N, H, W) or (N, H, W, 1), got shape {array.shape}."
        )
    if array.shape[1] < size or array.shape[2] < size:
        raise ValueError(
            f"patch size {size} does not fit in images of {array.shape[1]}×{array.shape[2]} "
            f"pixels; use size <= {min(array.shape[1:3])}."
        )
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float64) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"images must be integer (0-255) or float, got dtype {array.dtype}.")
    return array.astype(np.float64)


def extract_patches(
    images,
    size: int = 8,
    num: int = 10_000,
    *,
    seed: int = 0,
    remove_mean: bool = True,
    min_std: float = 0.0,
) -> PatchSet:
    """``num`` random ``size × size`` patches of ``images``, flattened row-major.

    Positions (image, row, column) are uniform over every place a patch fits, drawn with NumPy's
    PCG64 generator from ``seed``: the same arguments give the same patches. With
    ``min_std > 0``, candidates whose standard deviation is ``≤ min_std`` are skipped (and more
    are drawn) until ``num`` are kept.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, 1)``; integer pixels are scaled by ``1/255``, float
            ones used as they are (e.g. ``keraslab.data.load_arrays(...).images``).
        size: ``p``, the side of the patches.
        num: How many patches.
        seed: Seed of the positions.
        remove_mean: Subtract each patch's mean (see the module docstring for why).
        min_std: Skip patches whose pixel standard deviation is ``<= min_std`` (0: keep all).

    Returns:
        A :class:`PatchSet` (``patches`` float32 ``(num, size²)``, ``means``, ``positions``).

    Raises:
        ValueError: bad shapes or arguments, or ``min_std`` so high that (almost) no patch
            passes.
    """
    size = _check_int(size, "size")
    num = _check_int(num, "num")
    seed = _check_int(seed, "seed", 0)
    min_std = _check_min_std(min_std)
    pixels = _grayscale(images, size)
    count, height, width = pixels.shape
    rng = np.random.default_rng(seed)
    offsets = np.arange(size)
    kept, drawn = [], 0
    total = 0
    while total < num:
        batch = max(2 * (num - total), 256)
        if drawn > 100 * num + 10_000:
            raise ValueError(
                f"only {total} of {drawn} random patches have a standard deviation above "
                f"min_std={min_std}; lower min_std (the images vary too little)."
            )
        where = np.stack(
            [
                rng.integers(0, count, batch),
                rng.integers(0, height - size + 1, batch),
                rng.integers(0, width - size + 1, batch),
            ],
            axis=1,
        )
        drawn += batch
        rows = where[:, 1, None, None] + offsets[None, :, None]
        cols = where[:, 2, None, None] + offsets[None, None, :]
        patches = pixels[where[:, 0, None, None], rows, cols].reshape(batch, size * size)
        if min_std > 0:
            keep = patches.std(axis=1) > min_std
            where, patches = where[keep], patches[keep]
        kept.append((where, patches))
        total += len(patches)
    where = np.concatenate([w for w, _ in kept])[:num]
    patches = np.concatenate([p for _, p in kept])[:num]
    means = patches.mean(axis=1) if remove_mean else np.zeros(num)
    patches = patches - means[:, None]
    return PatchSet(
        patches=patches.astype(np.float32),
        means=means.astype(np.float32),
        positions=where.astype(np.int64),
        size=size,
    )


def patch_dataset(
    images,
    size: int = 8,
    batch_size: int = 64,
    *,
    seed: int = 0,
    remove_mean: bool = True,
    min_std: float = 0.0,
) -> tf.data.Dataset:
    """An endless ``tf.data.Dataset`` of batches of random patches, ``(batch_size, size²)``.

    The same patches as :func:`extract_patches` would give in distribution (uniform positions,
    the same scaling, mean removal and ``min_std`` rule), drawn by stateless random ops keyed on
    ``(seed, batch index)``: the same seed gives the same stream in any run. With
    ``min_std > 0`` the flat candidates are filtered out before batching, so every batch is full.
    Float32 patches only (no means or positions); use :func:`extract_patches` for a fixed set.
    """
    import tensorflow as tf

    size = _check_int(size, "size")
    batch_size = _check_int(batch_size, "batch_size")
    seed = _check_int(seed, "seed", 0)
    min_std = _check_min_std(min_std)
    pixels = _grayscale(images, size).astype(np.float32)
    count, height, width = pixels.shape
    flat = tf.constant(pixels.reshape(-1))
    grid = tf.constant(
        (np.arange(size)[:, None] * width + np.arange(size)[None, :]).reshape(-1), tf.int64
    )
    # Candidates per draw: more than a batch when flat ones are thrown away.
    draw = batch_size if min_std == 0 else 2 * batch_size

    def candidates(index):
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)])
        keys = tf.random.experimental.stateless_split(key, num=3)
        image = tf.random.stateless_uniform([draw], keys[0], 0, count, tf.int64)
        row = tf.random.stateless_uniform([draw], keys[1], 0, height - size + 1, tf.int64)
        col = tf.random.stateless_uniform([draw], keys[2], 0, width - size + 1, tf.int64)
        start = image * (height * width) + row * width + col
        patches = tf.gather(flat, start[:, None] + grid[None, :])
        if remove_mean:
            patches -= tf.reduce_mean(patches, axis=1, keepdims=True)
        return patches

    dataset = tf.data.Dataset.counter().map(
        candidates, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if min_std > 0:
        dataset = dataset.unbatch().filter(lambda p: tf.math.reduce_std(p) > min_std)
        dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def dct_dictionary(size: int = 8, atoms_per_side: int | None = None) -> np.ndarray:
    """The overcomplete 2D DCT dictionary ``A = D ⊗ D``, ``(size², atoms_per_side²)`` float32.

    ``D`` is ``size × K`` with unit-norm columns ``d_k(i) ∝ cos(π (2i + 1) k / (2K))``
    (``K = atoms_per_side``, default ``2·size``); column ``k·K + l`` of ``A`` is the 2D atom
    ``d_k(i) d_l(j)`` flattened row-major like the patches of :func:`extract_patches`.
    ``K = size`` is the orthonormal 2D DCT-II basis; ``K = 2·size`` is the DCT-II and DCT-IV
    bases together, a tight frame with ``A Aᵀ = 4 I`` (see the module docstring).

    Raises:
        ValueError: ``size < 1`` or ``atoms_per_side < size`` (an undercomplete dictionary
            cannot represent every patch).
    """
    size = _check_int(size, "size")
    per_side = 2 * size if atoms_per_side is None else _check_int(atoms_per_side, "atoms_per_side")
    if per_side < size:
        raise ValueError(
            f"atoms_per_side must be >= size ({size}) so the dictionary spans every patch, got "
            f"{per_side}; use {size} for the orthonormal DCT or {2 * size} for a 2x overcomplete "
            f"one."
        )
    i = np.arange(size)[:, None]
    k = np.arange(per_side)[None, :]
    D = np.cos(np.pi * (2 * i + 1) * k / (2 * per_side))
    D /= np.linalg.norm(D, axis=0, keepdims=True)
    return np.kron(D, D).astype(np.float32)
