"""Analysis tools: what a representation keeps, what it is stable to, how robust a model is.

- :mod:`keraslab.analysis.stability` measures non-expansiveness, energy per scattering order,
  translation invariance, deformation stability and rotation covariance (Mallat, 2012; Bruna &
  Mallat, 2013);
- :mod:`keraslab.analysis.robustness` measures accuracy under FGSM (Goodfellow et al., 2015)
  and the input–output Jacobian's Frobenius norm over a dataset (Sokolić et al., 2017);
- :mod:`keraslab.analysis.invertibility` reports how exactly ``inverse(features(x))`` gives
  back ``x`` (i-RevNet, Jacobsen et al., 2018);
- :mod:`keraslab.analysis.separation` measures progressive separation and contraction against
  depth — linear probe, 1-NN, within/between-class distances (Oyallon, 2017) — PCA, and
  interpolation in feature space;
- :mod:`keraslab.analysis.plots` draws grids of images (inputs, reconstructions, attacks),
  separation against depth, and bars of measurements over runs with their error bars;
- :mod:`keraslab.analysis.uncertainty` gives a measurement repeated over runs its uncertainty
  (test-set sampling and run-to-run spread) and says whether two differ beyond 2σ.
"""

from keraslab.analysis.invertibility import (
    BlockReconstruction,
    ReconstructionReport,
    reconstruction_report,
    relative_errors,
)
from keraslab.analysis.plots import estimate_bars, image_grid, separation_curves
from keraslab.analysis.robustness import (
    FGSMCurve,
    JacobianNorms,
    PixelRange,
    fgsm,
    fgsm_accuracy,
    jacobian_frobenius_norms,
    jacobian_norms,
)
from keraslab.analysis.separation import (
    ClassDistances,
    DepthFeatures,
    DepthSeparation,
    Interpolation,
    LinearProbe,
    PCAResult,
    class_distances,
    depth_features,
    fit_linear_probe,
    interpolate,
    linear_probe_accuracy,
    nearest_neighbor_accuracy,
    pca,
    separation_by_depth,
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
from keraslab.analysis.uncertainty import Comparison, Estimate, compare, estimate

__all__ = [
    "BlockReconstruction",
    "ClassDistances",
    "Comparison",
    "DeformationCurve",
    "DepthFeatures",
    "DepthSeparation",
    "EnergyByOrder",
    "Estimate",
    "FGSMCurve",
    "Interpolation",
    "JacobianNorms",
    "LinearProbe",
    "NonExpansiveness",
    "PCAResult",
    "PixelRange",
    "ReconstructionReport",
    "RotationCovariance",
    "ShiftCurve",
    "class_distances",
    "coefficient_orders",
    "coefficient_paths",
    "compare",
    "deform",
    "deformation_stability",
    "depth_features",
    "displacement_field",
    "energy",
    "estimate",
    "estimate_bars",
    "fgsm",
    "fgsm_accuracy",
    "fit_linear_probe",
    "fourier_modulus",
    "image_grid",
    "interpolate",
    "jacobian_frobenius_norms",
    "jacobian_norms",
    "linear_probe_accuracy",
    "littlewood_paley_sum",
    "nearest_neighbor_accuracy",
    "nonexpansiveness",
    "pca",
    "reconstruction_report",
    "relative_errors",
    "rotation_covariance",
    "separation_by_depth",
    "separation_curves",
    "shift_images",
    "translation_invariance",
]
