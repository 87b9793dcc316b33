"""semi_supervised_batches: labelled images first, then unlabelled ones marked UNLABELLED; a
supervised baseline drawn from the same labelled stream; steps and seeding."""

import numpy as np
import pytest

from keraslab import data
from keraslab.errors import InputSpecError


def arrays():
    # Image i is filled with the value i, so a batch says which images it holds.
    images = np.arange(10, dtype=np.float32)[:, None, None, None] * np.ones(
        (1, 2, 2, 1), np.float32
    )
    pool = (100 + np.arange(23, dtype=np.float32))[:, None, None, None] * np.ones((1, 2, 2, 1))
    return images, np.arange(10) % 3, pool.astype(np.float32)


def ids(x):
    return x[:, 0, 0, 0].astype(int).tolist()


def test_batches_put_labelled_first_and_mark_the_rest_unlabelled():
    images, labels, pool = arrays()
    batches = data.semi_supervised_batches(
        images, labels, pool, labelled_per_batch=4, unlabelled_per_batch=5, seed=0
    )
    assert batches.steps == 4  # 23 // 5: one pass over the pool, the incomplete batch dropped
    assert int(batches.mixed.cardinality()) == int(batches.labelled.cardinality()) == 4
    seen = []
    for x, y in batches.mixed:
        x, y = x.numpy(), y.numpy()
        assert x.shape == (9, 2, 2, 1) and y.dtype == np.int32
        first, rest = ids(x[:4]), ids(x[4:])
        assert all(i < 10 for i in first) and y[:4].tolist() == [i % 3 for i in first]
        assert all(i >= 100 for i in rest) and y[4:].tolist() == [data.UNLABELLED] * 5
        seen += rest
    assert len(set(seen)) == 20  # no unlabelled image twice in an epoch
    assert data.UNLABELLED == -1


def test_the_labelled_images_cycle_through_all_of_them():
    images, labels, pool = arrays()
    batches = data.semi_supervised_batches(
        images, labels, pool, labelled_per_batch=5, unlabelled_per_batch=2, seed=3
    )
    labelled = [i for x, _ in batches.labelled for i in ids(x.numpy())]
    assert len(labelled) == 5 * 11
    assert set(labelled) == set(range(10))  # 55 draws from a repeated 10: every image


def test_same_seed_same_batches_other_seed_other_batches():
    images, labels, pool = arrays()

    def first_epoch(seed):
        batches = data.semi_supervised_batches(
            images, labels, pool, seed=seed, unlabelled_per_batch=5
        )
        return [ids(x.numpy()) for x, _ in batches.mixed]

    assert first_epoch(1) == first_epoch(1)
    assert first_epoch(1) != first_epoch(2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": np.arange(9)}, "same length"),
        ({"unlabelled": np.zeros((30, 3, 2, 1), np.float32)}, "differ in shape"),
        ({"labelled_per_batch": 0}, "labelled_per_batch must be a positive integer"),
        ({"unlabelled_per_batch": 24}, "23 unlabelled images do not fill one batch"),
    ],
)
def test_bad_arguments_name_the_problem(change, message):
    images, labels, pool = arrays()
    kwargs = {"images": images, "labels": labels, "unlabelled": pool, **change}
    with pytest.raises(InputSpecError, match=message):
        data.semi_supervised_batches(**kwargs)
