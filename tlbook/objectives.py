"""Losses that several chapters share. Each chapter that derives one of these implements
it from scratch in the notebook and checks, in a hidden cell, that its version agrees.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def gaussian_kernel(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float]) -> torch.Tensor:
    """Sum over bandwidths s of exp(-||x_i - y_j||^2 / (2 s^2)): a multi-kernel Gram matrix."""
    d2 = torch.cdist(x, y).pow(2)
    return sum(torch.exp(-d2 / (2.0 * s * s)) for s in bandwidths)


def median_bandwidth(x: torch.Tensor, y: torch.Tensor) -> float:
    """The median heuristic: the median pairwise distance of the pooled sample."""
    z = torch.cat([x, y]).detach()
    d = torch.pdist(z)
    return d.median().clamp_min(1e-6).item()


def mmd2(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float] | None = None,
         unbiased: bool = True) -> torch.Tensor:
    """Squared maximum mean discrepancy between samples ``x`` (n, d) and ``y`` (m, d).

    The unbiased estimator drops the diagonal terms k(x_i, x_i) (Gretton et al., 2012),
    so it can be slightly negative when the distributions are equal. The default kernel
    is a sum of Gaussians at 1/4, 1/2, 1, 2 and 4 times the median distance.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"mmd2 needs two (n, d) samples of the same dimension, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    if bandwidths is None:
        med = median_bandwidth(x, y)
        bandwidths = [med * f for f in (0.25, 0.5, 1.0, 2.0, 4.0)]
    kxx, kyy, kxy = (gaussian_kernel(a, b, bandwidths) for a, b in ((x, x), (y, y), (x, y)))
    n, m = len(x), len(y)
    if unbiased:
        if n < 2 or m < 2:
            raise ValueError("the unbiased MMD estimator needs at least two points per sample")
        term_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        term_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    else:
        term_x, term_y = kxx.mean(), kyy.mean()
    return term_x + term_y - 2.0 * kxy.mean()


def coral(xs: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    """Deep CORAL loss (Sun & Saenko, 2016): ||C_s - C_t||_F^2 / (4 d^2)."""
    d = xs.shape[1]
    cs, ct = torch.cov(xs.T), torch.cov(xt.T)
    return (cs - ct).pow(2).sum() / (4.0 * d * d)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean Shannon entropy (nats) of the softmax predictions."""
    logp = F.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(1).mean()
