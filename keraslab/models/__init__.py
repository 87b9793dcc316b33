"""Model builders of keraslab. Classifiers return a plain ``keras.Model`` mapping normalized
images to logits; training-time penalties live in ``keraslab.training``, never in the model.

- :mod:`~keraslab.models.cnn` — LeNet-style CNN, SmallCNN, ResNet-20;
- :mod:`~keraslab.models.scattering` — scattering + linear / CNN / wide-ResNet hybrids;
- :mod:`~keraslab.models.irevnet` — ``IRevNet`` with ``features`` and ``inverse``;
- :mod:`~keraslab.models.lista` — unrolled learned ISTA (signal → sparse code) and NMSE.
"""

from keraslab.models.cnn import lenet, resnet20, small_cnn
from keraslab.models.irevnet import IRevNet, irevnet_cifar, irevnet_imagenet, irevnet_mnist
from keraslab.models.lista import NMSE, VARIANTS, lista, nmse_db, support_schedule
from keraslab.models.scattering import scattering_cnn, scattering_linear, scattering_wrn

__all__ = [
    "NMSE",
    "VARIANTS",
    "IRevNet",
    "irevnet_cifar",
    "irevnet_imagenet",
    "irevnet_mnist",
    "lenet",
    "lista",
    "nmse_db",
    "resnet20",
    "scattering_cnn",
    "scattering_linear",
    "scattering_wrn",
    "small_cnn",
    "support_schedule",
]
