"""keraslab.ops.validate: what each check accepts, converts and the message it gives."""

import numpy as np
import pytest
import tensorflow as tf

from keraslab.ops.validate import finite, integer, number, one_of, static_image_shape


def test_integer():
    assert integer(3, "n", 1) == 3 and integer(2.0, "n", 0) == 2
    assert type(integer(np.int64(4), "n", 1)) is int
    for bad in (0, 1.5, True, "3", None, float("nan")):
        with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got "):
            integer(bad, "n", 1)
    with pytest.raises(ValueError, match=r"^iterations must be an integer >= 0, got -1$"):
        integer(-1, "iterations", 0)


def test_number():
    assert number(0, "d") == 0.0 and number(np.float32(2.5), "d", minimum=1) == 2.5
    with pytest.raises(ValueError, match=r"^max_degrees must be >= 0, got -1\.0$"):
        number(-1.0, "max_degrees")
    with pytest.raises(ValueError, match=r"^learning_rate must be > 0, got 0$"):
        number(0, "learning_rate", strict=True)
    for bad in (float("nan"), "1", None, True):
        with pytest.raises(ValueError, match="must be >= 0"):
            number(bad, "d")


def test_one_of_finite_and_image_shape():
    assert one_of("sum", "reduction", ["mean", "sum"]) == "sum"
    with pytest.raises(ValueError, match=r"^average must be one of \('a', 'b'\), got 'c'$"):
        one_of("c", "average", ("a", "b"))
    a = np.ones(3)
    assert finite(a, "x") is a
    with pytest.raises(ValueError, match=r"^x contains NaN or infinite values\.$"):
        finite(np.array([1.0, np.inf]), "x")
    assert static_image_shape(tf.zeros([2, 5, 4, 3])) == (5, 4, 3)
    with pytest.raises(ValueError, match="static height, width and channels, got shape"):
        static_image_shape(tf.zeros([2, 5, 4]))
