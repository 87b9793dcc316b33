"""i-RevNet: a deep classifier that loses no information about its input until the last layer
(Jacobsen, Smeulders & Oyallon, 2018, "i-RevNet: Deep Invertible Networks", ICLR).

The network is ``logits = W · pool(ReLU(BN(Φ(x)))) + b`` where ``Φ`` is invertible::

    Φ = B_K ∘ … ∘ B_1 ∘ [pad] ∘ ψ^init          Φ⁻¹ = ψ^init⁻¹ ∘ [pad⁻¹] ∘ B_1⁻¹ ∘ … ∘ B_K⁻¹

made of the layers of :mod:`keraslab.layers.invertible`: an optional initial invertible
downsampling ψ, i-RevNet blocks ``B_k`` in stages (the first block of a stride-2 stage
downsamples with ψ), and, for the injective variant, zero channels appended before a stride-1
stage that is wider than its input. ``IRevNet.features`` is ``Φ``, ``IRevNet.inverse`` is
``Φ⁻¹``, and ``IRevNet.inverse(IRevNet.features(x)) == x`` to float32 round-off. The
configurations of the paper's reference implementation (jhjacobsen/pytorch-i-revnet) are
:func:`irevnet_cifar` (injective) and :func:`irevnet_imagenet` (i-RevNet-300, bijective);
:func:`irevnet_mnist` is a small one for 28×28 images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf
from keras import layers

from keraslab.layers.invertible import (
    InjectivePad,
    InvertibleDownsampling,
    InvertibleLayer,
    IRevNetBlock,
)
from keraslab.layers.memory_free import memory_free_sequence

__all__ = ["IRevNet", "irevnet_cifar", "irevnet_imagenet", "irevnet_mnist"]


def _int_tuple(name: str, values: Sequence[int], low: int = 1) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(
            f"IRevNet: {name} must be a sequence of integers, got {values!r}."
        ) from None
    if not out or min(out) < low or any(isinstance(v, bool) for v in values):
        raise ValueError(
            f"IRevNet: {name} must be a non-empty sequence of integers >= {low}, got {values!r}."
        )
    return out


@keras.saving.register_keras_serializable(package="keraslab")
class IRevNet(keras.Model):
    """i-RevNet classifier with an invertible representation (Jacobsen et al., 2018).

    **Architecture.** ``x`` (``H × W × C``, normalized images) → ψ with block size ``init_ds``
    (``0``: none; the reference's ``--init_ds``) → stages ``s = 1 … S`` of ``blocks[s]``
    :class:`~keraslab.layers.invertible.IRevNetBlock`\\ s, the first with ``strides[s]``,
    whose two halves have ``channels[s]`` channels each (the reference's ``nChannels``) → the
    representation ``Φ(x)`` of ``2·channels[-1]`` channels → BN–ReLU–global average pooling–
    linear. A stride-2 stage must have ``channels[s] = 2 × (its input channels)`` (ψ multiplies
    both halves by 4); a stride-1 stage narrower than its input is impossible, and one wider
    than its input gets zero channels in front of its input (:class:`~keraslab.layers.
    invertible.InjectivePad`; the reference appends them, see there why we do not) — the
    *injective* i-RevNet. Without padding it is *bijective*: ``Φ(x)``
    has exactly as many entries as ``x``.

    **Methods.** ``call(x)`` gives logits; ``features(x)`` gives ``Φ(x)``;
    ``inverse(z)`` gives ``Φ⁻¹(z)``, with ``inverse(features(x)) == x`` to float32 round-off
    (in inference mode; in training mode too for the same whole batch and ``dropout=0``).

    **Memory-free backprop.** With ``memory_free=True``, training-mode calls compute
    gradients by reconstructing each block's input from its output instead of storing it
    (:func:`keraslab.layers.memory_free.memory_free_sequence`; Gomez et al., 2017), so the
    activation memory of ``Φ`` no longer grows with depth; it costs one more forward pass of
    each block's bottleneck. Gradients equal ordinary backprop to round-off, and batch-norm
    moving statistics are updated once. Inference calls (evaluation, export) are ordinary.
    Dropout masks are drawn once and reused by the reconstruction. First-order gradients only.

    Args:
        input_shape: ``(height, width, channels)``; height and width must be divisible by
            ``init_ds`` times 2 per stride-2 stage.
        num_classes: Number of logits.
        blocks: Blocks per stage.
        strides: Stride (1 or 2) of each stage's first block.
        channels: Channels of each half of the representation, per stage.
        init_ds: Block size of the initial ψ (``0`` for none, ``2`` halves the image).
        bottleneck_ratio: Inner width of each bottleneck is ``channels // bottleneck_ratio``
            (the reference's ``mult``).
        dropout: Dropout rate inside each bottleneck (the reference uses 0.1 on CIFAR).
        bn_momentum: Batch-norm momentum (Keras convention) in the blocks and the head.
        bn_epsilon: Batch-norm epsilon.
        kernel_initializer: Convolution initializer (default PyTorch's ``U(±1/√fan_in)``).
        memory_free: Backpropagate by reconstruction in training mode.
        **kwargs: ``name``, ``dtype``, ``trainable``.
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (32, 32, 3),
        num_classes: int = 10,
        *,
        blocks: Sequence[int] = (18, 18, 18),
        strides: Sequence[int] = (1, 2, 2),
        channels: Sequence[int] = (16, 64, 256),
        init_ds: int = 0,
        bottleneck_ratio: int = 4,
        dropout: float = 0.0,
        bn_momentum: float = 0.9,
        bn_epsilon: float = 1e-5,
        kernel_initializer: Any = None,
        memory_free: bool = False,
        **kwargs,
    ):
        kwargs.setdefault("name", "irevnet")
        super().__init__(**kwargs)
        shape = _int_tuple("input_shape", input_shape)
        if len(shape) != 3:
            raise ValueError(
                f"IRevNet: input_shape must be (height, width, channels), got {input_shape!r}."
            )
        self.image_shape = shape
        self.num_classes = _int_tuple("num_classes", [num_classes])[0]
        self.blocks = _int_tuple("blocks", blocks)
        self.strides = _int_tuple("strides", strides)
        self.channels = _int_tuple("channels", channels)
        if not len(self.blocks) == len(self.strides) == len(self.channels):
            raise ValueError(
                f"IRevNet: blocks, strides and channels give one value per stage and must have "
                f"the same length, got {len(self.blocks)}, {len(self.strides)} and "
                f"{len(self.channels)}."
            )
        if set(self.strides) - {1, 2}:
            raise ValueError(f"IRevNet: strides must be 1 or 2, got {strides!r}.")
        if isinstance(init_ds, bool) or not isinstance(init_ds, int) or init_ds < 0 or init_ds == 1:
            raise ValueError(
                f"IRevNet: init_ds is the block size of the initial downsampling, 0 (none) or "
                f">= 2, got {init_ds!r}."
            )
        self.init_ds = init_ds
        self.bottleneck_ratio = bottleneck_ratio
        self.dropout = float(dropout)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.kernel_initializer = kernel_initializer
        self.memory_free = bool(memory_free)

        self.invertible_layers = self._make_invertible_layers()
        self.head_bn = layers.BatchNormalization(
            momentum=self.bn_momentum, epsilon=self.bn_epsilon, name="head_bn"
        )
        self.pool = layers.GlobalAveragePooling2D(name="pool")
        # float32 logits even under a mixed-precision policy: softmax/cross-entropy need the range.
        self.classifier = layers.Dense(self.num_classes, dtype="float32", name="logits")
        self.build((None, *self.image_shape))

    # ------------------------------------------------------------------ structure

    def _make_invertible_layers(self) -> list[InvertibleLayer]:
        height, width, chans = self.image_shape
        seq: list[InvertibleLayer] = []

        def need_divisible(size_h, size_w, factor, where, fix):
            if size_h % factor or size_w % factor:
                raise ValueError(
                    f"IRevNet: {where} halves the image with ψ, which needs a height and width "
                    f"divisible by {factor}, but it gets {size_h}x{size_w} (input_shape "
                    f"{self.image_shape}). {fix}"
                )

        total_down = (self.init_ds or 1) * 2 ** self.strides.count(2)
        size_fix = (
            f"Resize or pad the images to a multiple of {total_down} (init_ds × 2 per stride-2 "
            f"stage), or use fewer downsamplings."
        )
        if self.init_ds:
            need_divisible(height, width, self.init_ds, f"init_ds={self.init_ds}", size_fix)
            seq.append(InvertibleDownsampling(self.init_ds, name="init_psi"))
            height, width = height // self.init_ds, width // self.init_ds
            chans *= self.init_ds**2
        first = True
        for stage, (n, stride, half) in enumerate(
            zip(self.blocks, self.strides, self.channels, strict=True), start=1
        ):
            if stride == 2:
                need_divisible(height, width, 2, f"stage {stage} (stride 2)", size_fix)
                if chans % 2 or half != 2 * chans:
                    raise ValueError(
                        f"IRevNet: stage {stage} has stride 2, so ψ turns each half of its "
                        f"{chans}-channel input into {2 * chans} channels; channels[{stage - 1}] "
                        f"must be {2 * chans}, got {half}. Set channels[{stage - 1}] = "
                        f"{2 * chans}, or use stride 1 for this stage."
                    )
                height, width = height // 2, width // 2
            elif 2 * half > chans:
                seq.append(InjectivePad(2 * half - chans, name=f"stage{stage}_pad"))
            elif 2 * half < chans:
                raise ValueError(
                    f"IRevNet: stage {stage} (stride 1) cannot narrow its {chans}-channel "
                    f"input to 2 x channels[{stage - 1}] = {2 * half} channels without losing "
                    f"information. Use channels[{stage - 1}] >= {(chans + 1) // 2} (extra "
                    f"channels are zero-padded: the injective i-RevNet)."
                )
            if half // self.bottleneck_ratio < 1:
                raise ValueError(
                    f"IRevNet: stage {stage}'s bottleneck width channels[{stage - 1}] // "
                    f"bottleneck_ratio = {half} // {self.bottleneck_ratio} is 0. Use "
                    f"bottleneck_ratio <= {half} or more channels."
                )
            for b in range(n):
                seq.append(
                    IRevNetBlock(
                        stride=stride if b == 0 else 1,
                        bottleneck_ratio=self.bottleneck_ratio,
                        first=first,
                        dropout=self.dropout,
                        bn_momentum=self.bn_momentum,
                        bn_epsilon=self.bn_epsilon,
                        kernel_initializer=self.kernel_initializer,
                        name=f"stage{stage}_block{b + 1}",
                    )
                )
                first = False
            chans = 2 * half
        return seq

    @property
    def injective(self) -> bool:
        """Whether ``Φ`` pads channels (so ``Φ(x)`` has more entries than ``x``)."""
        return any(isinstance(layer, InjectivePad) for layer in self.invertible_layers)

    @property
    def input_shape(self) -> tuple[None, int, int, int]:
        """``(None, height, width, channels)``, as a functional model reports it (export and the
        zoo read it; a subclassed Keras model has no ``input_shape`` of its own)."""
        return (None, *self.image_shape)

    @property
    def output_shape(self) -> tuple[None, int]:
        """``(None, num_classes)``: the logits."""
        return (None, self.num_classes)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """Shape ``(h, w, c)`` of ``Φ(x)`` for one image."""
        shape = (None, *self.image_shape)
        for layer in self.invertible_layers:
            shape = layer.compute_output_shape(shape)
        return tuple(shape[1:])

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.invertible_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.head_bn.build(shape)
        self.pool.build(shape)
        self.classifier.build((shape[0], shape[-1]))
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    # ------------------------------------------------------------------ maps

    def _check_images(self, x, what: str):
        x = tf.convert_to_tensor(x)
        if not x.dtype.is_floating:
            raise ValueError(
                f"IRevNet.{what} expects floating-point (normalized) images, got dtype "
                f"{x.dtype.name}. Normalize them first ((x / 255 - mean) / std, as "
                f"keraslab.data does)."
            )
        if x.shape.rank != 4 or tuple(x.shape[1:]) != self.image_shape:
            h, w, c = self.image_shape
            raise ValueError(
                f"IRevNet.{what} expects images of shape (batch, {h}, {w}, {c}), got "
                f"{tuple(x.shape)}. Build a model with input_shape={tuple(x.shape[1:])} "
                f"for other sizes."
            )
        return tf.cast(x, self.compute_dtype)

    def features(self, x, training: bool = False) -> tf.Tensor:
        """``Φ(x)``: the final invertible representation, ``(batch, h, w, 2·channels[-1])``.

        Its channels are ``[y1, y2]`` of the last block, in the reference's order.
        """
        x = self._check_images(x, "features")
        training = bool(training)
        if self.memory_free and training:
            return memory_free_sequence(self.invertible_layers, x, training=True)
        for layer in self.invertible_layers:
            x = layer(x, training=training)
        return x

    def inverse(self, z, training: bool = False) -> tf.Tensor:
        """``Φ⁻¹(z)``: the images whose representation is ``z``.

        ``inverse(features(x, training=t), training=t) == x`` to float32 round-off. For the
        injective variant the padded channels of ``z`` are dropped (a left inverse).
        """
        z = tf.convert_to_tensor(z, self.compute_dtype)
        if z.shape.rank != 4 or tuple(z.shape[1:]) != self.feature_shape:
            raise ValueError(
                f"IRevNet.inverse expects representations of shape (batch, "
                f"{', '.join(map(str, self.feature_shape))}) as returned by features(), got "
                f"{tuple(z.shape)}."
            )
        for layer in reversed(self.invertible_layers):
            z = layer.inverse(z, training=bool(training))
        return z

    def call(self, inputs, training=None):
        z = self.features(inputs, training=bool(training))
        h = tf.nn.relu(self.head_bn(z, training=training))
        return self.classifier(self.pool(h))

    # ------------------------------------------------------------------ config

    def get_config(self):
        return {
            **super().get_config(),
            "input_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "blocks": list(self.blocks),
            "strides": list(self.strides),
            "channels": list(self.channels),
            "init_ds": self.init_ds,
            "bottleneck_ratio": self.bottleneck_ratio,
            "dropout": self.dropout,
            "bn_momentum": self.bn_momentum,
            "bn_epsilon": self.bn_epsilon,
            "kernel_initializer": (
                None
                if self.kernel_initializer is None
                else keras.initializers.serialize(keras.initializers.get(self.kernel_initializer))
            ),
            "memory_free": self.memory_free,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("kernel_initializer") is not None:
            config["kernel_initializer"] = keras.initializers.deserialize(
                config["kernel_initializer"]
            )
        return cls(**config)


def irevnet_cifar(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    dropout: float = 0.1,
    memory_free: bool = False,
    name: str = "irevnet_cifar",
    **overrides: Any,
) -> IRevNet:
    """The injective i-RevNet of the reference implementation's CIFAR-10 command
    (``--nBlocks 18 18 18 --nStrides 1 2 2 --nChannels 16 64 256``; ~94.5 % reported there).

    ``init_ds=0`` (that command leaves ``--init_ds`` at its default 0, although the
    ``iRevNet`` class defaults to 2): 29 zero channels join the 3 input channels, then
    18 + 18 + 18 blocks at 32×32×32, 16×16×128 and 8×8×512, so ``Φ(x)`` has 32768 entries
    for 3072 input values. Dropout 0.1 in the bottlenecks, as in the reference's training
    script.
    """
    kwargs = dict(blocks=(18, 18, 18), strides=(1, 2, 2), channels=(16, 64, 256), init_ds=0)
    kwargs.update(overrides)
    return IRevNet(
        input_shape, num_classes, dropout=dropout, memory_free=memory_free, name=name, **kwargs
    )


def irevnet_mnist(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    *,
    memory_free: bool = False,
    name: str = "irevnet_mnist",
    **overrides: Any,
) -> IRevNet:
    """A small injective i-RevNet for 28×28 grey images (MNIST, Fashion-MNIST).

    ψ (``init_ds=2``): 28×28×1 → 14×14×4, zero-padded to 14×14×32; 4 blocks at 14×14 (16
    channels per half, bottleneck width 8), then 4 blocks at 7×7×128 (bottleneck 32): 28 is
    divisible by 4, the two downsamplings it allows.
    """
    kwargs = dict(blocks=(4, 4), strides=(1, 2), channels=(16, 64), init_ds=2, bottleneck_ratio=2)
    kwargs.update(overrides)
    return IRevNet(input_shape, num_classes, memory_free=memory_free, name=name, **kwargs)


def irevnet_imagenet(
    input_shape: Sequence[int] = (224, 224, 3),
    num_classes: int = 1000,
    *,
    memory_free: bool = False,
    name: str = "irevnet300",
    **overrides: Any,
) -> IRevNet:
    """i-RevNet-300, the bijective ImageNet model of the reference implementation
    (``--nBlocks 6 16 72 6 --nStrides 2 2 2 2 --nChannels 24 96 384 1536 --init_ds 2``;
    3·100 + 1 = 301 layers, ~74 % top-1 reported there).

    ψ: 224×224×3 → 112×112×12, then four stride-2 stages to 56×56×48, 28×28×192,
    14×14×768 and 7×7×3072: ``Φ(x)`` has exactly 224·224·3 = 150528 entries.
    """
    kwargs = dict(
        blocks=(6, 16, 72, 6), strides=(2, 2, 2, 2), channels=(24, 96, 384, 1536), init_ds=2
    )
    kwargs.update(overrides)
    return IRevNet(input_shape, num_classes, memory_free=memory_free, name=name, **kwargs)
