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
