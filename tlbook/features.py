"""Fixed features of the book's domains, computed once and cached.

Part III's methods (importance weights, MMD, TCA, CORAL, optimal transport, transfer kernels)
work on fixed feature vectors. The book's features are those of the ImageNet-pretrained
EfficientNet-Lite0 (``models.efficientnet_lite0``): 1,280 numbers per image, taken before
the ImageNet classifier, at the profile's image size.

>>> from tlbook import features
>>> z, y = features.pretrained("digits-synth", "train", n=500)   # computed once, then loaded
>>> z.shape, y.shape
(torch.Size([500, 1280]), torch.Size([500]))
"""
from __future__ import annotations

from functools import lru_cache

import torch

from . import config, data, models, train

VERSION = 1  # bump when the feature recipe changes, so stale caches are rebuilt


@lru_cache(maxsize=2)
def _backbone(image_size: int) -> models.Classifier:
    return models.efficientnet_lite0(weights="imagenet", image_size=image_size).to(config.device())


def pretrained(name: str, split: str = "train", n: int | None = None, *,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet EfficientNet-Lite0 features and labels of ``n`` random images of a domain.

    Returns ``(z, y)``: float32 features of shape (n, 1280) and int64 labels, on the CPU.
    ``n`` defaults to the profile's ``train_size`` (train split) or ``test_size`` (test split),
    capped at the split's size; ``seed`` picks the images, as in ``data.load``. The image size
    is the profile's. Results are cached under ``config.cache_dir()/features``.
    """
    cfg = config.profile()
    size = len(data.load(name, split))
    if n is None:
        n = cfg.train_size if split == "train" else cfg.test_size
    n = min(n, size)
    path = (config.cache_dir() / "features" /
            f"lite0-v{VERSION}-{cfg.image_size}px-{name}-{split}-n{n}-seed{seed}.pt")
    if path.exists():
        saved = config.load_cached(path)
        return saved["z"], saved["y"]
    domain = data.load(name, split, n=n, seed=seed)
    z = train.predict(_backbone(cfg.image_size), domain.images, features=True)
    config.save_atomic({"z": z, "y": domain.labels}, path)
    return z, domain.labels
