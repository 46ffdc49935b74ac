import math

import pytest
import torch

from tlbook import objectives


def test_mmd_separates_shifted_samples():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(200, 5, generator=g), torch.randn(200, 5, generator=g)
    shifted = torch.randn(200, 5, generator=g) + 1.0
    same, diff = objectives.mmd2(x, y), objectives.mmd2(x, shifted)
    assert abs(same.item()) < 0.02 and diff.item() > 0.1


def test_unbiased_mmd_removes_the_diagonal_bias():
    g = torch.Generator().manual_seed(1)
    estimates = [objectives.mmd2(torch.randn(20, 2, generator=g), torch.randn(20, 2, generator=g),
                                 bandwidths=[1.0], unbiased=u).item()
                 for u in (True, False) for _ in range(50)]
    unbiased, biased = sum(estimates[:50]) / 50, sum(estimates[50:]) / 50
    assert abs(unbiased) < 0.01 < biased  # the biased estimator is positive even for P = Q


def test_mmd_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="same dimension"):
        objectives.mmd2(torch.randn(4, 2), torch.randn(4, 3))


def test_coral_zero_for_equal_covariances_and_grows_with_scale():
    x = torch.randn(100, 4)
    assert objectives.coral(x, x).item() == pytest.approx(0.0, abs=1e-7)
    assert objectives.coral(x, 3 * x).item() > objectives.coral(x, 1.5 * x).item() > 0


def test_entropy_bounds():
    assert objectives.entropy(torch.zeros(3, 10)).item() == pytest.approx(math.log(10), rel=1e-5)
    assert objectives.entropy(torch.tensor([[100.0, 0.0, 0.0]])).item() < 1e-6


def test_linear_time_mmd_is_the_pairwise_formula_and_tracks_the_shift():
    torch.manual_seed(0)
    x, y = torch.randn(4, 3), torch.randn(4, 3) + 1
    bw = [1.0]
    k = lambda a, b: torch.exp(-(a - b).pow(2).sum() / 2)
    by_hand = sum(k(x[i], x[i + 1]) + k(y[i], y[i + 1]) - k(x[i], y[i + 1]) - k(x[i + 1], y[i])
                  for i in (0, 2)) / 2
    assert torch.allclose(objectives.mmd2_linear(x, y, bw), by_hand)
    a, b = torch.randn(2000, 5), torch.randn(2000, 5)
    assert abs(objectives.mmd2_linear(a, b).item()) < 0.05
    assert objectives.mmd2_linear(a, b + 1.0).item() > 0.2


def test_joint_mmd_of_one_layer_is_the_mmd_and_sees_the_joint():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randn(64, 4) + 0.5
    assert torch.allclose(objectives.joint_mmd2([x], [y]), objectives.mmd2(x, y), atol=1e-6)
    # Same marginals, different pairing: only the joint distance can tell.
    f = torch.randn(200, 2)
    pred = (f[:, :1] > 0).float()
    joint = objectives.joint_mmd2([f, pred], [f, 1 - pred])
    assert abs(objectives.mmd2(pred, 1 - pred[torch.randperm(200)]).item()) < 0.05
    assert joint.item() > 0.1


def test_minimum_class_confusion_bounds():
    confident = torch.eye(5).repeat(4, 1) * 50       # every class, no confusion
    assert objectives.minimum_class_confusion(confident, temperature=1.0).item() < 1e-6
    uniform = torch.zeros(20, 5)
    assert abs(objectives.minimum_class_confusion(uniform).item() - 4 / 5) < 1e-6


def test_information_maximisation_prefers_confident_and_balanced_over_collapsed():
    balanced = torch.eye(5).repeat(4, 1) * 50             # confident, every class equally often
    collapsed = torch.zeros(20, 5)
    collapsed[:, 0] = 50                                  # confident, always class 0
    assert objectives.information_maximisation(balanced).item() == pytest.approx(-math.log(5), abs=1e-5)
    assert objectives.information_maximisation(collapsed).item() == pytest.approx(0.0, abs=1e-5)
    # entropy alone cannot tell the two apart: both are (almost) zero
    assert objectives.entropy(collapsed).item() < 1e-6 and objectives.entropy(balanced).item() < 1e-6


def test_pseudo_label_loss_keeps_confident_predictions_only_and_fixes_the_labels():
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.2, 0.0, 0.1]], requires_grad=True)   # confident, unsure
    loss = objectives.pseudo_label_loss(logits, threshold=0.9)
    manual = torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0]), reduction="sum") / 2
    assert torch.allclose(loss, manual)
    assert objectives.pseudo_label_loss(logits, threshold=0.99).item() == 0.0       # nobody confident
    loss.backward()
    assert logits.grad[1].abs().max() == 0                                          # the unsure row is ignored
    with pytest.raises(ValueError, match="threshold"):
        objectives.pseudo_label_loss(logits, threshold=1.0)
