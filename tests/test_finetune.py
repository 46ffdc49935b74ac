import pytest
import torch

from tlbook import finetune, models, train
from test_train import toy_domain


def test_freeze_stops_gradients_and_batchnorm_updates():
    model = models.digit_cnn(num_classes=2)
    finetune.freeze(model.backbone)
    model.head.train()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    with torch.no_grad():
        model(train.as_input(toy_domain(n=16).images))
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_adabn_reestimates_statistics_only():
    torch.manual_seed(0)
    model = models.digit_cnn(num_classes=2).eval()
    images = toy_domain(n=64, shift=60).images
    adapted = finetune.adabn(model, images, batch_size=16)
    bn = finetune.batchnorm_layers(adapted)[0]
    # the first BatchNorm follows the first conv: its running mean is that conv's mean output
    with torch.no_grad():
        conv_out = adapted.backbone[:2](train.as_input(images))  # standardise, conv
    assert torch.allclose(bn.running_mean, conv_out.mean((0, 2, 3)), atol=1e-4)
    for (name, p), q in zip(model.named_parameters(), adapted.parameters()):
        assert torch.equal(p, q), name
    assert not torch.equal(finetune.batchnorm_layers(model)[0].running_mean, bn.running_mean)
    with pytest.raises(ValueError, match="at least 2"):
        finetune.adabn(model, images[:1])


def test_l2sp_is_half_the_squared_distance_to_the_anchor():
    model = models.digit_cnn(num_classes=2)
    start = finetune.anchor(model.backbone)
    assert finetune.l2sp(model.backbone, start).item() == 0
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.1)
    n = sum(p.numel() for p in model.backbone.parameters())
    assert finetune.l2sp(model.backbone, start).item() == pytest.approx(0.01 * n / 2, rel=1e-4)
    with pytest.raises(KeyError, match="lacks"):
        finetune.l2sp(model.head, start)
