"""Model builders of keraslab. Each returns a plain ``keras.Model`` mapping normalized images to
logits; training-time penalties live in ``keraslab.training``, never in the model."""

from keraslab.models.cnn import lenet, resnet20, small_cnn

__all__ = ["lenet", "resnet20", "small_cnn"]
