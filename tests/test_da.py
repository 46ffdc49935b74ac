import pytest
import torch

from tlbook import da, data, models, stats, train


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    xs, xt = torch.rand(16, 3, 32, 32, generator=g), torch.rand(16, 3, 32, 32, generator=g)
    return xs, torch.randint(0, 10, (16,), generator=g), xt


OBJECTIVES = {
    "dan": lambda m: da.dan(), "dan-linear": lambda m: da.dan(linear=True), "coral": lambda m: da.deep_coral(),
    "jan": lambda m: da.jan(), "dann": lambda m: da.DANN(m.feature_dim), "cdan": lambda m: da.CDAN(m.feature_dim, 10),
    "mcd": lambda m: da.MCD(m.head), "mcc": lambda m: da.mcc(), "entropy": lambda m: da.entropy_minimisation(),
}


@pytest.mark.parametrize("name", OBJECTIVES)
def test_every_objective_trains_the_model_and_its_own_modules(name):
    torch.manual_seed(0)
    model = models.digit_cnn().train()
    objective = OBJECTIVES[name](model)
    xs, ys, xt = _batch()
    metrics = objective(model, xs, ys, xt, 0.5)
    assert {"loss", "ce", "transfer"} <= set(metrics) and torch.isfinite(metrics["loss"])
    metrics["loss"].backward()
    assert model.backbone[1].weight.grad.abs().sum() > 0
    if isinstance(objective, torch.nn.Module):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in objective.parameters())


def test_source_only_never_reads_the_target_batch():
    model = models.digit_cnn().train()
    xs, ys, xt = _batch()
    assert torch.isfinite(da.source_only(model, xs, ys, torch.full_like(xt, float("nan")), 0.0)["loss"])


def test_dann_reverses_the_discriminator_gradient_into_the_features():
    torch.manual_seed(0)
    objective = da.DANN(4, hidden=8)
    zs, zt = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    da._domain_loss(objective.discriminator, zs, zt, lambd=0.3).backward()
    reversed_grad = zs.grad.clone()
    zs.grad = None
    da._domain_loss(objective.discriminator, zs, zt, lambd=-1.0).backward()  # -(-1) = plain gradient
    assert torch.allclose(reversed_grad, -0.3 * zs.grad, atol=1e-7)


def test_mcd_heads_start_apart_and_its_loss_drives_them_further_apart():
    torch.manual_seed(0)
    model = models.digit_cnn().eval()   # eval: fixed features, so only the heads move
    objective = da.MCD(model.head, weight=100.0)
    assert not torch.equal(objective.second_head.weight, model.head.weight)
    heads = list(model.head.parameters()) + list(objective.second_head.parameters())
    opt = torch.optim.SGD(heads, lr=0.05)
    xs, ys, xt = _batch()
    before = objective(model, xs, ys, xt, 1.0)["transfer"].item()
    for _ in range(20):  # the heads' side of the minimax
        opt.zero_grad()
        objective(model, xs, ys, xt, 1.0)["loss"].backward()
        opt.step()
    assert objective(model, xs, ys, xt, 1.0)["transfer"].item() > before + 0.1


def test_negative_weight_is_refused():
    with pytest.raises(ValueError, match="weight"):
        da.dan(weight=-1.0)


def test_adapted_trains_once_then_loads(monkeypatch, tmp_path):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    monkeypatch.setenv("TLBOOK_PROFILE", "smoke")
    monkeypatch.setitem(da.STEPS, "smoke", 3)
    monkeypatch.setattr(da, "domains", lambda s, t, seed: (
        data.load("digits-hand", n=64), data.load("digits-hand-m", n=64, seed=1),
        data.load("digits-hand-m", "test", n=32)))
    first, history = da.adapted("dann", "digits-hand", "digits-hand-m", seed=0)
    assert len(history["target_acc"]) >= 1
    again, _ = da.adapted("dann", "digits-hand", "digits-hand-m", seed=0)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match="unknown method"):
        da.adapted("dnn", "digits-hand", "digits-hand-m", seed=0)


def test_paired_gain_is_the_paired_difference_of_the_two_models_right_answers():
    test = data.load("digits-hand", "test", n=200)
    torch.manual_seed(0)
    a, b = models.digit_cnn(), models.digit_cnn()
    gain, se = da.paired_gain(a, b, test)
    right = [train.predict(m, test.images).argmax(1) == test.labels for m in (a, b)]
    assert (gain, se) == stats.paired_difference(*right)
    assert da.paired_gain(a, a, test) == (0.0, 0.0)
