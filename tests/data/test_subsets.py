"""balanced_subset (N per class, seeded, exclusions) and DatasetSpec.normalize / denormalize."""

import numpy as np
import pytest

from keraslab.data import balanced_subset, get_spec
from keraslab.errors import InputSpecError

LABELS = np.repeat(np.arange(4), [10, 6, 8, 3]).astype(np.int32)  # class 3 is short


def test_each_class_gets_its_share_and_the_first_ones_the_remainder():
    indices = balanced_subset(LABELS, 10, seed=0)
    assert indices.dtype == np.int64 and len(np.unique(indices)) == 10
    # 10 = 4 · 2 + 2: classes 0 and 1 get 3, classes 2 and 3 get 2, grouped by class.
    assert LABELS[indices].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]


def test_a_short_class_gives_what_it_has():
    indices = balanced_subset(LABELS, 20, seed=0)
    assert np.bincount(LABELS[indices]).tolist() == [5, 5, 5, 3]


def test_the_draw_is_seeded_and_uniform_within_a_class():
    np.testing.assert_array_equal(
        balanced_subset(LABELS, 8, seed=4), balanced_subset(LABELS, 8, seed=4)
    )
    draws = {tuple(balanced_subset(LABELS, 4, seed=s)) for s in range(40)}
    assert len(draws) > 20
    # Over many seeds every image of class 0 is drawn about equally often (1 of 10 each time).
    counts = np.bincount([balanced_subset(LABELS, 4, seed=s)[0] for s in range(2000)], minlength=10)
    assert counts[:10].min() > 140 and counts[:10].max() < 260


def test_excluded_indices_are_never_drawn():
    few = balanced_subset(LABELS, 8, seed=0)
    rest = balanced_subset(LABELS, 100, seed=1, exclude=few)
    assert not set(few) & set(rest)
    assert len(few) + len(rest) == len(LABELS)


def test_num_classes_counts_classes_absent_from_the_labels():
    indices = balanced_subset(LABELS, 10, seed=0, num_classes=5)
    assert np.bincount(LABELS[indices]).tolist() == [2, 2, 2, 2]  # class 4 has none to give


@pytest.mark.parametrize(
    ("labels", "count", "exclude", "message"),
    [
        (LABELS.astype(float), 4, None, "1-D integer array"),
        (LABELS[:, None], 4, None, "1-D integer array"),
        (LABELS, -1, None, "non-negative integer"),
        (LABELS, 2.5, None, "non-negative integer"),
        (LABELS, 4, [0, 27], "outside 0 … 26"),
    ],
)
def test_bad_arguments_name_the_problem(labels, count, exclude, message):
    with pytest.raises(InputSpecError, match=message):
        balanced_subset(labels, count, seed=0, exclude=exclude)


def test_normalize_is_the_pipelines_formula_and_denormalize_its_inverse():
    spec = get_spec("cifar10")
    images = np.random.default_rng(0).integers(0, 256, size=(2, 4, 4, 3), dtype=np.uint8)
    x = spec.normalize(images)
    assert x.dtype == np.float32 and x.shape == images.shape
    expected = (images / 255.0 - np.array(spec.mean)) / np.array(spec.std)
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-6)
    back = spec.denormalize(x)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, images, atol=1e-3)


def test_normalize_matches_the_tf_data_normalization():
    from keraslab.data.augment import normalize

    spec = get_spec("fashion_mnist")
    images = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    np.testing.assert_array_equal(spec.normalize(images), normalize(images, spec).numpy())
