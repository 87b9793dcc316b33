"""signature_checks: each extra signature run as Keras computes it, chained by input names."""

import numpy as np
import pytest

from keraslab.export import signature_checks


class Spec:
    """What signature_checks reads of a tf.TensorSpec: its name."""

    def __init__(self, name):
        self.name = name


def test_an_input_named_like_an_earlier_output_is_fed_that_output():
    images = np.arange(6, dtype=np.uint8).reshape(1, 2, 3, 1)
    signatures = {
        "features": (lambda image: {"features": image.astype(np.float32) * 2}, [Spec("image")]),
        "inverse": (lambda features: {"image": features / 2}, [Spec("features")]),
    }
    checks = signature_checks(signatures, images)
    assert list(checks) == ["features", "inverse"]
    feeds, outputs = checks["inverse"]
    np.testing.assert_array_equal(feeds["features"], checks["features"][1]["features"])
    np.testing.assert_array_equal(outputs["image"], images)
    assert checks["features"][0]["image"] is images


def test_an_input_nothing_provides_is_refused():
    signatures = {"inverse": (lambda features: {"image": features}, [Spec("features")])}
    with pytest.raises(ValueError, match=r"signature 'inverse': no input for \['features'\]"):
        signature_checks(signatures, np.zeros((1, 2, 2, 1), np.uint8))


def test_an_image_bytes_input_is_fed_the_images_as_png():
    import tensorflow as tf

    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4, 1)
    decode = [Spec("image_bytes")]
    signatures = {
        "decode": (
            lambda image_bytes: {
                "image": np.stack([tf.io.decode_png(b).numpy() for b in image_bytes])
            },
            decode,
        )
    }
    feeds, outputs = signature_checks(signatures, images)["decode"]
    assert feeds["image_bytes"].shape == (2,) and feeds["image_bytes"][0][:4] == b"\x89PNG"
    np.testing.assert_array_equal(outputs["image"], images)
