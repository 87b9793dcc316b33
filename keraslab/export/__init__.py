"""Export to TF Serving: atomic, versioned, multi-signature SavedModels, verified in a
TensorFlow-only process — image classifiers (:func:`saved_model`) and sparse coders with their
dictionary (:func:`saved_sparse_coder`)."""

from keraslab.export.saved_model import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    CLASS_NAME_OUTPUT,
    METADATA_FILE,
    SERVING_INPUT,
    SERVING_OUTPUTS,
    Preprocessing,
    decode_images,
    next_version,
    read_metadata,
    saved_model,
    write_version,
)
from keraslab.export.serving import (
    BATCHING_PARAMETERS_FILE,
    BatchingParameters,
    batching_parameters,
    models_config,
    write_models_config,
)
from keraslab.export.sparse_coder import saved_sparse_coder
from keraslab.export.verify import (
    VerificationReport,
    encode_png,
    run_in_tensorflow_only_process,
    signature_checks,
    verify,
    verify_sparse_coder,
)

__all__ = [
    "BATCHING_PARAMETERS_FILE",
    "BYTES_INPUT",
    "BYTES_SIGNATURE",
    "CLASS_NAME_OUTPUT",
    "METADATA_FILE",
    "SERVING_INPUT",
    "SERVING_OUTPUTS",
    "BatchingParameters",
    "Preprocessing",
    "VerificationReport",
    "batching_parameters",
    "decode_images",
    "encode_png",
    "models_config",
    "next_version",
    "read_metadata",
    "run_in_tensorflow_only_process",
    "saved_model",
    "saved_sparse_coder",
    "signature_checks",
    "verify",
    "verify_sparse_coder",
    "write_models_config",
    "write_version",
]
