"""Bad input gets a clear error that names the problem and the fix (BOOK_DESIGN.md §9):
one test per case, each with the exact error type and the words of its message."""
import re

import numpy as np
import pytest
import torch

from tlbook import config, data, models, train
from tlbook.data import Domain
from tlbook.report import glue, plain

from test_train import toy_domain


def test_nan_in_the_images_stops_training_at_the_step():
    domain = toy_domain(n=64)
    images = domain.images.float()
    images[5] = float("nan")                       # one poisoned image: the first batch that holds it
    poisoned = Domain("toy", "train", images, domain.labels, domain.classes, "")
    torch.manual_seed(0)
    with pytest.raises(train.TrainingDiverged, match=r"NaN or infinite at step \d+ of 6.*inputs"):
        train.fit(models.digit_cnn(num_classes=2), poisoned, steps=6, batch_size=16, progress=False)


def test_a_divergent_learning_rate_stops_training_with_the_step():
    torch.manual_seed(0)
    with pytest.raises(train.TrainingDiverged, match=r"at step \d+ of 40.*lower the learning rate"):
        train.fit(models.digit_cnn(num_classes=2), toy_domain(), steps=40, batch_size=32, lr=1e6,
                  progress=False)


def test_a_divergent_adaptation_objective_is_reported_too():
    def exploding(model, xs, ys, xt, p):
        return {"loss": model(xs).sum() * float("inf")}

    with pytest.raises(train.TrainingDiverged, match="step 1 of 3"):
        train.adapt(models.digit_cnn(num_classes=2), toy_domain(), toy_domain(seed=1), exploding,
                    steps=3, batch_size=32, progress=False)


def test_a_finite_run_is_not_flagged():
    torch.manual_seed(0)
    history = train.fit(models.digit_cnn(num_classes=2), toy_domain(), steps=8, batch_size=32, progress=False)
    assert np.isfinite(history.last("loss"))


@pytest.mark.parametrize("labels, words", [
    (torch.tensor([0, 1, 2, 1]), r"0\.\.1.*1 do not \(e\.g\. \[2\]\)"),
    (torch.tensor([0, -1, 1, 1]), r"0\.\.1.*\[-1\]"),
])
def test_domain_refuses_labels_outside_its_classes(labels, words):
    images = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(ValueError, match=words):
        Domain("toy", "train", images, labels, ("a", "b"), "")


def test_domain_refuses_float_labels_and_a_count_mismatch():
    images = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(ValueError, match="int64"):
        Domain("toy", "train", images, torch.zeros(4), ("a", "b"), "")
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        Domain("toy", "train", images, torch.zeros(3, dtype=torch.int64), ("a", "b"), "")


@pytest.mark.parametrize("shape", [(4, 32, 32), (3, 8, 8)])
def test_images_the_model_cannot_take_are_reported_with_the_fix(shape):
    domain = Domain("small", "train", torch.zeros(8, *shape, dtype=torch.uint8),
                    torch.zeros(8, dtype=torch.int64), ("a", "b"), "")
    model = models.digit_cnn(num_classes=2)
    expected = rf"cannot take the images of small/train, of shape {re.escape(str(shape))}.*resize them"
    for call in (lambda: train.fit(model, domain, steps=1, batch_size=4, progress=False),
                 lambda: train.evaluate(model, domain),
                 lambda: train.adapt(model, domain, domain, lambda *a: None, steps=1, batch_size=4)):
        with pytest.raises(ValueError, match=expected):
            call()


def test_the_compatibility_probe_moves_no_batchnorm_statistic():
    model = models.digit_cnn(num_classes=2).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train._check_compatible(model, toy_domain(n=8))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_grey_images_stay_welcome():
    # the documented exception: the input standardisation repeats one channel to three
    grey = Domain("grey", "train", torch.zeros(8, 1, 32, 32, dtype=torch.uint8),
                  torch.zeros(8, dtype=torch.int64), ("a", "b"), "")
    assert 0 <= train.evaluate(models.digit_cnn(num_classes=2), grey) <= 1


@pytest.mark.parametrize("value, words", [
    ("cuda", "sees no CUDA device"),
    ("gpu", "is not a device"),
    ("tpu", "is not a device"),
])
def test_an_unusable_device_is_refused(monkeypatch, value, words):
    if value == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("TLBOOK_DEVICE", value)
    with pytest.raises(ValueError, match=f"TLBOOK_DEVICE='{value}'.*{words}"):
        config.device()


def test_a_checkpoint_of_another_architecture_names_its_path_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    fit = lambda model: train.fit(model, toy_domain(), steps=1, batch_size=32, progress=False)
    train.train_or_load("net", lambda: models.digit_cnn(num_classes=2), fit, profile="smoke")
    path = train.checkpoint_path("net", 0, "smoke")
    with pytest.raises(RuntimeError, match=rf"{path}.*does not fit.*Delete the file.*version="):
        train.train_or_load("net", lambda: models.digit_cnn(num_classes=3), fit, profile="smoke")


def test_a_new_recipe_version_never_loads_the_old_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    calls = []
    fit = lambda model: calls.append(1)
    train.train_or_load("net", lambda: models.digit_cnn(num_classes=2), fit, profile="smoke", version=1)
    train.train_or_load("net", lambda: models.digit_cnn(num_classes=2), fit, profile="smoke", version=2)
    assert calls == [1, 1]
    assert train.checkpoint_path("net", 0, "smoke", 2).name == "net-v2-smoke-seed0.pt"


def test_an_unreadable_image_names_the_file_and_how_many_were_read(tmp_path):
    from PIL import Image

    for i in range(3):
        (tmp_path / "cat").mkdir(exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "cat" / f"{i}.png")
    (tmp_path / "cat" / "3.png").write_bytes(b"not an image")
    with pytest.raises(data.DatasetUnavailable, match=r"cannot read the image .*3\.png.*3 of 4 images"):
        data.load("folder", root=tmp_path, image_size=8)


@pytest.mark.parametrize("value", ["one", "-1", "1.5"])
def test_a_bad_seed_offset_is_refused(monkeypatch, value):
    monkeypatch.setenv("TLBOOK_SEED_OFFSET", value)
    with pytest.raises(ValueError, match="not a non-negative integer"):
        config.profile()


def test_the_seed_offset_shifts_every_experiment_seed(monkeypatch):
    monkeypatch.delenv("TLBOOK_SEED_OFFSET", raising=False)
    assert config.profile("cpu").seeds == (0, 1, 2) and config.seed(2) == 2
    monkeypatch.setenv("TLBOOK_SEED_OFFSET", "1")
    assert config.profile("cpu").seeds == (1, 2, 3) and config.profile("smoke").seeds == (1,)
    assert config.seed() == 1 and config.seed(2) == 3
    assert config.PROFILES["cpu"].seeds == (0, 1, 2)   # the table itself is left alone


def test_glue_gives_plain_numbers_and_refuses_bad_names(capsys):
    assert type(plain(np.float64(0.5))) is float and type(plain(torch.tensor(3))) is int
    assert plain(np.int64(7)) == 7 and plain("text") == "text" and plain(True) is True
    assert glue("gain_dann", np.float32(1.5)) == 1.5
    with pytest.raises(ValueError, match="letters, digits"):
        glue("gain dann", 1.0)


def test_glue_prints_where_myst_nb_is_absent(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "myst_nb", None)     # import fails, as on Colab
    glue("answer", np.float64(42.0))
    assert capsys.readouterr().out == "answer = 42.0\n"
