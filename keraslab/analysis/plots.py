"""Figures the analyses come back to: a grid of images (inputs, their reconstructions,
attacked versions, feature maps), each with its title, row by row; separation and
contraction against depth (:func:`~keraslab.analysis.separation_by_depth`) for several
networks; and bars of measurements over runs (:class:`~keraslab.analysis.uncertainty.Estimate`)
with their ±kσ error bars.

Matplotlib is imported inside the function, so importing :mod:`keraslab.analysis` does not
load it (or pick its backend) for code that draws nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from keraslab.analysis.uncertainty import Estimate

if TYPE_CHECKING:
    from keraslab.analysis.separation import DepthSeparation

__all__ = ["estimate_bars", "image_grid", "separation_curves"]


def _per_row(value: Any, rows: int, is_single: bool) -> list[Any]:
    return [value] * rows if is_single else list(value)


def image_grid(
    rows: Sequence[Sequence[Any]],
    *,
    titles: Sequence[Sequence[str | None] | None] | None = None,
    row_labels: Sequence[str] | None = None,
    cmap: str | Sequence[str] = "gray_r",
    limits: tuple[float, float] | Sequence[tuple[float, float] | None] | None = None,
    fontsize: float = 8,
    figsize: tuple[float, float] | None = None,
) -> tuple[Any, np.ndarray]:
    """Draw ``rows[r][c]`` in row r, column c of a new figure, without ticks.

    Args:
        rows: the images of each row; an image is ``(H, W)``, ``(H, W, 1)`` (drawn with
            ``cmap``) or ``(H, W, 3)``; an ``(N, H, W[, C])`` array is a row of N images; a
            ``None`` entry leaves its axes empty.
        titles: a title per image, row by row (a row, or an entry, may be ``None``; rows past
            the last have none).
        row_labels: one label per row, left of its first image.
        cmap: one colormap, or one per row.
        limits: ``(vmin, vmax)`` for every image, or one (or ``None``: the image's own range)
            per row.
        fontsize: of the titles and row labels.
        figsize: default 1.5 × 1.6 inches per image.

    Returns:
        ``(figure, axes)``, axes of shape ``(len(rows), longest row)``, for the caller to add
        a colorbar or a suptitle and to save.
    """
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(row) for row in rows)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=figsize or (1.5 * n_cols, 1.6 * n_rows), squeeze=False
    )
    cmaps = _per_row(cmap, n_rows, isinstance(cmap, str))
    single = limits is not None and len(limits) == 2 and np.isscalar(limits[0])
    bounds = _per_row(limits, n_rows, limits is None or single)
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set(xticks=[], yticks=[])
            ax.spines[:].set_visible(False)
            if c >= len(row) or row[c] is None:
                continue
            image = np.asarray(row[c])
            image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
            vmin, vmax = bounds[r] if bounds[r] is not None else (None, None)
            ax.imshow(image, cmap=cmaps[r], vmin=vmin, vmax=vmax)
            title = titles[r] if titles is not None and r < len(titles) else None
            if title is not None and c < len(title) and title[c] is not None:
                ax.set_title(title[c], fontsize=fontsize)
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=fontsize)
    return fig, axes


def estimate_bars(
    ax: Any,
    labels: Sequence[str],
    estimates: Sequence[Estimate],
    *,
    colors: Any = None,
    digits: int = 3,
    sigmas: float = 2.0,
) -> tuple[float, float]:
    """Bars of the estimates' means with ±``sigmas``·uncertainty error bars, each labelled
    with its mean to ``digits`` decimals, on the axes ``ax``.

    Returns:
        The lowest and the highest whisker (mean ∓ the largest error bar), for the caller's
        axis limits.
    """
    means = [e.mean for e in estimates]
    errors = [sigmas * e.uncertainty for e in estimates]
    ax.bar(range(len(labels)), means, yerr=errors, color=colors, capsize=4)
    for i, (m, e) in enumerate(zip(means, errors, strict=True)):
        ax.text(i, m + e, f"{m:.{digits}f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return min(means) - max(errors), max(means) + max(errors)


def separation_curves(
    axes: Sequence[Any],
    curves: Mapping[str, DepthSeparation],
    *,
    baseline: Mapping[str, float] | None = None,
    baseline_label: str = "baseline",
    boundaries: Sequence[float] = (),
) -> None:
    """Separation and contraction against depth, one line style per network.

    ``axes[0]``: the held-out linear-probe and 1-NN accuracy; ``axes[1]``: the mean
    within-class / mean between-class distance ratio (lower: classes more contracted). The
    first entry of ``curves`` is drawn solid, the others dashed and lighter, each labelled with
    its key (e.g. ``{"trained": …, "untrained": …}``).

    Args:
        axes: two matplotlib axes.
        curves: :func:`~keraslab.analysis.separation_by_depth` results, by name.
        baseline: ``{"linear_probe": …, "nearest_neighbor": …}`` of a reference (e.g. the raw
            pixels), drawn as dotted horizontal lines labelled ``baseline_label``.
        boundaries: depths to mark with a vertical line (e.g. where a stage downsamples).
    """
    styles = [("-", 1.0)] + [("--", 0.5)] * (len(curves) - 1)
    measures = (
        ("linear_probe", "o", "tab:blue", "linear probe"),
        ("nearest_neighbor", "s", "tab:orange", "1-NN"),
    )
    for key, marker, color, label in measures:
        for (name, sep), (ls, alpha) in zip(curves.items(), styles, strict=True):
            axes[0].plot(
                sep.depths,
                getattr(sep, key),
                marker + ls,
                c=color,
                alpha=alpha,
                label=f"{label}, {name}",
            )
        if baseline is not None:
            axes[0].axhline(baseline[key], color=color, ls=":", label=f"{label}, {baseline_label}")
    for (name, sep), (ls, alpha) in zip(curves.items(), styles, strict=True):
        axes[1].plot(sep.depths, sep.ratio, "o" + ls, c="tab:green", alpha=alpha, label=name)
    axes[0].set(
        ylabel="held-out accuracy", ylim=(0, 1), title="Separation of spatially averaged features"
    )
    axes[1].set(ylabel="mean within / mean between distance", title="Contraction of the classes")
    for ax in axes[:2]:
        ax.set_xlabel("depth (blocks)")
        for boundary in boundaries:
            ax.axvline(boundary, color="gray", lw=0.8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
