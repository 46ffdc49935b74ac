"""Source-free adaptation (Part IV): the labelled source data is gone, only a model trained on
it and unlabelled target images remain. Each method returns an adapted *copy* of the model.

- AdaBN (Li et al., 2018; :func:`tlbook.finetune.adabn`, derived in Part II): re-estimate every
  BatchNorm layer's statistics on the target.
- :func:`tent` (Wang et al., 2021): minimise the prediction entropy on target batches by
  training the BatchNorm affine parameters only, normalising with the target's batch statistics.
- :func:`shot` (Liang et al., 2020): freeze the classifier head ("the source hypothesis") and
  train the feature extractor with information maximisation plus cross-entropy on pseudo-labels
  from feature-space clustering, recomputed every epoch.

>>> from tlbook import source_free
>>> adapted = source_free.adapted("shot", "digits-synth", "digits-synth-m", seed=0)   # doctest: +SKIP
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from . import da, data, finetune, models, objectives, train

VERSION = 1  # recipe version in the checkpoint names: bump it when a method changes


def _batch_norms(model: nn.Module) -> list[nn.Module]:
    norms = finetune.batchnorm_layers(model)
    if not norms:
        raise ValueError("the model has no BatchNorm layer: TENT adapts BatchNorm layers only")
    return norms


def _entropy_objective(model, x, p):
    return {"loss": objectives.entropy(model(x).float())}


def tent(model: nn.Module, target: data.Domain, *, epochs: float = 1.0, batch_size: int = 64,
         lr: float = 1e-3, seed: int = 0, evaluate_on: dict | None = None, progress: bool | None = None) -> tuple[nn.Module, train.History]:
    """A copy of ``model`` adapted by TENT: the BatchNorm layers normalise each target batch
    with its own statistics (train mode) and their scale and shift descend the entropy of
    the predictions (Adam); every other parameter is frozen. The running statistics follow the
    target batches, so the evaluated model normalises with target statistics too."""
    adapted = copy.deepcopy(model)
    norms = _batch_norms(adapted)
    adapted.requires_grad_(False)
    affine = [p for norm in norms for p in (norm.weight, norm.bias)]
    for p in affine:
        p.requires_grad_(True)
    others = [m for m in adapted.modules() if not list(m.children()) and m not in norms]
    history = train.fit_unlabelled(adapted, target, _entropy_objective, epochs=epochs, batch_size=batch_size,
                                   optimizer=torch.optim.Adam(affine, lr=lr), lr_schedule=train.constant,
                                   frozen=others, evaluate_on=evaluate_on, seed=seed, progress=progress)
    return adapted.eval(), history


@torch.no_grad()
def cluster_pseudo_labels(features: torch.Tensor, probabilities: torch.Tensor, rounds: int = 2) -> torch.Tensor:
    """SHOT's pseudo-labels: class centroids of the L2-normalised features, weighted first by
    the predicted probabilities, then (each further round) by the current hard labels; every
    example takes the class of its nearest centroid by cosine similarity."""
    if len(features) != len(probabilities):
        raise ValueError(f"{len(features)} feature rows but {len(probabilities)} probability rows")
    z = F.normalize(features.float(), dim=1)
    weights = probabilities.float()
    for _ in range(rounds):
        centroids = weights.T @ z / weights.sum(0).clamp_min(1e-8)[:, None]
        labels = (z @ F.normalize(centroids, dim=1).T).argmax(1)
        weights = F.one_hot(labels, probabilities.shape[1]).float()
    return labels


def shot(model: models.Classifier, target: data.Domain, *, epochs: int = 10, beta: float = 0.1,
         batch_size: int = 64, lr: float = 0.01, seed: int = 0, evaluate_on: dict | None = None,
         progress: bool | None = None) -> tuple[models.Classifier, train.History]:
    """A copy of ``model`` adapted by SHOT: the head stays frozen and the features learn
    ``information_maximisation + beta * CE(pseudo-labels)``, with the pseudo-labels of
    :func:`cluster_pseudo_labels` recomputed before every epoch (``beta=0.1`` is the paper's
    value for digits). SGD with momentum and the DANN learning-rate decay over all epochs."""
    adapted = copy.deepcopy(model)
    train.freeze(adapted.head)
    params = [p for p in adapted.backbone.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    history = train.History()
    for epoch in range(epochs):
        features = train.predict(adapted, target.images, features=True)
        probabilities = F.softmax(adapted.head(features.to(params[0].device)).float(), 1).cpu()
        pseudo = target.relabelled(cluster_pseudo_labels(features, probabilities), f"{target.name} (pseudo)")

        def objective(m, x, y, p):
            logits = m(x).float()
            im = objectives.information_maximisation(logits)
            ce = F.cross_entropy(logits, y)
            return {"loss": im + beta * ce, "im": im, "pseudo_ce": ce}

        schedule = (lambda p, e=epoch: train.dann_lr((e + p) / epochs))
        for record in train.fit(adapted, pseudo, epochs=1, batch_size=batch_size, optimizer=optimizer,
                                objective=objective, lr_schedule=schedule, frozen=[adapted.head],
                                evaluate_on=evaluate_on, seed=seed + epoch, progress=progress).records:
            history.append(**{**record, "epoch": epoch + 1})
    return adapted.eval(), history


#: name → function(source model, unlabelled target, seed) → adapted model.
METHODS = {
    "adabn": lambda model, target, seed: finetune.adabn(model, target.images),
    "tent": lambda model, target, seed: tent(model, target, seed=seed)[0],
    "shot": lambda model, target, seed: shot(model, target, seed=seed)[0],
}


def adapted(method: str, source: str, target: str, seed: int) -> nn.Module:
    """The source-only model of :func:`tlbook.da.adapted` adapted by ``method`` (a key of
    :data:`METHODS`) on the pair's unlabelled target images; cached per profile and seed."""
    if method not in METHODS:
        raise ValueError(f"unknown source-free method {method!r}; choose one of {sorted(METHODS)}")
    source_model, _ = da.adapted("source-only", source, target, seed)
    unlabelled = da.domains(source, target, seed)[1]

    def build(model):
        model.load_state_dict(METHODS[method](source_model, unlabelled, seed).state_dict())

    model, _ = train.train_or_load(f"sf-{method}-{source}-to-{target}", models.digit_cnn, build, seed=seed,
                                   version=VERSION)
    return model
