"""keraslab: a Keras 3 model zoo and training lab for the signal-processing view of deep learning.

Subpackages, lowest first (a lower one never imports a higher one):
``layers`` → ``models`` → ``training`` / ``analysis`` → ``export`` → ``zoo`` / ``cli``.
``data`` and ``errors`` stand beside them and import no other part of keraslab except ``errors``.
"""

__version__ = "0.1.0"
