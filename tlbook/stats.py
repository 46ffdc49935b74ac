"""How sure is a difference? The one statistic the chapters' checks share.

Two methods scored on the same test images give, per image, "a right" and "b right"; the
difference of their accuracies is the mean of the per-image differences (1, 0 or -1), a
*paired* comparison, far less noisy than comparing two accuracies measured apart:

>>> from tlbook.stats import paired_difference
>>> gain, se = paired_difference(right_dann, right_source)   # (seeds, images) of 0/1
>>> assert gain > 2 * se                                       # "DANN beats source only"
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _as_matrix(right) -> np.ndarray:
    x = right.detach().cpu().numpy() if isinstance(right, torch.Tensor) else np.asarray(right)
    x = x.astype(np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"expected (images,) or (seeds, images) of 0/1, got shape {x.shape}")
    return x


def paired_difference(right_a, right_b) -> tuple[float, float]:
    """Accuracy of ``a`` minus that of ``b``, in points, averaged over seeds, and its standard
    error. ``right_a`` and ``right_b`` say which test images each method got right: shape
    ``(images,)`` for one run or ``(seeds, images)``, the same images in the same order.

    The standard error adds two independent sources of noise: the test sample (the standard
    deviation over images of the per-image difference, averaged over seeds, divided by the
    square root of the number of images) and, with several seeds, training (the seed-to-seed
    spread of the per-seed differences over the square root of the number of seeds). With one
    seed only the first is known: the result then says whether *these two models* differ, not
    whether the methods would on another seed."""
    a, b = _as_matrix(right_a), _as_matrix(right_b)
    if a.shape != b.shape:
        raise ValueError(f"the two methods were scored on different sets: shapes {a.shape} and {b.shape}")
    seeds, images = a.shape
    if images < 2:
        raise ValueError("a standard error needs at least two test images")
    diff = 100 * (a - b)
    per_seed = diff.mean(1)
    se_images = diff.mean(0).std(ddof=1) / math.sqrt(images)
    se_seeds = per_seed.std(ddof=1) / math.sqrt(seeds) if seeds > 1 else 0.0
    return float(per_seed.mean()), float(math.hypot(se_images, se_seeds))


def seed_difference(acc_a, acc_b) -> tuple[float, float]:
    """Mean of the per-seed differences ``acc_a[s] - acc_b[s]`` (two methods trained with the
    same seeds, e.g. read from a results file) and its standard error over the seeds."""
    d = np.asarray(acc_a, dtype=np.float64) - np.asarray(acc_b, dtype=np.float64)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"need the accuracies of at least two seeds per method, got shape {d.shape}; "
                         "with one seed, use paired_difference on the test images instead")
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))
