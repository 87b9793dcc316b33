"""Keras 3 layers of keraslab: registered, serializable, channels-last.

This package imports nothing else from keraslab. Layers arrive with the capabilities that need
them (scattering, invertible blocks, sparse coding).
"""

from keraslab.layers.scattering import Scattering2D

__all__ = ["Scattering2D"]
