"""Deep domain adaptation objectives (Part IV), one per method, each a callable
``objective(model, xs, ys, xt, p) -> metrics`` for :func:`tlbook.train.adapt`.

Every objective returns ``loss = cross-entropy on the labelled source batch + transfer
term``; only the transfer term differs from method to method. The chapters derive and
implement each one from scratch; these are the versions the leaderboard runs.

>>> from tlbook import da, data, models, train
>>> model = models.digit_cnn()
>>> train.adapt(model, data.load("fashion", n=2000), data.load("fashion-m", n=2000),
...             da.DANN(model.feature_dim), steps=300)                     # doctest: +SKIP

BatchNorm: all methods except :func:`source_only` run *one* forward pass over the source
and target batches concatenated, so every BatchNorm layer normalises both domains with the
same statistics, and its running statistics (used at test time) describe the mixture.
Forwarding the two batches separately gives each domain its own training-time statistics,
which the test-time running average then no longer matches (the adversarial chapter's
exercise measures what that costs DANN). Source only forwards the source batch alone, so a
method's gain over it includes what target statistics in BatchNorm give by themselves.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from . import config, data, models, objectives, stats, train
from .train import dann_lambda

Metrics = dict[str, torch.Tensor]


def joint_forward(model: models.Classifier, xs: torch.Tensor, xt: torch.Tensor):
    """Features and logits of both batches from one pass over ``cat([xs, xt])``."""
    features = model.features(torch.cat([xs, xt]))
    logits = model.head(features)
    n = len(xs)
    return features[:n], features[n:], logits[:n], logits[n:]


def source_only(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, xt: torch.Tensor, p: float) -> Metrics:
    """The baseline: cross-entropy on the source batch; the target batch is never used."""
    ce = F.cross_entropy(model(xs), ys)
    return {"loss": ce, "ce": ce}


def _metrics(ce: torch.Tensor, transfer: torch.Tensor) -> Metrics:
    return {"loss": ce + transfer, "ce": ce, "transfer": transfer}


class Discrepancy:
    """``CE + weight · distance(source features, target features)``: the discrepancy family.

    ``distance`` takes two (n, d) feature batches; with ``with_predictions`` it takes two
    lists ``[features, softmax]`` instead (JAN's joint distance).
    """

    def __init__(self, distance, weight: float, with_predictions: bool = False):
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.distance, self.weight, self.with_predictions = distance, weight, with_predictions

    def __call__(self, model, xs, ys, xt, p) -> Metrics:
        fs, ft, ls, lt = joint_forward(model, xs, xt)
        fs, ft = fs.float(), ft.float()
        if self.with_predictions:
            d = self.distance([fs, F.softmax(ls.float(), 1)], [ft, F.softmax(lt.float(), 1)])
        else:
            d = self.distance(fs, ft)
        return _metrics(F.cross_entropy(ls, ys), self.weight * d)


def dan(weight: float = 5.0, linear: bool = False) -> Discrepancy:
    """DAN (Long et al., 2015): multi-kernel MMD² between the feature distributions; the
    ``linear`` estimator is the O(n) one of the paper, the default the unbiased O(n²) one."""
    return Discrepancy(objectives.mmd2_linear if linear else objectives.mmd2, weight)


def deep_coral(weight: float = 50.0) -> Discrepancy:
    """Deep CORAL (Sun & Saenko, 2016): match the feature covariances."""
    return Discrepancy(objectives.coral, weight)


def jan(weight: float = 5.0) -> Discrepancy:
    """JAN (Long et al., 2017): joint MMD² of (features, predictions)."""
    return Discrepancy(objectives.joint_mmd2, weight, with_predictions=True)


def _domain_loss(discriminator: nn.Module, zs: torch.Tensor, zt: torch.Tensor, lambd: float,
                 weights: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of the discriminator (source = 1, target = 0) on gradient-reversed
    inputs: the discriminator descends it, the feature extractor ascends it (times lambd)."""
    logits = discriminator(models.grad_reverse(torch.cat([zs, zt]), lambd)).squeeze(-1).float()
    labels = torch.cat([torch.ones(len(zs)), torch.zeros(len(zt))]).to(logits.device)
    return F.binary_cross_entropy_with_logits(logits, labels, weight=weights)


class DANN(nn.Module):
    """DANN (Ganin et al., 2016): a domain discriminator on the features, trained through a
    gradient reversal layer whose coefficient ramps up as ``2/(1+exp(-10 p)) - 1``."""

    def __init__(self, feature_dim: int, hidden: int = 256, weight: float = 1.0):
        super().__init__()
        self.discriminator = models.domain_discriminator(feature_dim, hidden)
        self.weight = weight

    def forward(self, model, xs, ys, xt, p) -> Metrics:
        fs, ft, ls, _ = joint_forward(model, xs, xt)
        transfer = _domain_loss(self.discriminator, fs, ft, self.weight * dann_lambda(p))
        return _metrics(F.cross_entropy(ls, ys), transfer)


class CDAN(nn.Module):
    """CDAN (Long et al., 2018): the discriminator sees the outer product of features and
    (detached) predictions, so it aligns the class-conditional distributions; with
    ``entropy_weighting`` (CDAN+E) confident examples count more."""

    def __init__(self, feature_dim: int, num_classes: int, hidden: int = 256, weight: float = 1.0,
                 entropy_weighting: bool = True):
        super().__init__()
        self.discriminator = models.domain_discriminator(feature_dim * num_classes, hidden)
        self.weight, self.entropy_weighting = weight, entropy_weighting

    def forward(self, model, xs, ys, xt, p) -> Metrics:
        fs, ft, ls, lt = joint_forward(model, xs, xt)
        g = F.softmax(torch.cat([ls, lt]).float(), 1).detach()
        f = torch.cat([fs, ft]).float()
        h = torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)      # (n, classes * features)
        weights = None
        if self.entropy_weighting:
            entropy = -(g * g.clamp_min(1e-12).log()).sum(1)
            w = 1.0 + torch.exp(-entropy)
            n = len(fs)  # each domain's weights sum to one half
            weights = torch.cat([w[:n] / w[:n].sum(), w[n:] / w[n:].sum()]) * len(w) / 2
        transfer = _domain_loss(self.discriminator, h[:len(fs)], h[len(fs):],
                                self.weight * dann_lambda(p), weights)
        return _metrics(F.cross_entropy(ls, ys), transfer)


class MCD(nn.Module):
    """MCD (Saito et al., 2018) in one step: a second head is trained beside the model's;
    on the target, the heads *maximise* the L1 distance between their predictions and the
    features *minimise* it, through a gradient reversal layer instead of the paper's three
    alternating steps. The distance is summed over the classes (in [0, 2]), where the paper
    averages it (in [0, 2/C]): at weight 1 it acts like weight C on the paper's scale."""

    def __init__(self, head: nn.Module, weight: float = 1.0):
        super().__init__()
        self.second_head = copy.deepcopy(head)
        for m in self.second_head.modules():  # a different start, or the heads never disagree
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        self.weight = weight

    def forward(self, model, xs, ys, xt, p) -> Metrics:
        fs, ft, ls, _ = joint_forward(model, xs, xt)
        ce = F.cross_entropy(ls, ys) + F.cross_entropy(self.second_head(fs), ys)
        rt = models.grad_reverse(ft, dann_lambda(p))
        gap = (F.softmax(model.head(rt).float(), 1) - F.softmax(self.second_head(rt).float(), 1)).abs().sum(1).mean()
        return {"loss": ce - self.weight * gap, "ce": ce, "transfer": gap}


class SelfTraining:
    """Target-side terms: ``CE + weight · term(target logits)``, with ``term`` one of
    :func:`tlbook.objectives.entropy` (entropy minimisation),
    :func:`tlbook.objectives.minimum_class_confusion` (MCC) or
    :func:`tlbook.objectives.pseudo_label_loss` (confident pseudo-labels)."""

    def __init__(self, term, weight: float = 1.0):
        self.term, self.weight = term, weight

    def __call__(self, model, xs, ys, xt, p) -> Metrics:
        _, _, ls, lt = joint_forward(model, xs, xt)
        return _metrics(F.cross_entropy(ls, ys), self.weight * self.term(lt.float()))


def mcc(weight: float = 1.0) -> SelfTraining:
    return SelfTraining(objectives.minimum_class_confusion, weight)


def entropy_minimisation(weight: float = 0.1) -> SelfTraining:
    return SelfTraining(objectives.entropy, weight)


def pseudo_labelling(weight: float = 1.0, threshold: float = 0.9) -> SelfTraining:
    """Self-training: cross-entropy on the target examples predicted with confidence >= threshold."""
    return SelfTraining(lambda logits: objectives.pseudo_label_loss(logits, threshold), weight)


# ----------------------------------------------------------------------------- running a method

#: name → factory(model, **options) → objective, for every method the leaderboard runs;
#: ``options`` is empty (the defaults) or ``weight=`` for the methods that have a transfer weight.
METHODS = {
    "source-only": lambda model: source_only,
    "dan": lambda model, **options: dan(**options),
    "deep-coral": lambda model, **options: deep_coral(**options),
    "jan": lambda model, **options: jan(**options),
    "dann": lambda model, **options: DANN(model.feature_dim, **options),
    "cdan": lambda model, **options: CDAN(model.feature_dim, model.head.out_features, **options),
    "mcd": lambda model, **options: MCD(model.head, **options),
    "mcc": lambda model, **options: mcc(**options),
    "entropy": lambda model, **options: entropy_minimisation(**options),
    "pseudo-label": lambda model, **options: pseudo_labelling(**options),
}

VERSION = 1  # recipe version in the checkpoint names: bump it when a method or the loop's settings change
STEPS = {"smoke": 300, "cpu": 1000, "gpu": 5000}      # two-stream SGD steps per run
BATCH = {"smoke": 64, "cpu": 64, "gpu": 128}          # per domain: a step sees twice this


def domains(source: str, target: str, seed: int) -> tuple[data.Domain, data.Domain, data.Domain]:
    """(labelled source, unlabelled target, target test) at the profile's sizes. The
    target's training labels are carried by the Domain but never read by the loop."""
    prof = config.profile()

    def take(name: str, split: str, n: int, subset_seed: int) -> data.Domain:
        full = data.load(name, split)
        return full.subset(min(n, len(full)), seed=subset_seed)

    return (take(source, "train", prof.train_size, seed), take(target, "train", prof.train_size, seed + 1),
            take(target, "test", prof.test_size, 0))


def run(make_objective, source: str, target: str, seed: int,
        progress: bool | None = None) -> tuple[models.Classifier, train.History]:
    """Train a fresh LeNet (initialised from ``seed``) on the pair with the objective that
    ``make_objective(model)`` returns, for the profile's steps, with the DANN learning-rate
    decay; the target test accuracy is recorded every epoch."""
    config.seed_everything(seed)
    model = models.digit_cnn().to(config.device())
    return model, train_on_pair(model, make_objective(model), source, target, seed, progress)


def train_on_pair(model, objective, source: str, target: str, seed: int, progress: bool | None = None) -> train.History:
    """Train ``model`` in place with ``objective`` on the pair at the profile's sizes and steps."""
    labelled, unlabelled, test = domains(source, target, seed)
    name = config.profile_name()
    return train.adapt(model, labelled, unlabelled, objective, steps=STEPS[name], batch_size=BATCH[name],
                       lr=0.01, seed=seed, evaluate_on={"target": test}, progress=progress)


def paired_gain(model_a: nn.Module, model_b: nn.Module, test: data.Domain) -> tuple[float, float]:
    """How many points ``model_a``'s accuracy on ``test`` exceeds ``model_b``'s, and the standard
    error of that paired difference over the test images (:func:`tlbook.stats.paired_difference`).
    It measures the noise of the test set only, not that of training (another seed trains other
    models): with one seed, it says whether *these two models* differ on the target."""
    right_a = train.predict(model_a, test.images).argmax(1) == test.labels
    right_b = train.predict(model_b, test.images).argmax(1) == test.labels
    return stats.paired_difference(right_a, right_b)


def default_weight(method: str) -> float | None:
    """The transfer weight ``method`` uses unless told otherwise (None for source only)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    if method == "source-only":
        return None
    with torch.random.fork_rng(devices=[]):     # the throwaway model must not move the global generator
        return METHODS[method](models.digit_cnn()).weight


def adapted(method: str, source: str, target: str, seed: int,
            weight: float | None = None) -> tuple[models.Classifier, train.History]:
    """The model that ``method`` (a key of :data:`METHODS`) trains on the pair, and its
    history; trained once per profile and seed, then loaded from the cache. ``weight``
    replaces the method's default transfer weight (None, or the default itself, keeps it)."""
    if weight is not None and method == "source-only":
        raise ValueError("source-only has no transfer weight; call adapted('source-only', ...) without weight")
    if weight == default_weight(method):        # the default weight is the default run, not a second one
        weight = None
    options = {} if weight is None else {"weight": weight}
    name = f"da-{method}" + ("" if weight is None else f"-weight{weight:g}")
    return train.train_or_load(
        f"{name}-{source}-to-{target}", models.digit_cnn,
        lambda model: train_on_pair(model, METHODS[method](model, **options), source, target, seed), seed=seed,
        version=VERSION)
