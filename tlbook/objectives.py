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
        bandwidths = _median_bandwidths(x, y)
    kxx, kyy, kxy = (gaussian_kernel(a, b, bandwidths) for a, b in ((x, x), (y, y), (x, y)))
    return mmd2_from_kernels(kxx, kyy, kxy, unbiased)


def mmd2_from_kernels(kxx: torch.Tensor, kyy: torch.Tensor, kxy: torch.Tensor,
                      unbiased: bool = True) -> torch.Tensor:
    """MMD² from the three Gram matrices k(x, x), k(y, y) and k(x, y)."""
    n, m = len(kxx), len(kyy)
    if unbiased:
        if n < 2 or m < 2:
            raise ValueError("the unbiased MMD estimator needs at least two points per sample")
        term_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        term_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    else:
        term_x, term_y = kxx.mean(), kyy.mean()
    return term_x + term_y - 2.0 * kxy.mean()


def _median_bandwidths(x: torch.Tensor, y: torch.Tensor) -> list[float]:
    med = median_bandwidth(x, y)
    return [med * f for f in (0.25, 0.5, 1.0, 2.0, 4.0)]


def mmd2_linear(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float] | None = None) -> torch.Tensor:
    """The linear-time MMD² estimator (Gretton et al., 2012, §6) used by DAN: the mean over
    disjoint pairs i of k(x_2i, x_2i+1) + k(y_2i, y_2i+1) − k(x_2i, y_2i+1) − k(x_2i+1, y_2i).
    It costs O(n) kernel evaluations instead of O(n²), at the price of a noisier estimate."""
    n = min(len(x), len(y)) // 2 * 2
    if n < 2:
        raise ValueError("the linear-time MMD estimator needs at least two points per sample")
    if bandwidths is None:
        bandwidths = _median_bandwidths(x, y)

    def k(a, b):  # the kernel of matching rows only
        d2 = (a - b).pow(2).sum(1)
        return sum(torch.exp(-d2 / (2.0 * s * s)) for s in bandwidths)

    x1, x2, y1, y2 = x[0:n:2], x[1:n:2], y[0:n:2], y[1:n:2]
    return (k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)).mean()


def joint_mmd2(xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor]) -> torch.Tensor:
    """Joint MMD² of JAN (Long et al., 2017): the MMD² under the product of one kernel per
    layer, so it compares the *joint* distribution of, say, features and predictions.
    Each layer's kernel is the multi-Gaussian of :func:`mmd2` at its own median bandwidth."""
    if len(xs) != len(ys) or not xs:
        raise ValueError("joint_mmd2 needs the same (non-zero) number of layers for both samples")
    kxx = kyy = kxy = 1.0
    for x, y in zip(xs, ys):
        bw = _median_bandwidths(x, y)
        kxx = kxx * gaussian_kernel(x, x, bw)
        kyy = kyy * gaussian_kernel(y, y, bw)
        kxy = kxy * gaussian_kernel(x, y, bw)
    return mmd2_from_kernels(kxx, kyy, kxy)


def coral(xs: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    """Deep CORAL loss (Sun & Saenko, 2016): ||C_s - C_t||_F^2 / (4 d^2)."""
    d = xs.shape[1]
    cs, ct = torch.cov(xs.T), torch.cov(xt.T)
    return (cs - ct).pow(2).sum() / (4.0 * d * d)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean Shannon entropy (nats) of the softmax predictions."""
    logp = F.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(1).mean()


def minimum_class_confusion(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    """MCC (Jin et al., 2020): the share of the class-correlation matrix of the (temperature-
    scaled) predictions that lies off the diagonal; confident, uncertainty-weighted examples
    count more. Minimising it makes the classifier stop confusing classes on the target."""
    p = F.softmax(logits / temperature, dim=1)
    h = -(p * p.clamp_min(1e-12).log()).sum(1)
    w = 1.0 + torch.exp(-h)                      # certain examples weigh more
    w = (len(p) * w / w.sum()).detach()
    confusion = (p * w[:, None]).T @ p           # (classes, classes)
    confusion = confusion / confusion.sum(1, keepdim=True)
    return (confusion.sum() - confusion.trace()) / len(confusion)


def information_maximisation(logits: torch.Tensor) -> torch.Tensor:
    """The information-maximisation loss of SHOT (Liang et al., 2020): the mean entropy of the
    predictions *minus* the entropy of their average. The first term makes every prediction
    confident; the second keeps the batch spread over the classes, which forbids the collapse
    onto one class that entropy minimisation alone allows. Its minimum, ``-log(classes)``, is
    reached by confident predictions that use every class equally often."""
    mean = F.softmax(logits, dim=1).mean(0)
    return entropy(logits) + (mean * mean.clamp_min(1e-12).log()).sum()


def pseudo_label_loss(logits: torch.Tensor, threshold: float = 0.9) -> torch.Tensor:
    """Self-training with confident pseudo-labels: cross-entropy against the arg-max class of
    each prediction whose top probability is at least ``threshold``, summed and divided by
    the whole batch (so a batch with few confident examples pulls little). The pseudo-labels
    are constants: no gradient flows through the choice of the class."""
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    confidence, pseudo = F.softmax(logits.detach(), dim=1).max(1)
    keep = (confidence >= threshold).float()
    return (F.cross_entropy(logits, pseudo, reduction="none") * keep).sum() / len(logits)
