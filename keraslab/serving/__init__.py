"""Clients of a model server: :class:`Client` queries TF Serving's REST API (standard library
only, no TensorFlow needed) for the exports of :mod:`keraslab.export`."""

from keraslab.serving.client import Client, ServedPrediction

__all__ = ["Client", "ServedPrediction"]
