"""Keras 3 layers of keraslab: registered, serializable, channels-last.

- :mod:`~keraslab.layers.scattering` — ``Scattering2D`` (Mallat 2012; Bruna & Mallat 2013),
  with its NumPy Morlet filter bank in :mod:`~keraslab.layers.filters` (``filter_bank``,
  ``FilterBank``, built on the grid ``scattering_padding`` gives, with ``num_coefficients``
  channels out);
- :mod:`~keraslab.layers.invertible` — the i-RevNet building blocks, each with ``inverse``
  (Jacobsen, Smeulders & Oyallon 2018), and :mod:`~keraslab.layers.memory_free` for
  backpropagation that reconstructs activations instead of storing them;
- :mod:`~keraslab.layers.sparse` — soft thresholding, ISTA/FISTA and the learned-ISTA cells
  (Gregor & LeCun 2010; Chen et al. 2018; Liu et al. 2019).

This package imports nothing else from keraslab.
"""

from keraslab.layers.filters import FilterBank, filter_bank
from keraslab.layers.invertible import (
    InjectivePad,
    InvertibleDownsampling,
    InvertibleLayer,
    IRevNetBlock,
    depth_to_space,
    space_to_depth,
)
from keraslab.layers.memory_free import memory_free_sequence
from keraslab.layers.scattering import Scattering2D, num_coefficients, scattering_padding
from keraslab.layers.sparse import (
    FISTA,
    ISTA,
    ALISTACell,
    LISTACell,
    LISTACPCell,
    SoftThreshold,
    analytic_weight,
    fista_momentum,
    lipschitz_constant,
    mutual_coherence,
    soft_threshold,
    support_selection_threshold,
)

__all__ = [
    "FISTA",
    "ISTA",
    "ALISTACell",
    "FilterBank",
    "IRevNetBlock",
    "InjectivePad",
    "InvertibleDownsampling",
    "InvertibleLayer",
    "LISTACPCell",
    "LISTACell",
    "Scattering2D",
    "SoftThreshold",
    "analytic_weight",
    "depth_to_space",
    "filter_bank",
    "fista_momentum",
    "lipschitz_constant",
    "memory_free_sequence",
    "mutual_coherence",
    "num_coefficients",
    "scattering_padding",
    "soft_threshold",
    "space_to_depth",
    "support_selection_threshold",
]
