"""Analysis tools: stability of representations (scattering, Fourier modulus, any Φ).

:mod:`keraslab.analysis.stability` measures non-expansiveness, energy per scattering order,
translation invariance, deformation stability and rotation covariance (Mallat, 2012; Bruna &
Mallat, 2013). Invertibility, representation probes, Jacobians and attacks arrive with the
i-RevNet and regularization capabilities.
"""

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
    "NonExpansiveness",
    "RotationCovariance",
    "ShiftCurve",
    "coefficient_orders",
    "coefficient_paths",
    "deform",
    "deformation_stability",
    "displacement_field",
    "energy",
    "fourier_modulus",
    "littlewood_paley_sum",
    "nonexpansiveness",
    "rotation_covariance",
    "shift_images",
    "translation_invariance",
]
