"""The recipe that trains the book's source-only models, shared by every chapter that uses
them, so that all of them address the same cache entries (``source-only-<domain>``).

>>> from tlbook import recipes
>>> model = recipes.trained_on("digits-synth", seed=0)   # trained once, then loaded
"""
from __future__ import annotations

import torch

from . import config, data, models, train

VERSION = 1  # recipe version in the checkpoint names: bump it when the recipe changes
LR = 0.05
STEPS = {"smoke": 40, "cpu": 150, "gpu": 2000}            # SGD steps per model
BATCH = {"smoke": 64, "cpu": 64, "gpu": 256}
VAL_SIZE = {"smoke": 200, "cpu": 500, "gpu": 1000}        # held-out source validation


def settings(profile: str | None = None) -> tuple[int, int, int]:
    """(steps, batch size, validation size) of the recipe under a profile (default: active)."""
    name = profile or config.profile_name()
    return STEPS[name], BATCH[name], VAL_SIZE[name]


def train_val_split(name: str, seed: int) -> tuple[data.Domain, data.Domain]:
    """A labelled training slice and a disjoint validation slice of a domain's train split."""
    full = data.load(name, "train")
    _, _, val_size = settings()
    n_val = min(val_size, int(0.15 * len(full)))
    n_train = min(config.profile().train_size, len(full) - n_val)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed))
    return full.take(order[n_val:n_val + n_train]), full.take(order[:n_val])


def new_model(seed: int) -> models.Classifier:
    """The book's LeNet, initialised from ``seed`` alone."""
    config.seed_everything(seed)
    return models.digit_cnn(num_classes=10, arch="lenet")


def trained_on(name: str, seed: int) -> models.Classifier:
    """The LeNet trained on the labels of domain ``name``: its source-only model (cached)."""
    labelled, _ = train_val_split(name, seed)
    steps, batch, _ = settings()
    model, _ = train.train_or_load(
        f"source-only-{name}", lambda: new_model(seed),
        lambda m: train.fit(m, labelled, steps=steps, batch_size=batch, lr=LR, seed=seed),
        seed=seed, version=VERSION)
    return model
