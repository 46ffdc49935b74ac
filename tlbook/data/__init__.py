"""One entry point for every domain the book uses: :func:`load`.

>>> from tlbook import data
>>> src = data.load("digits-synth", split="train", n=2000)
>>> src.images.shape, src.images.dtype, src.classes[:3]
(torch.Size([2000, 3, 32, 32]), torch.uint8, ('0', '1', '2'))

Images are uint8 tensors of shape (N, 3, 32, 32) for every digit and Fashion domain, so
any two of them can be source and target; models turn them into floats themselves.
Built domains are cached under ``tlbook.config.cache_dir()``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import config
from . import files, synthetic
from .files import DatasetUnavailable

__all__ = ["Domain", "DatasetUnavailable", "load", "names", "describe", "available", "OFFLINE"]

DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
RECIPE_VERSION = 1  # bump when a recipe changes, so stale caches are rebuilt


@dataclass(frozen=True)
class Domain:
    """Labelled images of one domain and split."""

    name: str
    split: str
    images: torch.Tensor   # uint8, (N, C, H, W)
    labels: torch.Tensor   # int64, (N,)
    classes: tuple[str, ...]
    description: str

    def __post_init__(self):
        # Bad labels would otherwise surface as an IndexError deep inside a loss, or as silent
        # nonsense in a confusion matrix: refuse them where the domain is made.
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise ValueError(f"{self.name}/{self.split}: labels must be a 1-D int64 tensor, got "
                             f"{self.labels.dtype} of shape {tuple(self.labels.shape)}; convert them with "
                             "torch.as_tensor(labels, dtype=torch.int64).")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{self.name}/{self.split}: {len(self.images)} images but {len(self.labels)} "
                             "labels; give one label per image.")
        if len(self.labels) and not 0 <= int(self.labels.min()) <= int(self.labels.max()) < len(self.classes):
            bad = self.labels[(self.labels < 0) | (self.labels >= len(self.classes))]
            raise ValueError(f"{self.name}/{self.split}: labels must lie in 0..{len(self.classes) - 1} (one per "
                             f"class of {len(self.classes)}), but {len(bad)} do not (e.g. {bad[:3].tolist()}); "
                             "map the labels to class indices first, or list every class in classes=.")

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (f"Domain({self.name!r}, split={self.split!r}, n={len(self)}, "
                f"image={tuple(self.images.shape[1:])}, classes={len(self.classes)})")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def take(self, index: torch.Tensor) -> "Domain":
        """The examples at ``index`` (a tensor of positions or a boolean mask)."""
        return replace(self, images=self.images[index], labels=self.labels[index])

    def relabelled(self, labels: torch.Tensor, name: str | None = None) -> "Domain":
        """The same images with other labels, e.g. pseudo-labels predicted by a model."""
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.shape != self.labels.shape:
            raise ValueError(f"{self.name}/{self.split} has {len(self)} images but {tuple(labels.shape)} labels "
                             f"were given; give one label per image")
        return replace(self, labels=labels, name=name or self.name)

    def subset(self, n: int | None = None, *, per_class: int | None = None, seed: int = 0) -> "Domain":
        """A random subset: ``n`` examples, or ``per_class`` examples of every class.

        The same ``seed`` always gives the same subset, whatever ran before.
        """
        if (n is None) == (per_class is None):
            raise ValueError("give exactly one of n= or per_class=")
        gen = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=gen)
        if n is not None:
            if not 0 < n <= len(self):
                raise ValueError(f"n={n} is out of range: {self.name}/{self.split} has {len(self)} examples")
            keep = order[:n]
        else:
            picked = []
            for c in range(self.num_classes):
                members = order[self.labels[order] == c][:per_class]
                if len(members) < per_class:
                    raise ValueError(f"class {self.classes[c]!r} of {self.name}/{self.split} has only "
                                     f"{len(members)} examples, fewer than per_class={per_class}")
                picked.append(members)
            keep = torch.cat(picked)[torch.randperm(per_class * self.num_classes, generator=gen)]
        return self.take(keep)


@dataclass(frozen=True)
class Entry:
    build: Callable[..., dict]          # returns {split: (images uint8 NCHW, labels)}
    classes: tuple[str, ...]
    description: str
    offline: bool                        # buildable on any machine, without network or files
    cached: bool = True                  # store the built arrays in the cache


def _gray_to_rgb32(images: np.ndarray) -> np.ndarray:
    """(n, h, w) grayscale with h, w <= 32 → (n, 3, 32, 32), centred by zero padding."""
    n, h, w = images.shape
    top, left = (32 - h) // 2, (32 - w) // 2
    out = np.zeros((n, 32, 32), dtype=np.uint8)
    out[:, top:top + h, left:left + w] = images
    return np.repeat(out[:, None], 3, axis=1)


def _build_digits_synth() -> dict:
    out = {}
    for split, (n, seed) in {"train": (10000, 0), "test": (2000, 1)}.items():
        images, labels = synthetic.render_digits(n, seed)
        out[split] = (_gray_to_rgb32(images), labels)
    return out


def _build_digits_hand() -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = synthetic.upsample_handwritten(digits.images)
    tr, te = train_test_split(np.arange(len(images)), test_size=500, random_state=0,
                              stratify=digits.target)
    return {"train": (_gray_to_rgb32(images[tr]), digits.target[tr]),
            "test": (_gray_to_rgb32(images[te]), digits.target[te])}


def _build_fashion() -> dict:
    return {split: (_gray_to_rgb32(im), lb) for split, (im, lb) in files.read_fashion().items()}


def _build_mnist() -> dict:
    return {split: (_gray_to_rgb32(im), lb) for split, (im, lb) in files.read_torchvision("mnist").items()}


def _build_usps() -> dict:
    import torch.nn.functional as F

    out = {}
    for split, (im, lb) in files.read_torchvision("usps").items():
        # USPS digits fill their 16x16 frame; scale to 24x24 to match MNIST's margins at 32x32.
        x = F.interpolate(torch.from_numpy(im).float()[:, None], size=(24, 24), mode="bilinear")
        out[split] = (_gray_to_rgb32(x[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()), lb)
    return out


def _build_svhn() -> dict:
    return {split: (np.ascontiguousarray(im), lb) for split, (im, lb) in files.read_torchvision("svhn").items()}


def _blended(base: str) -> Callable[[], dict]:
    """The "-M" variant of a grayscale domain: blended with crops of bundled photographs."""
    def build() -> dict:
        out = {}
        for seed, split in enumerate(("train", "test"), start=10):
            domain = load(base, split=split)
            gray = domain.images[:, 0].numpy()
            out[split] = (synthetic.blend_with_photos(gray, seed), domain.labels.numpy())
        return out
    return build


PHOTOS = ("astronaut, chelsea, coffee, rocket, hubble_deep_field, immunohistochemistry "
          "(scikit-image) and china, flower (scikit-learn)")
CATALOGUE: dict[str, Entry] = {
    "digits-synth": Entry(_build_digits_synth, DIGITS,
        "Printed digits rendered from 19 fonts bundled with matplotlib (DejaVu, STIX, Computer "
        "Modern; free font licences) with random size, stroke, rotation and position; "
        "10,000 train / 2,000 test, built here.", offline=True),
    "digits-hand": Entry(_build_digits_hand, DIGITS,
        "UCI optical recognition of handwritten digits as shipped with scikit-learn (1,797 8x8 "
        "images by 43 writers; CC BY 4.0), upsampled; 1,297 train / 500 test.", offline=True),
    "digits-synth-m": Entry(_blended("digits-synth"), DIGITS,
        f"digits-synth blended with random crops of photographs ({PHOTOS}): the MNIST-M recipe.",
        offline=True),
    "digits-hand-m": Entry(_blended("digits-hand"), DIGITS,
        f"digits-hand blended with random crops of photographs ({PHOTOS}): the MNIST-M recipe.",
        offline=True),
    "fashion": Entry(_build_fashion, FASHION,
        "Fashion-MNIST (Zalando, MIT licence): 70,000 28x28 grayscale product photos in 10 "
        "classes, 60,000 train / 10,000 test; read from $TLBOOK_DATA/fashion-mnist or Debian's "
        "dataset-fashion-mnist package.", offline=True, cached=False),
    "fashion-m": Entry(_blended("fashion"), FASHION,
        f"Fashion-MNIST blended with random crops of photographs ({PHOTOS}).", offline=True),
    "mnist": Entry(_build_mnist, DIGITS,
        "MNIST (LeCun et al.), 60,000 / 10,000 handwritten digits; needs internet or files "
        "under $TLBOOK_DATA/mnist.", offline=False),
    "usps": Entry(_build_usps, DIGITS,
        "USPS handwritten zip-code digits (Hull 1994), 7,291 / 2,007 at 16x16; needs internet "
        "or files under $TLBOOK_DATA/usps.", offline=False),
    "svhn": Entry(_build_svhn, DIGITS,
        "Street View House Numbers (Netzer et al. 2011), 73,257 / 26,032 colour crops; needs "
        "internet or files under $TLBOOK_DATA/svhn.", offline=False),
    "mnist-m": Entry(_blended("mnist"), DIGITS,
        "MNIST blended with crops of photographs by the MNIST-M recipe (with the bundled "
        "photographs instead of BSDS500); needs MNIST.", offline=False),
}
OFFLINE = tuple(name for name, e in CATALOGUE.items() if e.offline)
FOLDER = "folder"  # load("folder", root=...) reads an ImageFolder tree (Office-31, PACS, ...)


def names() -> list[str]:
    """Every domain name :func:`load` accepts."""
    return [*CATALOGUE, FOLDER]


def describe(name: str) -> str:
    """One line on a domain's provenance and licence."""
    return _entry(name).description


def available(name: str) -> bool:
    """True when ``name`` can be loaded here now (files present, or buildable offline)."""
    try:
        load(name, split="test", n=1)
        return True
    except DatasetUnavailable:
        return False


def _entry(name: str) -> Entry:
    if name not in CATALOGUE:
        raise ValueError(f"unknown domain {name!r}; known domains: {', '.join(names())}")
    return CATALOGUE[name]


def _cache_path(name: str) -> Path:
    return config.cache_dir() / "domains" / f"{name}-v{RECIPE_VERSION}.pt"


def _arrays(name: str) -> dict:
    entry = _entry(name)
    path = _cache_path(name)
    if entry.cached and path.exists():
        return config.load_cached(path)
    splits = {split: (torch.from_numpy(np.ascontiguousarray(im)), torch.as_tensor(lb, dtype=torch.int64))
              for split, (im, lb) in entry.build().items()}
    if entry.cached:
        config.save_atomic(splits, path)
    return splits


_MEMORY: dict[str, dict] = {}  # loaded domains, so that re-running a cell costs nothing


def load(name: str, split: str = "train", n: int | None = None, *, per_class: int | None = None,
         seed: int = 0, root: str | Path | None = None, image_size: int = 224) -> Domain:
    """Load one split of a domain, optionally a random subset of it.

    Parameters
    ----------
    name : one of :func:`names` (``"folder"`` reads an ImageFolder tree at ``root``).
    split : ``"train"`` or ``"test"``.
    n, per_class : keep a random subset of ``n`` examples, or ``per_class`` of each class.
    seed : chooses the subset (the domain itself never changes).
    root, image_size : for ``"folder"`` only.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if name == FOLDER:
        domain = _load_folder(root, split, image_size)
    else:
        entry = _entry(name)
        if name not in _MEMORY:
            _MEMORY[name] = _arrays(name)
        images, labels = _MEMORY[name][split]
        domain = Domain(name, split, images, labels, entry.classes, entry.description)
    if n is None and per_class is None:
        return domain
    return domain.subset(n, per_class=per_class, seed=seed)


def _load_folder(root, split: str, image_size: int) -> Domain:
    if root is None:
        raise ValueError('load("folder", ...) needs root=<path to one domain of an ImageFolder '
                         'benchmark>, e.g. root="~/data/office31/amazon/images"')
    images, labels, classes = files.read_image_folder(root, image_size)
    # A fixed, stratified 80/20 split, so that "train" and "test" never overlap.
    gen = np.random.default_rng(0)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(len(classes)):
        members = np.flatnonzero(labels == c)
        test[gen.permutation(members)[: max(1, len(members) // 5)]] = True
    keep = test if split == "test" else ~test
    return Domain(f"folder:{Path(root).name}", split, torch.from_numpy(images[keep]),
                  torch.from_numpy(labels[keep]), tuple(classes),
                  f"Images read from {root} ({len(classes)} classes).")
