"""The exceptions keraslab raises for user mistakes.

Every one carries a message that names the problem and the fix; the CLI prints that message
alone (no traceback) and exits non-zero. They also subclass the matching builtin so code that
already catches ``ValueError`` or ``FileNotFoundError`` keeps working.
"""

from __future__ import annotations


class KeraslabError(Exception):
    """Base class of every error keraslab raises for bad input or a missing resource."""


class UnknownNameError(KeraslabError, ValueError):
    """An unknown dataset, zoo entry, penalty or option name."""


class DatasetNotFoundError(KeraslabError, FileNotFoundError):
    """No source could provide the requested dataset."""


class CorruptDataError(KeraslabError, ValueError):
    """A data file exists but is truncated, corrupt or not in the expected format."""


class InputSpecError(KeraslabError, ValueError):
    """Images (or other inputs) of the wrong shape, dtype or value range."""


class ExportExistsError(KeraslabError, FileExistsError):
    """An export would overwrite an existing SavedModel version."""


class ExportVerificationError(KeraslabError, RuntimeError):
    """An exported SavedModel failed verification in a TensorFlow-only process."""


class TrainingDivergedError(KeraslabError, RuntimeError):
    """Training produced a NaN or infinite loss."""


class ServingError(KeraslabError, RuntimeError):
    """A model server could not be reached, refused a request or answered something else than
    TF Serving's documented REST response."""
