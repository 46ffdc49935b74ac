
import matplotlib
import pytest
import torch
from torch import nn

from tlbook import models, train
from tlbook.data import Domain

matplotlib.use("Agg")


def toy_domain(n=256, seed=0, shift=0):
    """Two classes of 3x32x32 images: a bright left half or a bright right half, with noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    images = torch.randint(0, 80, (n, 3, 32, 32), generator=g)
    for i, y in enumerate(labels.tolist()):
        cols = slice(0, 16) if y == 0 else slice(16, 32)
        images[i, :, :, cols] += 120 + shift
    return Domain("toy", "train", images.clamp(0, 255).to(torch.uint8), labels, ("left", "right"), "toy")


def test_schedules():
    assert train.cosine(0) == 1 and train.cosine(1) == pytest.approx(0)
    assert train.dann_lambda(0) == 0 and train.dann_lambda(1) == pytest.approx(1, abs=1e-4)
    assert train.dann_lr(0) == 1 and train.dann_lr(1) == pytest.approx(11 ** -0.75)


def test_fit_learns_a_separable_problem():
    torch.manual_seed(0)
    model = models.digit_cnn(num_classes=2)
    test = toy_domain(seed=1)
    before = train.evaluate(model, test)
    history = train.fit(model, toy_domain(), epochs=3, batch_size=32, lr=0.05, evaluate_on={"test": test})
    assert len(history) == 3 and history["epoch"] == [1.0, 2.0, 3.0]
    assert history.last("test_acc") > 0.95 > before + 0.2
    assert history["loss"][-1] < history["loss"][0]


def test_fit_refuses_a_head_of_the_wrong_size():
    with pytest.raises(ValueError, match="num_classes=2"):
        train.fit(models.digit_cnn(num_classes=10), toy_domain(), steps=1)


def test_fit_needs_exactly_one_length():
    with pytest.raises(ValueError, match="exactly one"):
        train.fit(models.digit_cnn(num_classes=2), toy_domain(), epochs=1, steps=3)


class SpyObjective(nn.Module):
    """Cross-entropy on the source, plus a trainable scale, and a record of what it saw."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.seen, self.progress = [], []

    def forward(self, model, xs, ys, xt, p):
        self.seen.append((xs.shape, ys.shape, xt.shape))
        self.progress.append(p)
        loss = nn.functional.cross_entropy(model(xs) * self.scale, ys)
        return {"loss": loss, "target_entropy": model(xt).softmax(1).mean()}


def test_adapt_streams_two_domains_and_trains_the_objective():
    torch.manual_seed(0)
    model, spy = models.digit_cnn(num_classes=2), SpyObjective()
    history = train.adapt(model, toy_domain(128), toy_domain(64, seed=2, shift=30), spy, steps=8,
                          batch_size=32, evaluate_on={"target": toy_domain(64, seed=3)})
    assert len(spy.seen) == 8 and all(s == ((32, 3, 32, 32), (32,), (32, 3, 32, 32)) for s in spy.seen)
    assert spy.progress[0] == 0 and spy.progress[-1] == pytest.approx(7 / 8)
    assert spy.scale.item() != 1.0  # the objective's own parameters were optimised
    assert "target_acc" in history.records[-1] and "target_entropy" in history.records[-1]


def test_adapt_refuses_different_label_sets():
    other = toy_domain()
    other = Domain("three", "train", other.images, other.labels, ("a", "b", "c"), "")
    with pytest.raises(ValueError, match="same label set"):
        train.adapt(models.digit_cnn(num_classes=2), toy_domain(), other, SpyObjective(), steps=1)


def test_history_plot_and_frame():
    h = train.History()
    h.append(epoch=1, loss=1.0, test_acc=0.5)
    h.append(epoch=2, loss=0.5, test_acc=0.8)
    ax = h.plot()
    assert ax.get_xlabel() == "epoch"
    assert list(h.frame()["test_acc"]) == [0.5, 0.8]
    with pytest.raises(KeyError, match="recorded"):
        h.last("nope")


def test_predict_restores_training_mode():
    model = models.digit_cnn(num_classes=2).train()
    out = train.predict(model, toy_domain(10).images, features=True)
    assert out.shape == (10, 128) and model.training


def test_train_or_load_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    calls = []

    def fit(model):
        calls.append(1)
        return train.fit(model, toy_domain(), steps=4, batch_size=32)

    make = lambda: models.digit_cnn(num_classes=2)
    first, h1 = train.train_or_load("toy", make, fit, seed=0, profile="smoke")
    second, h2 = train.train_or_load("toy", make, fit, seed=0, profile="smoke")
    assert calls == [1]
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert h1.records == h2.records and len(h2) == 1
    assert train.checkpoint_path("toy", 0, "smoke").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_corrupt_checkpoint_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    path = train.checkpoint_path("broken", 0, "smoke")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage")
    with pytest.raises(RuntimeError, match="delete it"):
        train.train_or_load("broken", lambda: models.digit_cnn(), lambda m: None, profile="smoke")


def test_train_or_load_initial_weights_depend_on_the_seed_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    initial = []
    record = lambda model: initial.append([p.detach().clone() for p in model.parameters()])
    train.train_or_load("a", lambda: models.digit_cnn(num_classes=2), record, seed=5, profile="smoke")
    torch.rand(100)  # whatever ran in between must not matter
    train.train_or_load("b", lambda: models.digit_cnn(num_classes=2), record, seed=5, profile="smoke")
    assert all(torch.equal(a, b) for a, b in zip(*initial))


def test_linear_probe_separates_linearly_separable_features():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (90,), generator=g)
    z = torch.randn(90, 5, generator=g) + 4 * nn.functional.one_hot(y, 5).float()
    probe = train.linear_probe(z, y, num_classes=3)
    assert (probe(z).argmax(1) == y).float().mean() > 0.95
    assert torch.get_num_threads() >= 1 and probe(z[:2]).shape == (2, 3)
    # an nn.Linear with the standardisation folded in, usable as a model's head
    assert isinstance(probe, nn.Linear) and not probe(z).requires_grad
    assert torch.allclose(probe(z.double().numpy()), probe(z))


def test_fit_frozen_keeps_weights_and_batchnorm_statistics():
    torch.manual_seed(0)
    model = models.digit_cnn(num_classes=2)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    train.fit(model, toy_domain(), steps=5, batch_size=32, frozen=[model.backbone])
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats included
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_fit_rejects_an_optimizer_that_misses_trainable_parameters():
    model = models.digit_cnn(num_classes=2)
    head_only = torch.optim.SGD(model.head.parameters(), lr=0.1)  # backbone still trainable
    with pytest.raises(RuntimeError, match="not in the optimizer"):
        train.fit(model, toy_domain(), steps=1, optimizer=head_only)


def test_evaluate_gives_every_submodule_its_own_mode_back():
    backbone = models.digit_cnn(num_classes=2).eval()          # e.g. a frozen, shared backbone
    wrapper = nn.Sequential(backbone, nn.Identity())           # a new module starts in train mode
    wrapper[1].train()
    train.predict(wrapper, toy_domain(n=8).images)
    assert not any(m.training for m in backbone.modules()) and wrapper.training
