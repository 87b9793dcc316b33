"""keraslab.analysis.plots: an image grid draws each image where it was asked to, as given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keraslab.analysis.plots import estimate_bars, image_grid, separation_curves  # noqa: E402
from keraslab.analysis.uncertainty import Estimate  # noqa: E402


def test_image_grid_places_each_image_with_its_title_colormap_and_limits():
    rng = np.random.default_rng(0)
    first = rng.random((3, 5, 4, 1))  # a row given as one (N, H, W, 1) array
    second = [rng.random((5, 4)), None]  # a shorter row, with an empty cell
    fig, axes = image_grid(
        [first, second],
        titles=[["a", None, "c"]],
        row_labels=["inputs", "outputs"],
        cmap=["gray_r", "magma"],
        limits=[None, (0.0, 2.0)],
    )
    assert axes.shape == (2, 3)
    for c in range(3):
        np.testing.assert_array_equal(axes[0, c].images[0].get_array(), first[c, :, :, 0])
        assert axes[0, c].images[0].get_cmap().name == "gray_r"
    assert [axes[0, c].get_title() for c in range(3)] == ["a", "", "c"]
    shown = axes[1, 0].images[0]
    np.testing.assert_array_equal(shown.get_array(), second[0])
    assert shown.get_cmap().name == "magma" and shown.get_clim() == (0.0, 2.0)
    assert not axes[1, 1].images and not axes[1, 2].images  # None and past the row's end
    assert axes[0, 0].get_ylabel() == "inputs" and axes[1, 0].get_ylabel() == "outputs"
    assert all(not ax.get_xticks().size and not ax.get_yticks().size for ax in axes.ravel())
    plt.close(fig)


def test_one_pair_of_limits_applies_to_every_row():
    rows = [np.zeros((2, 3, 3)), np.ones((1, 3, 3, 3))]  # an RGB image keeps its channels
    fig, axes = image_grid(rows, limits=(0, 1), figsize=(3, 3))
    assert tuple(fig.get_size_inches()) == (3, 3)
    assert {axes[r, 0].images[0].get_clim() for r in range(2)} == {(0, 1)}
    assert axes[1, 0].images[0].get_array().shape == (3, 3, 3)
    plt.close(fig)


def test_estimate_bars_draw_the_means_with_their_two_sigma_whiskers():
    fig, ax = plt.subplots()
    estimates = [Estimate(0.8, None, 0.01, 1), Estimate(0.6, 0.05, 0.03, 3)]
    low, high = estimate_bars(ax, ["a", "b"], estimates, colors=["red", "blue"], digits=2)
    assert [bar.get_height() for bar in ax.patches] == [0.8, 0.6]
    (whiskers,) = ax.collections  # the error bars: one vertical segment per bar
    segments = [sorted(seg[:, 1].tolist()) for seg in whiskers.get_segments()]
    np.testing.assert_allclose(segments, [[0.78, 0.82], [0.54, 0.66]])
    assert [t.get_text() for t in ax.texts] == ["0.80", "0.60"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert (low, high) == (pytest.approx(0.6 - 0.06), pytest.approx(0.8 + 0.06))
    plt.close(fig)


def test_separation_curves_draw_each_network_and_the_baseline_against_depth():
    from keraslab.analysis.separation import DepthSeparation

    def curve(probe, ratio):
        return DepthSeparation(
            names=["input", "b1", "b2"],
            depths=[0, 1, 2],
            dims=[4, 8, 8],
            linear_probe=probe,
            nearest_neighbor=[p - 0.1 for p in probe],
            within=[1.0] * 3,
            between=[2.0] * 3,
            ratio=ratio,
        )

    fig, axes = plt.subplots(1, 2)
    trained, untrained = curve([0.2, 0.6, 0.9], [0.9, 0.7, 0.4]), curve([0.2, 0.3, 0.4], [0.9] * 3)
    separation_curves(
        axes,
        {"trained": trained, "untrained": untrained},
        baseline={"linear_probe": 0.8, "nearest_neighbor": 0.7},
        baseline_label="pixels",
        boundaries=[1.5],
    )
    lines = {line.get_label(): line for line in axes[0].get_lines()}
    np.testing.assert_array_equal(lines["linear probe, trained"].get_ydata(), [0.2, 0.6, 0.9])
    np.testing.assert_allclose(lines["1-NN, untrained"].get_ydata(), [0.1, 0.2, 0.3])
    assert lines["linear probe, trained"].get_linestyle() == "-"
    assert lines["linear probe, untrained"].get_linestyle() == "--"
    assert list(lines["1-NN, pixels"].get_ydata()) == [0.7, 0.7]
    ratios = {line.get_label(): list(line.get_ydata()) for line in axes[1].get_lines()}
    assert ratios["trained"] == [0.9, 0.7, 0.4] and ratios["untrained"] == [0.9] * 3
    assert all(list(ax.get_lines()[-1].get_xdata()) == [1.5, 1.5] for ax in axes)  # boundary
    plt.close(fig)
