"""``python -m tlbook bench``: the book's loop against the plain textbook loop.

Both train the same small CNN (same initial weights) on the same data for the same
number of steps with the same optimiser and schedule. The textbook loop is the one most
tutorials show: a ``DataLoader`` over a ``TensorDataset``, ``.to(device)`` per batch and
``loss.item()`` every step. Each loop is warmed up, then the two are run interleaved
``repeats`` times and the median throughput is reported, with both final accuracies.
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from . import config, data, models, train


def textbook_fit(model, domain, *, steps: int, batch_size: int, lr: float, seed: int) -> list[float]:
    """The plain loop, written as tutorials write it (float32 data, per-step sync)."""
    device = next(model.parameters()).device
    dataset = TensorDataset(domain.images.float() / 255, domain.labels)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: train.cosine(i / steps))
    losses, step = [], 0
    model.train()
    while step < steps:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())  # a host-device sync every step
            step += 1
            if step == steps:
                break
    model.eval()
    return losses


def _timed(fn) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def run(quick: bool = False, repeats: int | None = None, seed: int = 0) -> dict:
    device = config.device()
    if device.type == "cuda":  # a GPU needs more work per run for the timing to mean anything
        n_train, steps, batch_size = (20000, 300, 256) if quick else (60000, 1500, 256)
        domain = "fashion"
    else:
        n_train, steps, batch_size = (3000, 40, 128) if quick else (10000, 150, 128)
        domain = "digits-synth"
    repeats = repeats or (3 if quick else 5)
    train_set = data.load(domain, "train", n=min(n_train, len(data.load(domain, "train"))), seed=seed)
    test_set = data.load(domain, "test")
    lr = 0.05
    torch.manual_seed(seed)
    init = models.digit_cnn(num_classes=train_set.num_classes).state_dict()

    def fresh():
        model = models.digit_cnn(num_classes=train_set.num_classes).to(device)
        model.load_state_dict(init)
        return model

    def book(model):
        train.fit(model, train_set, steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=False)

    def plain(model):
        textbook_fit(model, train_set, steps=steps, batch_size=batch_size, lr=lr, seed=seed)

    # Warm-up: first calls pay for memory allocation, kernel selection and caches.
    warm_steps = max(5, steps // 10)
    train.fit(fresh(), train_set, steps=warm_steps, batch_size=batch_size, lr=lr, progress=False)
    textbook_fit(fresh(), train_set, steps=warm_steps, batch_size=batch_size, lr=lr, seed=seed)

    times = {"tlbook": [], "textbook": []}
    accs = {"tlbook": [], "textbook": []}
    for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
        for name, fn in (("tlbook", book), ("textbook", plain)):
            model = fresh()
            times[name].append(_timed(lambda: fn(model)))
            accs[name].append(train.evaluate(model, test_set))
    images = steps * batch_size
    result = {
        "device": config.device_name(device), "domain": domain, "train_examples": len(train_set),
        "steps": steps, "batch_size": batch_size, "repeats": repeats,
        "tlbook_img_per_s": images / statistics.median(times["tlbook"]),
        "textbook_img_per_s": images / statistics.median(times["textbook"]),
        "tlbook_acc": statistics.mean(accs["tlbook"]), "textbook_acc": statistics.mean(accs["textbook"]),
    }
    result["speedup"] = result["tlbook_img_per_s"] / result["textbook_img_per_s"]
    return result


def main(quick: bool = False) -> dict:
    r = run(quick=quick)
    print(f"device: {r['device']}; {r['domain']}, {r['train_examples']} examples, {r['steps']} steps "
          f"of batch {r['batch_size']}, median of {r['repeats']} interleaved runs")
    print(f"tlbook loop:   {r['tlbook_img_per_s']:9.0f} images/s   test accuracy {100 * r['tlbook_acc']:.1f}%")
    print(f"textbook loop: {r['textbook_img_per_s']:9.0f} images/s   test accuracy {100 * r['textbook_acc']:.1f}%")
    print(f"speedup={r['speedup']:.2f}")
    return r
