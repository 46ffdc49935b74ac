import numpy as np
import pytest
import torch

from tlbook.stats import paired_difference


def test_one_run_gives_the_accuracy_gap_and_the_paired_standard_error():
    a = np.array([1, 1, 1, 0, 1, 0, 1, 1])
    b = np.array([1, 0, 1, 0, 0, 0, 1, 1])
    gain, se = paired_difference(a, b)
    d = 100.0 * (a - b)
    assert gain == pytest.approx(100 * (a.mean() - b.mean())) == pytest.approx(25.0)
    assert se == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)))


def test_identical_methods_differ_by_zero_with_zero_error():
    right = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0]], dtype=torch.bool)
    assert paired_difference(right, right) == (0.0, 0.0)


def test_seed_spread_adds_to_the_test_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, (3, 500))
    b = a.copy()
    b[0, :50] = 1 - b[0, :50]            # the seeds disagree about the gap: training noise
    gain, se = paired_difference(a, b)
    per_seed = 100 * (a - b).mean(1)
    se_seeds = per_seed.std(ddof=1) / np.sqrt(3)
    se_images = (100 * (a - b)).mean(0).std(ddof=1) / np.sqrt(500)
    assert gain == pytest.approx(per_seed.mean())
    assert se == pytest.approx(np.hypot(se_seeds, se_images)) and se > max(se_seeds, se_images)


def test_mismatched_sets_are_refused():
    with pytest.raises(ValueError, match="different sets"):
        paired_difference(np.ones(5), np.ones(6))
    with pytest.raises(ValueError, match="at least two"):
        paired_difference(np.ones(1), np.ones(1))


def test_seed_difference_pairs_by_seed():
    from tlbook.stats import seed_difference

    gain, se = seed_difference([50.0, 52.0, 57.0], [40.0, 45.0, 44.0])
    d = np.array([10.0, 7.0, 13.0])
    assert gain == pytest.approx(10.0) and se == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    with pytest.raises(ValueError, match="at least two seeds"):
        seed_difference([50.0], [40.0])
