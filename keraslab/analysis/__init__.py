"""Analysis tools: what a representation keeps, what it is stable to, how robust a model is.

- :mod:`keraslab.analysis.stability` measures non-expansiveness, energy per scattering order,
  translation invariance, deformation stability and rotation covariance (Mallat, 2012; Bruna &
  Mallat, 2013);
- :mod:`keraslab.analysis.robustness` measures accuracy under FGSM (Goodfellow et al., 2015)
  and the input–output Jacobian's Frobenius norm over a dataset (Sokolić et al., 2017).
"""

from keraslab.analysis.robustness import (
    FGSMCurve,
    JacobianNorms,
    PixelRange,
    fgsm,
    fgsm_accuracy,
    jacobian_frobenius_norms,
    jacobian_norms,
)
from keraslab.analysis.stability import (
    DeformationCurve,
    EnergyByOrder,
    NonExpansiveness,
    RotationCovariance,
    ShiftCurve,
    coefficient_orders,
    coefficient_paths,
    deform,
    deformation_stability,
    displacement_field,
    energy,
    fourier_modulus,
    littlewood_paley_sum,
    nonexpansiveness,
    rotation_covariance,
    shift_images,
    translation_invariance,
)

__all__ = [
    "DeformationCurve",
    "EnergyByOrder",
    "FGSMCurve",
    "JacobianNorms",
    "NonExpansiveness",
    "PixelRange",
    "RotationCovariance",
    "ShiftCurve",
    "coefficient_orders",
    "coefficient_paths",
    "deform",
    "deformation_stability",
    "displacement_field",
    "energy",
    "fgsm",
    "fgsm_accuracy",
    "fourier_modulus",
    "jacobian_frobenius_norms",
    "jacobian_norms",
    "littlewood_paley_sum",
    "nonexpansiveness",
    "rotation_covariance",
    "shift_images",
    "translation_invariance",
]
