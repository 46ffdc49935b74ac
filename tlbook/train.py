"""Training loops that use the hardware, and the schedules they run.

* :func:`fit` — supervised training on one labelled domain.
* :func:`adapt` — two-stream training: a labelled source batch and an unlabelled target
  batch per step, the loss given as a callable (the chapters define the objectives).
* :func:`evaluate`, :func:`predict`, :class:`History`, :func:`train_or_load`.

Why these loops are fast (see ``python -m tlbook bench``): the data lives on the device
as uint8 tensors and a batch is an index slice (no DataLoader, no per-sample Python);
metrics are summed on the device and read once per epoch, so the host never waits on the
device inside the loop; on CUDA the forward pass runs in bfloat16 autocast with
channels-last memory (which also speeds up convolutions on the CPU).
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from . import config
from .data import Domain

Batch = tuple[torch.Tensor, torch.Tensor]
Metrics = dict[str, torch.Tensor]


# ----------------------------------------------------------------------------- schedules
# Each takes the training progress p in [0, 1] and returns a number.

def constant(p: float) -> float:
    return 1.0


def cosine(p: float) -> float:
    """Learning-rate factor decaying from 1 to 0 along half a cosine."""
    return 0.5 * (1.0 + math.cos(math.pi * p))


def dann_lr(p: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Learning-rate factor of Ganin et al. (2016): 1 / (1 + alpha p)^beta."""
    return (1.0 + alpha * p) ** (-beta)


def dann_lambda(p: float, gamma: float = 10.0) -> float:
    """Adaptation weight ramp of Ganin et al. (2016): 2 / (1 + exp(-gamma p)) - 1, from 0 to ~1."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


# ----------------------------------------------------------------------------- History

@dataclass
class History:
    """Per-epoch metrics of a training run: ``history["target_acc"]`` is a list."""

    records: list[dict[str, float]] = field(default_factory=list)

    def append(self, **metrics: float) -> None:
        self.records.append(dict(metrics))

    def __getitem__(self, key: str) -> list[float]:
        return [r[key] for r in self.records if key in r]

    def __len__(self) -> int:
        return len(self.records)

    def last(self, key: str) -> float:
        values = self[key]
        if not values:
            raise KeyError(f"no metric {key!r}; recorded: {sorted({k for r in self.records for k in r})}")
        return values[-1]

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.records)

    def plot(self, keys: Iterable[str] | None = None, ax=None, title: str | None = None):
        """Loss-like metrics on the left axis, accuracies (``*acc``) on the right."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        keys = list(keys) if keys is not None else sorted(
            {k for r in self.records for k in r} - {"epoch", "step", "seconds"})
        epochs = self["epoch"]
        acc_ax = None
        for key in keys:
            if key.endswith("acc"):
                acc_ax = acc_ax or ax.twinx()
                acc_ax.plot(epochs, self[key], marker="o", linestyle="--", label=key)
            else:
                ax.plot(epochs, self[key], marker=".", label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        handles, labels = ax.get_legend_handles_labels()
        if acc_ax is not None:
            acc_ax.set_ylabel("accuracy")
            h2, l2 = acc_ax.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        ax.legend(handles, labels, loc="best", fontsize="small")
        if title:
            ax.set_title(title)
        return ax


# ----------------------------------------------------------------------------- helpers

def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images → float in [0, 1] (float images pass through)."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _prepare(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Batch of uint8 images → float, in channels-last memory order (faster convolutions
    with cuDNN and with oneDNN on the CPU: measured 1.35x per step for the digit CNN)."""
    x = as_input(x)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _channels_last(model: nn.Module) -> nn.Module:
    return model.to(memory_format=torch.channels_last)


def _check_compatible(model: nn.Module, domain: Domain) -> None:
    """Refuse, with the fix, data the model cannot take: a class count that differs from the
    head's, or images of a size or channel count the model's layers reject (found by one
    forward pass of two images in eval mode, so no BatchNorm statistic moves)."""
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear) and head.out_features != domain.num_classes:
        raise ValueError(f"the model's head has {head.out_features} outputs but {domain.name} has "
                         f"{domain.num_classes} classes; build the model with "
                         f"num_classes={domain.num_classes} or replace its head.")
    if len(domain) == 0:
        raise ValueError(f"{domain.name}/{domain.split} has no examples")
    device = next(model.parameters()).device
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad(), _autocast(device):
            model(_prepare(domain.images[:2].to(device), device))
    except (RuntimeError, ValueError) as err:  # a layer's shape error, or Standardize's channel check
        raise ValueError(
            f"the model cannot take the images of {domain.name}/{domain.split}, of shape "
            f"{tuple(domain.images.shape[1:])} (channels, height, width): {str(err).splitlines()[0]}. "
            "Give it images of the size and channel count it was built for: resize them (e.g. "
            "torch.nn.functional.interpolate), build the model for this input (models.digit_cnn takes "
            "32x32, the ImageNet backbone its profile's image_size), or, for grey images, repeat the "
            "channel three times (images.expand(-1, 3, -1, -1)).") from err
    finally:
        for m, mode in modes:
            m.training = mode


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 512,
            features: bool = False) -> torch.Tensor:
    """Logits (or ``model.features`` if ``features=True``) for all images, in eval mode,
    returned on the CPU as float32. Every submodule gets its own mode back afterwards (a
    frozen backbone shared with a new, train-mode wrapper stays in eval mode)."""
    device = next(model.parameters()).device
    _channels_last(model)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    fn = model.features if features else model
    out = []
    try:
        for start in range(0, len(images), batch_size):
            x = _prepare(images[start:start + batch_size].to(device, non_blocking=True), device)
            with _autocast(device):
                out.append(fn(x).float())
    finally:
        for m, mode in modes:
            m.training = mode
    return torch.cat(out).cpu()


def evaluate(model: nn.Module, domain: Domain, batch_size: int = 512) -> float:
    """Accuracy (a fraction in [0, 1]) of ``model`` on ``domain``."""
    _check_compatible(model, domain)
    logits = predict(model, domain.images, batch_size)
    return (logits.argmax(1) == domain.labels).float().mean().item()


class LinearProbe(nn.Linear):
    """A fitted linear head; accepts NumPy or double features, and starts frozen (call
    ``requires_grad_(True)`` to train it further, e.g. as the head of a fine-tuned model).

    The standardisation is folded into the weights, so a feature that barely varied in
    training (a ReLU unit that is almost always 0) gets a weight divided by its tiny spread:
    harmless while the features stay fixed, explosive if fine-tuning wakes the unit up. Start
    fine-tuning from it only on features without such units (e.g. normalised embeddings)."""

    def forward(self, z) -> torch.Tensor:
        return super().forward(torch.as_tensor(z, dtype=self.weight.dtype, device=self.weight.device))


def linear_probe(z: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float = 1e-2,
                 max_iter: int = 200) -> LinearProbe:
    """Multinomial logistic regression on fixed features: standardise with the training
    statistics, minimise mean cross-entropy + ``l2``/2 ||W||^2 (convex) with L-BFGS.
    Returns the head mapping features to logits, standardisation folded in:
    (z − μ)/σ · Wᵀ + b = z · (W/σ)ᵀ + (b − (μ/σ) · Wᵀ). Derived in the chapter "A first transfer"."""
    z, y = torch.as_tensor(z, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    mean, std = z.mean(0), z.std(0) + 1e-6
    zs = (z - mean) / std
    W = torch.zeros(num_classes, z.shape[1], requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(zs @ W.T + b, y) + l2 / 2 * W.pow(2).sum()
        loss.backward()
        return loss

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small convex problem: one thread avoids synchronisation costs
    try:
        opt.step(closure)
    finally:
        torch.set_num_threads(threads)
    head = LinearProbe(z.shape[1], num_classes).requires_grad_(False)
    head.weight.copy_(W.detach() / std)
    head.bias.copy_(b.detach() - (mean / std) @ W.detach().T)
    return head


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float) -> Metrics:
    """The default supervised objective; returns the loss and the batch accuracy."""
    logits = model(x)
    return {"loss": F.cross_entropy(logits, y),
            "train_acc": (logits.argmax(1) == y).float().mean()}


class _Stream:
    """Endless shuffled batches of one domain, kept on the device as uint8."""

    def __init__(self, domain: Domain, batch_size: int, device: torch.device, generator: torch.Generator):
        if len(domain) < batch_size:
            batch_size = len(domain)
        self.images = domain.images.to(device, non_blocking=True)
        self.labels = domain.labels.to(device, non_blocking=True)
        self.batch_size, self.generator = batch_size, generator
        self.device = device
        self.steps_per_epoch = len(domain) // batch_size
        self._order, self._pos = None, len(domain)

    def next(self) -> Batch:
        if self._pos + self.batch_size > len(self.labels):  # reshuffle, drop the last partial batch
            self._order = torch.randperm(len(self.labels), generator=self.generator).to(self.device)
            self._pos = 0
        idx = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return _prepare(self.images[idx], self.device), self.labels[idx]


def _default_optimizer(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)


def check_optimizer(optimizer: torch.optim.Optimizer, *modules: nn.Module) -> None:
    """Raise if a parameter of ``modules`` that requires gradients is not in ``optimizer``.

    The classic bug it catches: an optimizer built over the head only, then the backbone
    "unfrozen" with ``requires_grad_(True)``; the backbone gets gradients that no step uses.
    """
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = [name for m in modules for name, p in m.named_parameters()
               if p.requires_grad and id(p) not in held]
    if missing:
        raise RuntimeError(f"{len(missing)} trainable parameters are not in the optimizer (e.g. "
                           f"{missing[:3]}): they would get gradients but never change. Build the "
                           f"optimizer after unfreezing, over all the parameters that should train.")


def freeze(module: nn.Module) -> nn.Module:
    """Freeze for real: no gradients *and* eval mode, so BatchNorm keeps its statistics
    (``requires_grad_(False)`` alone still lets them drift in train mode); returns it."""
    module.requires_grad_(False)
    return module.eval()


def _engine(model: nn.Module, step: Callable[[float], Metrics], *, steps: int, steps_per_epoch: int,
            optimizer: torch.optim.Optimizer, lr_schedule: Callable[[float], float],
            evals: dict[str, Domain], progress: bool | None, desc: str,
            trainable: nn.Module | None = None, frozen: list[nn.Module] = ()) -> History:
    """The loop shared by :func:`fit` and :func:`adapt`: one optimiser step per call of
    ``step(p)``, metrics summed on the device and read once per epoch. The ``frozen``
    modules go back to eval mode after every ``train()``, so their BatchNorm statistics
    stay fixed too."""
    import time

    from tqdm.auto import tqdm

    show = config.profile().progress if progress is None else progress
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    history, sums, count = History(), {}, 0
    first_bad = torch.tensor(steps, device=next(model.parameters()).device)  # steps = "none yet"
    modules = [m for m in (model, trainable) if m is not None]
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=not show, leave=False)
    for i in bar:
        p = i / steps
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * lr_schedule(p)
        for m in modules:
            m.train()
        for m in frozen:
            m.eval()
        metrics = step(p)
        loss = metrics["loss"]
        # Flag a NaN or infinite loss on the device (no host sync here); read at the epoch's sync.
        first_bad = torch.where(torch.isfinite(loss.detach()), first_bad, first_bad.clamp(max=i))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for key, value in metrics.items():  # detach and sum on the device: no host sync here
            sums[key] = sums.get(key, 0.0) + value.detach().float()
        count += 1
        if (i + 1) % steps_per_epoch == 0 or i + 1 == steps:
            _raise_if_diverged(int(first_bad), steps, desc)  # one sync per epoch, shared with the metrics
            record = {"epoch": (i + 1) / steps_per_epoch, "step": i + 1}
            record.update({k: (v / count).item() for k, v in sums.items()})  # one sync per epoch
            record.update({f"{name}_acc": evaluate(model, dom) for name, dom in evals.items()})
            record["seconds"] = time.perf_counter() - start
            history.append(**record)
            bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k.endswith(("loss", "acc"))})
            sums, count = {}, 0
    for m in modules:
        m.eval()
    return history


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite during training."""


def _raise_if_diverged(first_bad: int, steps: int, desc: str) -> None:
    if first_bad < steps:
        raise TrainingDiverged(
            f"{desc}: the loss became NaN or infinite at step {first_bad + 1} of {steps}. Check the "
            "inputs for NaN or infinite values, and lower the learning rate if the loss grew before "
            "that step (a divergent run); the model's weights are no longer usable.")


def _steps(epochs: float | None, steps: int | None, steps_per_epoch: int) -> int:
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs= or steps=")
    total = steps if steps is not None else int(round(epochs * steps_per_epoch))
    if total < 1:
        raise ValueError(f"training would run {total} steps; increase epochs or steps")
    return total


def fit(model: nn.Module, train: Domain, *, epochs: float | None = None, steps: int | None = None,
        batch_size: int = 128, lr: float = 0.05, weight_decay: float = 5e-4,
        optimizer: torch.optim.Optimizer | None = None,
        objective: Callable[..., Metrics] = cross_entropy,
        lr_schedule: Callable[[float], float] = cosine,
        evaluate_on: dict[str, Domain] | None = None, seed: int = 0,
        frozen: Iterable[nn.Module] = (), progress: bool | None = None) -> History:
    """Supervised training of ``model`` on the labelled domain ``train``.

    ``objective(model, x, y, p)`` returns a dict of scalar tensors with a ``"loss"`` entry
    (the others are logged); ``p`` is the progress in [0, 1]. By default SGD with
    Nesterov momentum and a cosine learning-rate decay. ``evaluate_on`` maps names to
    domains whose accuracy is recorded every epoch as ``<name>_acc``. The ``frozen``
    submodules are frozen for real: no gradients *and* eval mode (BatchNorm statistics
    fixed) throughout. A given ``optimizer`` must hold every parameter that trains.
    """
    _check_compatible(model, train)
    device = next(_channels_last(model).parameters()).device
    stream = _Stream(train, batch_size, device, torch.Generator().manual_seed(seed))
    frozen = [freeze(m) for m in frozen]
    if optimizer is None:
        optimizer = _default_optimizer([p for p in model.parameters() if p.requires_grad], lr, weight_decay)
    check_optimizer(optimizer, model)

    def step(p: float) -> Metrics:
        x, y = stream.next()
        with _autocast(device):
            return objective(model, x, y, p)

    total = _steps(epochs, steps, stream.steps_per_epoch)
    return _engine(model, step, steps=total, steps_per_epoch=min(stream.steps_per_epoch, total),
                   optimizer=optimizer, lr_schedule=lr_schedule, evals=evaluate_on or {},
                   progress=progress, desc=f"fit {train.name}", frozen=frozen)


def fit_unlabelled(model: nn.Module, images: Domain, objective: Callable[..., Metrics], **kwargs) -> History:
    """:func:`fit` on a domain whose labels are never read: ``objective(model, x, p)`` sees
    the images only (the source-free methods of Part IV train this way). Keyword arguments
    are those of :func:`fit`."""
    return fit(model, images, objective=lambda m, x, _labels, p: objective(m, x, p), **kwargs)


def adapt(model: nn.Module, source: Domain, target: Domain, objective: Callable[..., Metrics], *,
          epochs: float | None = None, steps: int | None = None, batch_size: int = 128,
          lr: float = 0.01, weight_decay: float = 5e-4, optimizer: torch.optim.Optimizer | None = None,
          lr_schedule: Callable[[float], float] = dann_lr,
          evaluate_on: dict[str, Domain] | None = None, seed: int = 0,
          frozen: Iterable[nn.Module] = (), progress: bool | None = None) -> History:
    """Two-stream training: each step draws a labelled source batch and an unlabelled
    target batch and calls ``objective(model, xs, ys, xt, p)``.

    The target's labels never reach the objective. If ``objective`` is an ``nn.Module``
    (say, one that owns a domain discriminator), its parameters are trained too. An epoch
    is one pass over the larger of the two domains. ``frozen`` is as in :func:`fit`.
    """
    _check_compatible(model, source)
    if source.num_classes != target.num_classes:
        raise ValueError(f"source {source.name} has {source.num_classes} classes, target "
                         f"{target.name} {target.num_classes}; adaptation needs the same label set.")
    device = next(_channels_last(model).parameters()).device
    gen = torch.Generator().manual_seed(seed)
    src, tgt = _Stream(source, batch_size, device, gen), _Stream(target, batch_size, device, gen)
    extra = objective if isinstance(objective, nn.Module) else None
    if extra is not None:
        extra.to(device)
    frozen = [freeze(m) for m in frozen]
    trained = [m for m in (model, extra) if m is not None]
    if optimizer is None:
        params = [p for m in trained for p in m.parameters() if p.requires_grad]
        optimizer = _default_optimizer(params, lr, weight_decay)
    check_optimizer(optimizer, *trained)

    def step(p: float) -> Metrics:
        xs, ys = src.next()
        xt, _ = tgt.next()  # the target's labels are dropped here
        with _autocast(device):
            return objective(model, xs, ys, xt, p)

    per_epoch = max(src.steps_per_epoch, tgt.steps_per_epoch)
    total = _steps(epochs, steps, per_epoch)
    return _engine(model, step, steps=total, steps_per_epoch=min(per_epoch, total), optimizer=optimizer,
                   lr_schedule=lr_schedule, evals=evaluate_on or {}, progress=progress,
                   desc=f"adapt {source.name}→{target.name}", trainable=extra, frozen=frozen)


# ----------------------------------------------------------------------------- checkpoints

def checkpoint_path(name: str, seed: int, profile: str | None = None, version: int = 1) -> Path:
    profile = profile or config.profile_name()
    return config.cache_dir() / "models" / f"{name}-v{version}-{profile}-seed{seed}.pt"


def train_or_load(name: str, make_model: Callable[[], nn.Module],
                  train: Callable[[nn.Module], History | None], *, seed: int = 0,
                  profile: str | None = None, version: int = 1) -> tuple[nn.Module, History]:
    """Load the model ``name`` trained with ``seed`` under this profile, or train and cache it.

    ``make_model()`` builds the untrained architecture; ``train(model)`` trains it in place
    and may return a :class:`History`. The cache key is (name, recipe ``version``, profile,
    seed): bump ``version`` whenever the recipe changes (steps, learning rate, objective,
    data), so that a model trained by the old recipe is never loaded. The file is written
    atomically and read with ``weights_only=True``.
    """
    path = checkpoint_path(name, seed, profile, version)
    device = config.device()
    config.seed_everything(seed)  # before building: the initial weights depend on the seed alone
    model = make_model().to(device)
    if path.exists():
        saved = config.load_cached(path, map_location=device)
        try:
            model.load_state_dict(saved["state_dict"])
        except (RuntimeError, KeyError, TypeError) as err:
            raise RuntimeError(
                f"the cached checkpoint {path} does not fit the model {name!r} builds "
                f"({str(err).splitlines()[0]}): it was trained for another architecture. Delete the "
                "file to train the model again, or, if the recipe changed on purpose, bump its "
                "version= so that the old checkpoint is no longer addressed.") from err
        model.eval()
        return model, History(saved.get("history", []))
    result = train(model)
    history = result if isinstance(result, History) else History()
    config.save_atomic({"state_dict": model.state_dict(), "history": history.records}, path)
    model.eval()
    return model, history
