"""Model builders of keraslab. Each returns a plain ``keras.Model`` mapping normalized images to
logits; training-time penalties live in ``keraslab.training``, never in the model."""

from keraslab.models.cnn import lenet, resnet20, small_cnn
from keraslab.models.scattering import scattering_cnn, scattering_linear, scattering_wrn

__all__ = [
    "lenet",
    "resnet20",
    "scattering_cnn",
    "scattering_linear",
    "scattering_wrn",
    "small_cnn",
]
