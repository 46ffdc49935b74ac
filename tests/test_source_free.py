import pytest
import torch
import torch.nn.functional as F

from tlbook import models, source_free, train
from tlbook.data import Domain


def _domain(n=96, seed=0, brightness=0):
    g = torch.Generator().manual_seed(seed)
    images = (torch.randint(0, 120, (n, 3, 32, 32), generator=g) + brightness).clamp(0, 255).to(torch.uint8)
    return Domain("toy", "train", images, torch.randint(0, 10, (n,), generator=g),
                  tuple(str(c) for c in range(10)), "random images")


def _model(seed=0):
    torch.manual_seed(seed)
    return models.digit_cnn().eval()


def test_tent_needs_batchnorm():
    with pytest.raises(ValueError, match="BatchNorm"):
        source_free.tent(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)), _domain())


def test_tent_trains_only_the_batchnorm_affine_parameters_and_lowers_the_entropy():
    model, target = _model(), _domain(brightness=60)
    before = model.state_dict()
    adapted, history = source_free.tent(model, target, epochs=5, batch_size=32, lr=1e-2, progress=False)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())   # the original is untouched
    changed = {name for name, p in adapted.named_parameters() if not torch.equal(p, dict(model.named_parameters())[name])}
    norms = {f"{n}.{w}" for n, m in adapted.named_modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))
             for w in ("weight", "bias")}
    assert changed and changed <= norms
    assert history["loss"][-1] < history["loss"][0]


def test_cluster_pseudo_labels_recover_clusters_that_the_predictions_blur():
    g = torch.Generator().manual_seed(0)
    truth = torch.arange(3).repeat(40)
    centres = torch.eye(3) * 5
    features = centres[truth] + 0.3 * torch.randn(120, 3, generator=g)
    noisy = F.one_hot(truth, 3).float() * 0.4 + 0.6 * torch.rand(120, 3, generator=g)   # arg-max often wrong
    probabilities = noisy / noisy.sum(1, keepdim=True)
    assert (probabilities.argmax(1) == truth).float().mean() < 0.9
    assert torch.equal(source_free.cluster_pseudo_labels(features, probabilities), truth)
    with pytest.raises(ValueError, match="rows"):
        source_free.cluster_pseudo_labels(features, probabilities[:10])


def test_shot_keeps_the_head_and_trains_the_features():
    model, target = _model(), _domain()
    adapted, history = source_free.shot(model, target, epochs=2, batch_size=32, progress=False)
    assert torch.equal(adapted.head.weight, model.head.weight)
    assert not torch.equal(adapted.backbone[1].weight, model.backbone[1].weight)
    assert len(history) == 2 and {"im", "pseudo_ce"} <= set(history.records[0])


def test_relabelled_checks_the_labels():
    target = _domain(n=8)
    assert torch.equal(target.relabelled(torch.zeros(8)).labels, torch.zeros(8, dtype=torch.int64))
    with pytest.raises(ValueError, match="one label per image"):
        target.relabelled(torch.zeros(7))
    with pytest.raises(ValueError, match="0..9"):
        target.relabelled(torch.full((8,), 10))


def test_unknown_source_free_method_names_the_choices():
    with pytest.raises(ValueError, match="adabn"):
        source_free.adapted("tnet", "digits-synth", "digits-synth-m", 0)
