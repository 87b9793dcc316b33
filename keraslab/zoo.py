"""The model zoo: names → builders, configs, datasets, recipes and shipped weights.

>>> import keraslab
>>> keraslab.zoo.list()                                   # every entry, with its dataset
>>> model = keraslab.zoo.build("lenet")                   # fresh, untrained, from its config
>>> model = keraslab.zoo.load("lenet")                    # with the shipped trained weights
>>> keraslab.zoo.get("lenet").recipe                      # how it was (or is to be) trained

Most entries are image classifiers (``task="classification"``). Sparse coders
(``task="sparse_coding"``, e.g. ``alista16``) map signals to sparse codes for a named synthetic
problem (:data:`keraslab.data.PROBLEMS`), which takes the place of a dataset; their recipe is a
:class:`~keraslab.training.StagewiseSchedule`.

Trained entries live in ``savedmodels/``: ``<name>/<version>/`` is the SavedModel TF Serving
loads, ``<name>/keras.weights.h5`` the Keras weights :func:`load` uses, and
``savedmodels/manifest.json`` records each entry's measured metrics and the exact command that
produced them.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keraslab import models
from keraslab.data import PROBLEMS, check_images, get_problem, get_spec
from keraslab.errors import CorruptDataError, DatasetNotFoundError, UnknownNameError
from keraslab.export.saved_model import Preprocessing
from keraslab.files import atomic_write_text
from keraslab.training.recipes import Recipe
from keraslab.training.sparse_coding import StagewiseSchedule

MANIFEST = "manifest.json"
WEIGHTS_FILE = "keras.weights.h5"
#: What an entry does: classify images, or map signals to sparse codes.
TASKS = ("classification", "sparse_coding")


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One zoo model.

    Attributes:
        name: registry name (also the SavedModel directory name).
        builder: classification: ``builder(input_shape=…, num_classes=…, **config)``;
            sparse coding: ``builder(A, **config)``; either returns a ``keras.Model``.
        dataset: the dataset (sparse coding: the synthetic problem) it is trained on by default.
        datasets: every dataset whose images (or problem whose signals) it accepts.
        recipe: the training recipe (sparse coding: a ``StagewiseSchedule``).
        description: one line.
        reference: the paper it follows.
        config: extra builder arguments.
        task: one of :data:`TASKS`.
    """

    name: str
    builder: Callable[..., keras.Model]
    dataset: str
    datasets: tuple[str, ...]
    recipe: Recipe | StagewiseSchedule
    description: str
    reference: str
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    task: str = "classification"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        expected = StagewiseSchedule if self.task == "sparse_coding" else Recipe
        if not isinstance(self.recipe, expected):
            raise TypeError(f"a {self.task} entry's recipe is a {expected.__name__}")

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "dataset": self.dataset,
            "datasets": builtins.list(self.datasets),
            "description": self.description,
            "reference": self.reference,
            "config": dict(self.config),
            "recipe": self.recipe.to_dict(),
        }


_MNIST_FAMILY = ("fashion_mnist", "mnist", "fashion_mnist_sample")

_REGISTRY: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    """Add an entry (names are unique)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"zoo entry {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


# The wide-ResNet CIFAR-10 recipe (Zagoruyko & Komodakis 2016), which the i-RevNet reference
# code also uses: 200 epochs, SGD 0.1, ×0.2 at epochs 60/120/160, weight decay 5e-4.
_CIFAR_WRN_RECIPE = Recipe(
    epochs=200,
    batch_size=128,
    optimizer="sgd",
    learning_rate=0.1,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="step",
    step_boundaries=(0.3, 0.6, 0.8),
    step_factor=0.2,
    augment=True,
)

_LENET_RECIPE = Recipe(
    epochs=15, batch_size=128, optimizer="adam", learning_rate=1e-3, schedule="cosine"
)

register(
    ZooEntry(
        name="lenet",
        builder=models.lenet,
        dataset="fashion_mnist",
        datasets=_MNIST_FAMILY,
        recipe=_LENET_RECIPE,
        description="LeNet-style CNN: 2×(conv 5×5 + max-pool), dense 512, dropout",
        reference="LeCun et al. 1998; TensorFlow 2-conv tutorial layout",
    )
)
register(
    ZooEntry(
        name="small_cnn",
        builder=models.small_cnn,
        dataset="fashion_mnist",
        datasets=_MNIST_FAMILY,
        recipe=Recipe(
            epochs=15, batch_size=128, optimizer="adam", learning_rate=1e-3, schedule="cosine"
        ),  # fmt: skip
        description="SmallCNN: conv 5×5/32, pool, conv 3×3/64, pool, linear (an affine spline)",
        reference="Balestriero & Baraniuk 2017, Table 6",
    )
)
# The two regularized LeNets share the baseline's architecture and recipe, so their robustness
# numbers compare with `lenet`'s (`keraslab evaluate NAME --robustness`).
register(
    ZooEntry(
        name="lenet_jacobian",
        builder=models.lenet,
        dataset="fashion_mnist",
        datasets=_MNIST_FAMILY,
        recipe=_LENET_RECIPE.replace(penalties=("jacobian_projection:0.01:projections=1",)),
        description="LeNet-style CNN trained with the Jacobian penalty (1 random projection)",
        reference="Jakubovitz & Giryes 2018; estimator and λ = 0.01 of Hoffman, Roberts & Yaida "
        "2019",
    )
)
register(
    ZooEntry(
        name="lenet_invariance",
        builder=models.lenet,
        dataset="fashion_mnist",
        datasets=_MNIST_FAMILY,
        recipe=_LENET_RECIPE.replace(penalties=("invariance:0.1",)),
        description="LeNet-style CNN trained with the invariance penalty (shifts, rotations, "
        "elastic deformations) on its penultimate features",
        reference="Sokolić, Giryes, Sapiro & Rodrigues 2017",
    )
)
register(
    ZooEntry(
        name="resnet20",
        builder=models.resnet20,
        dataset="cifar10",
        datasets=("cifar10",),
        recipe=Recipe(
            epochs=182,
            batch_size=128,
            optimizer="sgd",
            learning_rate=0.1,
            momentum=0.9,
            weight_decay=0.0,
            schedule="step",
            step_boundaries=(0.5, 0.75),
            step_factor=0.1,
            augment=True,
        ),  # fmt: skip
        description="ResNet-20 (3×3 basic blocks, 16-32-64), weight decay 1e-4 as in the paper",
        reference="He et al. 2016, §4.2 (CIFAR-10: 64k iterations ≈ 182 epochs, lr ÷10 at 50/75 %)",
    )
)


register(
    ZooEntry(
        name="scattering_linear",
        builder=models.scattering_linear,
        dataset="fashion_mnist",
        datasets=(*_MNIST_FAMILY, "cifar10"),
        recipe=Recipe(
            epochs=20, batch_size=128, optimizer="adam", learning_rate=1e-3, schedule="cosine"
        ),  # fmt: skip
        description="scattering (J=2, L=8, order 2) + standardization + linear classifier",
        reference="Bruna & Mallat 2013; Oyallon & Mallat 2015",
    )
)
register(
    ZooEntry(
        name="scattering_cnn",
        builder=models.scattering_cnn,
        dataset="fashion_mnist",
        datasets=(*_MNIST_FAMILY, "cifar10"),
        # The scattering front end is fixed and there is no augmentation, so its coefficients
        # are computed once (training.precompute) instead of every epoch.
        recipe=Recipe(
            epochs=20,
            batch_size=128,
            optimizer="adam",
            learning_rate=1e-3,
            schedule="cosine",
            precompute="scattering",
        ),  # fmt: skip
        description="scattering (J=2) + 3 conv-BN-ReLU layers (64, 64, 128) at H/4 + linear",
        reference="Oyallon, Belilovsky & Zagoruyko 2017, §3",
        config={"widths": (64, 64, 128)},
    )
)
register(
    ZooEntry(
        name="scattering_wrn",
        builder=models.scattering_wrn,
        dataset="cifar10",
        datasets=("cifar10",),
        recipe=_CIFAR_WRN_RECIPE,
        description="scattering (J=2) + wide-ResNet head (k=8, 2 stages of 2 blocks)",
        reference="Oyallon, Belilovsky & Zagoruyko 2017, §4.1; WRN recipe of Zagoruyko 2016",
    )
)
register(
    ZooEntry(
        name="irevnet_mnist",
        builder=models.irevnet_mnist,
        dataset="fashion_mnist",
        datasets=_MNIST_FAMILY,
        # Measured here on Fashion-MNIST: without augmentation it overfits (96.6 % train, 91.3 %
        # test at epoch 11 of 15); ±2-pixel shifts plus dropout 0.1 in half-width bottlenecks
        # underfit (91.2 %); full-width bottlenecks with shifts, 30 epochs, reached 92.99 % at
        # 96.0 % train accuracy; dropout 0.1 on top closes part of that gap.
        recipe=_LENET_RECIPE.replace(augment=True, epochs=30),
        description="injective i-RevNet: ψ, 4 blocks at 14×14×32, 4 at 7×7×128 (full-width "
        "bottlenecks, dropout 0.1); exact inverse",
        reference="Jacobsen, Smeulders & Oyallon 2018 (a small MNIST-family configuration)",
        config={"bottleneck_ratio": 1, "dropout": 0.1},
    )
)
register(
    ZooEntry(
        name="irevnet_cifar",
        builder=models.irevnet_cifar,
        dataset="cifar10",
        datasets=("cifar10",),
        recipe=_CIFAR_WRN_RECIPE,
        description="injective i-RevNet 18-18-18 blocks, strides 1-2-2, channels 16-64-256",
        reference="Jacobsen, Smeulders & Oyallon 2018, Table 1 (reference recipe: 200 epochs, "
        "lr 0.1 ×0.2 at epochs 60/120/160, weight decay 5e-4)",
    )
)
register(
    ZooEntry(
        name="alista16",
        builder=models.lista,
        dataset="gaussian_250x500",
        datasets=tuple(PROBLEMS),
        # λ = 0.4 initialises θ as the authors' code does; the stage limits are those measured
        # to reach about −50 dB in minutes on 2 CPU cores (benchmarks/README.md, lista_nmse).
        recipe=StagewiseSchedule(max_steps=300, patience=100, validate_every=25),
        description="16-layer ALISTA: analytic W, learned step sizes, thresholds and support "
        "selection; signal → sparse code",
        reference="Liu, Chen, Wang & Yin 2019 (ALISTA), trained stage-wise as Chen et al. 2018",
        config={"T": 16, "variant": "alista", "lam": 0.4, "return_all": True, "name": "alista16"},
        task="sparse_coding",
    )
)


def serving_signatures(
    model: keras.Model, preprocessing: Any
) -> dict[str, tuple[Callable[..., Any], builtins.list[Any]]]:
    """Model-specific serving signatures for :func:`keraslab.export.saved_model`.

    ``scattering`` (models with a layer named ``"scattering"``): raw uint8 ``image`` →
    ``scattering``, the coefficients S_J x of the normalized image, channels-last.

    ``features`` and ``inverse`` (:class:`~keraslab.models.IRevNet`): raw uint8 ``image`` →
    ``features``, the invertible representation Φ(x) of the normalized image; and
    ``features`` → ``image``, Φ⁻¹ mapped back to raw pixels (float32, 0–255, not rounded), so
    ``inverse(features(x)) ≈ x`` holds for a TF Serving client as it does in Keras.

    Each signature's inputs are named after an earlier signature's output (or ``image``), which
    is how ``keraslab export`` chains them when it verifies the export.
    """
    import tensorflow as tf

    names = {layer.name for layer in model.layers}
    signatures: dict[str, tuple[Callable[..., Any], builtins.list[Any]]] = {}
    image_spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.uint8, name="image")
    if isinstance(model, models.IRevNet):
        feature_spec = tf.TensorSpec((None, *model.feature_shape), tf.float32, name="features")

        def features(image: Any) -> dict[str, Any]:
            x = preprocessing.apply(tf.cast(image, tf.float32))
            return {"features": tf.cast(model.features(x, training=False), tf.float32)}

        def inverse(features: Any) -> dict[str, Any]:
            x = tf.cast(model.inverse(features, training=False), tf.float32)
            return {"image": preprocessing.restore(x)}

        signatures["features"] = (features, [image_spec])
        signatures["inverse"] = (inverse, [feature_spec])
    if "scattering" in names:
        front = keras.Model(model.input, model.get_layer("scattering").output)

        def scattering(image: Any) -> dict[str, Any]:
            return {"scattering": front(preprocessing.apply(tf.cast(image, tf.float32)))}

        signatures["scattering"] = (scattering, [image_spec])
    return signatures


def list() -> builtins.list[ZooEntry]:  # noqa: A001 - the public name the design promises
    """Every zoo entry, in registration order."""
    return builtins.list(_REGISTRY.values())


def names() -> builtins.list[str]:
    return builtins.list(_REGISTRY)


def get(name: str) -> ZooEntry:
    """The entry called ``name`` (raises :class:`UnknownNameError` listing the known ones)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown zoo model {name!r}; known models: {', '.join(_REGISTRY)} "
            "(see `keraslab zoo list`)"
        ) from None


def build(name: str, *, dataset: str | None = None, **overrides: Any) -> keras.Model:
    """A fresh, untrained model from the entry's config, shaped for ``dataset``.

    Args:
        name: zoo entry name.
        dataset: dataset whose image shape and class count to use (default: the entry's);
            for a sparse coder, the problem whose matrix ``A`` it is built from.
        **overrides: builder arguments replacing the entry's config.
    """
    entry = get(name)
    dataset = dataset or entry.dataset
    if dataset not in entry.datasets:
        raise UnknownNameError(
            f"zoo model {name!r} takes {', '.join(entry.datasets)}, not {dataset!r}"
        )
    kwargs = {**entry.config, **overrides}
    if entry.task == "sparse_coding":
        return entry.builder(get_problem(dataset).A, **kwargs)
    spec = get_spec(dataset)
    kwargs.setdefault("input_shape", spec.image_shape)
    kwargs.setdefault("num_classes", spec.num_classes)
    return entry.builder(**kwargs)


def savedmodels_dir() -> Path:
    """Where shipped models live: ``$KERASLAB_SAVEDMODELS`` or the repository's ``savedmodels/``."""
    env = os.environ.get("KERASLAB_SAVEDMODELS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "savedmodels"


def manifest(directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """The ``savedmodels/manifest.json`` contents (``{"models": {}}`` if there is none)."""
    path = Path(directory or savedmodels_dir()) / MANIFEST
    if not path.exists():
        return {"models": {}}
    return json.loads(path.read_text())


def update_manifest(
    name: str, record: dict[str, Any], *, directory: str | os.PathLike | None = None
) -> Path:
    """Set ``manifest.json``'s record for ``name`` (atomically: temporary file + rename)."""
    get(name)
    base = Path(directory or savedmodels_dir())
    data = manifest(base)
    data.setdefault("models", {})[name] = record
    data["models"] = dict(sorted(data["models"].items()))
    base.mkdir(parents=True, exist_ok=True)
    atomic_write_text(base / MANIFEST, json.dumps(data, indent=1) + "\n")
    return base / MANIFEST


def load(name: str, *, directory: str | os.PathLike | None = None) -> keras.Model:
    """The entry's model with its shipped trained weights.

    Raises:
        UnknownNameError: no such entry.
        DatasetNotFoundError: no trained weights are shipped for it (train and export it).
    """
    entry = get(name)
    base = Path(directory or savedmodels_dir())
    weights = base / name / WEIGHTS_FILE
    if not weights.exists():
        raise DatasetNotFoundError(
            f"no trained weights for zoo model {name!r} at {weights}; train it with "
            f"`keraslab train {name}` and ship the run with `keraslab export {name} --run "
            f"runs/{name}-{entry.dataset}`, or point KERASLAB_SAVEDMODELS at a directory "
            "holding shipped models"
        )
    record = manifest(base).get("models", {}).get(name, {})
    model = build(name, dataset=record.get("dataset", entry.dataset))
    load_weights(model, weights)
    return model


def load_weights(model: keras.Model, path: str | os.PathLike) -> keras.Model:
    """``model.load_weights(path)`` with one clear error for a missing, corrupt or mismatched
    file (Keras raises h5py's ``OSError`` or a long ``ValueError``)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"weights file {path} does not exist")
    try:
        model.load_weights(path)
    except (OSError, ValueError) as exc:
        raise CorruptDataError(
            f"cannot load {path} into {model.name!r}: {str(exc).splitlines()[0]} — is it a "
            "Keras .weights.h5 file saved from this model?"
        ) from exc
    return model


@dataclasses.dataclass
class Prediction:
    """What :func:`predict` returns for N images."""

    class_ids: np.ndarray
    probabilities: np.ndarray
    class_names: builtins.list[str]

    @property
    def labels(self) -> builtins.list[str]:
        return [self.class_names[i] for i in self.class_ids]


def predict(
    name: str,
    images: Any,
    *,
    model: keras.Model | None = None,
    dataset: str | None = None,
    batch_size: int = 256,
) -> Prediction:
    """Classify raw images with a zoo model.

    Args:
        name: zoo entry.
        images: raw pixels on the 0–255 scale, ``(N, H, W, C)`` (or ``(N, H, W)`` for one
            channel), uint8 or float — checked by :func:`keraslab.data.check_images`.
        model: the network to use (default: :func:`load` ``(name)``, the shipped weights).
        dataset: whose normalization and class names apply (default: the entry's dataset).

    Raises:
        InputSpecError: images of the wrong shape, dtype or values, with the fix.
    """
    entry = get(name)
    if entry.task != "classification":
        raise UnknownNameError(
            f"zoo model {name!r} is a sparse coder, not a classifier: call "
            f"keraslab.zoo.load({name!r})(signals) or its SavedModel's sparse_code signature"
        )
    spec = get_spec(dataset or entry.dataset)
    pixels = check_images(images, spec.image_shape)
    model = model if model is not None else load(name)
    # The very formula the exported serving signature bakes in, so predict() and TF Serving
    # agree by construction.
    x = Preprocessing(spec.mean, spec.std).apply(pixels)
    logits = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    return Prediction(logits.argmax(axis=1), probabilities, builtins.list(spec.class_names))


__all__ = [
    "MANIFEST",
    "TASKS",
    "WEIGHTS_FILE",
    "Prediction",
    "ZooEntry",
    "build",
    "get",
    "list",
    "load",
    "load_weights",
    "manifest",
    "names",
    "predict",
    "register",
    "savedmodels_dir",
    "serving_signatures",
    "update_manifest",
]
