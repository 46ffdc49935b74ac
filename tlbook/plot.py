"""Figures the chapters share: image grids, curves with error bands, 2-D embeddings."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data import Domain


def image_grid(domain: Domain, n: int = 16, cols: int = 8, ax=None, title: str | None = None,
               seed: int = 0, show_labels: bool = True):
    """Draw ``n`` random images of a domain in one grid, with their class names."""
    sample = domain.subset(min(n, len(domain)), seed=seed)
    rows = int(np.ceil(len(sample) / cols))
    images = sample.images.float().div(255).permute(0, 2, 3, 1).numpy()
    h, w = images.shape[1:3]
    canvas = np.ones((rows * (h + 2), cols * (w + 2), 3))
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * (h + 2):r * (h + 2) + h, c * (w + 2):c * (w + 2) + w] = img
    if ax is None:
        _, ax = plt.subplots(figsize=(cols * 0.7, rows * 0.8))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or domain.name, fontsize="medium")
    if show_labels:
        for i, y in enumerate(sample.labels.tolist()):
            r, c = divmod(i, cols)
            ax.text(c * (w + 2) + w / 2, r * (h + 2) + h + 1, domain.classes[y][:7], ha="center",
                    va="top", fontsize=5, color="0.3")
    return ax


def mean_std_curve(x: Sequence[float], runs: np.ndarray, label: str, ax=None, **kw):
    """Plot the mean over runs (axis 0) with a band of one standard deviation."""
    runs = np.atleast_2d(np.asarray(runs, dtype=float))
    mean, std = runs.mean(0), runs.std(0)
    ax = ax or plt.gca()
    line, = ax.plot(x, mean, marker="o", label=label, **kw)
    if len(runs) > 1:
        ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
    return ax


def embedding_2d(features: torch.Tensor | np.ndarray, labels, groups=None, method: str = "pca",
                 ax=None, seed: int = 0, title: str | None = None):
    """Scatter a 2-D embedding (PCA or t-SNE) of features, coloured by label, with marker
    shape by group (e.g. source vs target domain)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(features, dtype=np.float32)
    if method == "pca":
        z = PCA(n_components=2, random_state=seed).fit_transform(x)
    elif method == "tsne":
        z = TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30, len(x) - 1)).fit_transform(x)
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', not {method!r}")
    labels = np.asarray(labels)
    groups = np.zeros(len(x), dtype=int) if groups is None else np.asarray(groups)
    ax = ax or plt.subplots(figsize=(5, 5))[1]
    markers = "o^sPxD"
    for g_i, g in enumerate(np.unique(groups)):
        sel = groups == g
        ax.scatter(z[sel, 0], z[sel, 1], c=labels[sel], cmap="tab10", vmin=0, vmax=9, s=8,
                   marker=markers[g_i % len(markers)], alpha=0.7, label=str(g))
    if len(np.unique(groups)) > 1:
        ax.legend(fontsize="small", markerscale=2)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title or method.upper())
    return ax
