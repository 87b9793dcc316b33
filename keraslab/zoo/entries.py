"""The zoo's entries: every registered model, its datasets, recipe and reference.

The recipes follow the papers (cited per entry) where they train on the same data; where an entry
was tuned here, a comment says what was measured.
"""

from __future__ import annotations

from keraslab import models
from keraslab.data import PROBLEMS
from keraslab.training.recipes import Recipe
from keraslab.training.sparse_coding import StagewiseSchedule
from keraslab.zoo.registry import ZooEntry, register
from keraslab.zoo.sparse_coding import SPARSE_CODING

_MNIST_FAMILY = ("fashion_mnist", "mnist", "fashion_mnist_sample")

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
        ),
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
        ),
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
        ),
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
        ),
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
        task=SPARSE_CODING,
    )
)
