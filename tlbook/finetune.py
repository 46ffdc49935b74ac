"""Parameter transfer helpers shared by Part II and the chapters after it.

* :func:`freeze` — freeze for real: no gradients *and* eval mode, so BatchNorm keeps its
  statistics (``requires_grad_(False)`` alone still lets BatchNorm drift in train mode).
* :func:`adabn` — re-estimate every BatchNorm's statistics on unlabelled images.
* :func:`anchor` / :func:`l2sp` — the L2-SP penalty toward the pretrained weights.

The loops keep frozen modules in eval mode when given ``frozen=`` (see
:func:`tlbook.train.fit`); a hand-written loop must call ``.eval()`` on them after every
``model.train()``.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from . import train
from .train import freeze  # noqa: F401  (part of this module's interface)


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def adabn(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """AdaBN: a copy of ``model`` whose BatchNorm running statistics are re-estimated on
    ``images`` (uint8, unlabelled); every weight is unchanged."""
    if len(images) < 2:
        raise ValueError(f"AdaBN needs at least 2 images to estimate statistics, got {len(images)}")
    model = copy.deepcopy(model)
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError("the model has no BatchNorm layer, so AdaBN would change nothing")
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None      # a cumulative average over all the batches, not an exponential one
    model.train()               # train mode: BatchNorm normalises with, and records, batch statistics
    device = next(model.parameters()).device
    for start in range(0, len(images), batch_size):
        model(train.as_input(images[start:start + batch_size].to(device)))
    return model.eval()


def anchor(module: nn.Module) -> dict[str, torch.Tensor]:
    """A frozen copy of the parameters of ``module``: the starting point L2-SP pulls toward."""
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def l2sp(module: nn.Module, start: dict[str, torch.Tensor]) -> torch.Tensor:
    """‖w − w⁰‖²/2 summed over the parameters of ``module`` named in ``start``."""
    params = dict(module.named_parameters())
    missing = set(start) - set(params)
    if missing:
        raise KeyError(f"the anchor names parameters the module lacks: {sorted(missing)[:3]}")
    return sum(((params[n] - w0) ** 2).sum() for n, w0 in start.items()) / 2
