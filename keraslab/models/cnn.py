"""Baseline convolutional classifiers: LeNet-style CNN, SmallCNN and ResNet-20.

Every builder returns a plain functional ``keras.Model`` that maps *normalized* images
``(batch, H, W, C)`` (``(x/255 − mean)/std``, see ``keraslab.data``) to logits ``(batch, classes)``.
Softmax is left to the loss (``from_logits=True``) and to the exported serving signature.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers


def _check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            "input_shape must be (height, width, channels) with positive sizes, "
            f"got {input_shape!r}"
        )
    return shape


def lenet(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    *,
    filters: Sequence[int] = (32, 64),
    dense_units: int = 512,
    dropout: float = 0.5,
    name: str = "lenet",
) -> keras.Model:
    """LeNet-style CNN: two 5×5 conv + 2×2 max-pool stages, a dense layer, dropout, logits.

    The layout of LeCun et al. (1998), "Gradient-based learning applied to document
    recognition", with the wider channels (32, 64) and ReLU of TensorFlow's 2-conv MNIST tutorial
    (Abadi et al. 2016), whose Fashion-MNIST baseline is 91.6 % test accuracy.

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: number of logits.
        filters: output channels of the two convolutions.
        dense_units: width of the hidden dense layer.
        dropout: dropout rate before the logits.
        name: model name.
    """
    shape = _check_input_shape(input_shape)
    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 5, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    # float32 logits even under a mixed-precision policy: softmax/cross-entropy need the range.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def small_cnn(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    *,
    name: str = "small_cnn",
) -> keras.Model:
    """The "SmallCNN" of Balestriero & Baraniuk (2017, "Mad Max: affine spline insights into
    deep learning", Table 6): Conv(32, 5×5, valid)–ReLU–MaxPool(2)–Conv(64, 3×3, valid)–ReLU–
    MaxPool(2)–Dense(logits).

    Every layer is a continuous piecewise-affine map, so the whole network is an affine spline
    f(x) = A[x] x + b[x]; its templates A[x] = ∂f/∂x are what ``keraslab.analysis`` inspects.
    No batch norm or dropout, which would break that reading at training time.
    """
    shape = _check_input_shape(input_shape)
    inputs = keras.Input(shape=shape, name="image")
    x = layers.Conv2D(32, 5, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    # float32 logits even under a mixed-precision policy: softmax/cross-entropy need the range.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _residual_block(x, filters: int, stride: int, weight_decay: float, name: str):
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    shortcut = x
    y = layers.Conv2D(
        filters,
        3,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=reg,
        name=f"{name}_conv1",
    )(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(
        filters,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=reg,
        name=f"{name}_conv2",
    )(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        # Projection shortcut (He et al.'s option B): the 1×1 conv costs little and keeps the
        # block a plain functional graph, unlike option A's zero-padded channel slicing.
        shortcut = layers.Conv2D(
            filters,
            1,
            strides=stride,
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=reg,
            name=f"{name}_proj",
        )(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def resnet20(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    blocks_per_stage: int = 3,
    widths: Sequence[int] = (16, 32, 64),
    weight_decay: float = 5e-5,
    name: str = "resnet20",
) -> keras.Model:
    """ResNet-20 for CIFAR-10 (He, Zhang, Ren & Sun 2016, "Deep residual learning", §4.2).

    A 3×3 conv stem, three stages of ``blocks_per_stage`` basic blocks (two 3×3 convs with batch
    norm) at widths 16-32-64 and strides 1-2-2, global average pooling and a linear classifier:
    depth 6n + 2 = 20 for n = 3 (≈ 0.27 M parameters). The paper reports 8.75 % test error.

    ``weight_decay`` is the factor of Keras's L2 penalty λ·Σw², whose gradient is 2λ·w: the
    default 5e-5 equals the paper's weight decay of 1e-4 (a gradient of 1e-4·w).
    """
    shape = _check_input_shape(input_shape)
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    inputs = keras.Input(shape=shape, name="image")
    x = layers.Conv2D(
        widths[0],
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=reg,
        name="stem_conv",
    )(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _residual_block(
                x, width, stride, weight_decay, f"stage{stage + 1}_block{block + 1}"
            )
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, kernel_regularizer=reg, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
