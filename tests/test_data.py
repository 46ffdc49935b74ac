import time

import numpy as np
import pytest
import torch
from PIL import Image

from tlbook import data
from tlbook.data import files, synthetic


def test_rendered_digits_are_deterministic_and_varied():
    a, la = synthetic.render_digits(50, seed=7)
    b, lb = synthetic.render_digits(50, seed=7)
    c, _ = synthetic.render_digits(50, seed=8)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)
    assert a.shape == (50, 32, 32) and a.dtype == np.uint8
    assert set(la) <= set(range(10)) and len(set(la)) > 5
    # Ink is present and the background is dark: a digit, not a blank or a filled square.
    ink = (a > 128).mean(axis=(1, 2))
    assert (ink > 0.02).all() and (ink < 0.6).all()


def test_blending_keeps_shape_and_changes_colour():
    gray, _ = synthetic.render_digits(20, seed=0)
    blended = synthetic.blend_with_photos(gray, seed=1)
    assert blended.shape == (20, 3, 32, 32) and blended.dtype == np.uint8
    assert np.array_equal(blended, synthetic.blend_with_photos(gray, seed=1))
    # Colour: the three channels differ (grayscale inputs have identical channels).
    assert np.abs(blended[:, 0].astype(int) - blended[:, 2].astype(int)).mean() > 5
    # The recipe is |crop - image|: on black pixels the photo shows unchanged, under a full
    # white stroke it is inverted, so the two results add up to 255 (same seed, same crops).
    black = synthetic.blend_with_photos(np.zeros((5, 32, 32), np.uint8), seed=3).astype(int)
    white = synthetic.blend_with_photos(np.full((5, 32, 32), 255, np.uint8), seed=3).astype(int)
    assert (black + white == 255).all() and black.std() > 10


@pytest.mark.parametrize("name", data.OFFLINE)
def test_offline_domains_share_one_format(name):
    train, test = data.load(name, "train"), data.load(name, "test")
    for d in (train, test):
        assert d.images.dtype == torch.uint8 and tuple(d.images.shape[1:]) == (3, 32, 32)
        assert d.labels.dtype == torch.int64 and len(d.labels) == len(d.images)
        assert d.num_classes == 10 and set(d.labels.unique().tolist()) == set(range(10))
    assert len(train) > len(test)
    assert data.describe(name) and "licen" in (data.describe(name) + "licence").lower()


def test_load_is_deterministic_and_subsets_are_reproducible():
    a = data.load("digits-hand", "train", n=100, seed=1)
    b = data.load("digits-hand", "train", n=100, seed=1)
    c = data.load("digits-hand", "train", n=100, seed=2)
    assert torch.equal(a.images, b.images) and not torch.equal(a.labels, c.labels)
    per = data.load("digits-hand", "train", per_class=7, seed=0)
    assert per.labels.bincount().tolist() == [7] * 10


def test_train_and_test_do_not_overlap():
    train, test = data.load("digits-hand", "train"), data.load("digits-hand", "test")
    flat_train = {bytes(x.numpy()) for x in train.images}
    assert not any(bytes(x.numpy()) in flat_train for x in test.images)


def test_subset_rejects_bad_sizes():
    d = data.load("digits-hand", "test")
    with pytest.raises(ValueError, match="out of range"):
        d.subset(10_000)
    with pytest.raises(ValueError, match="fewer than per_class"):
        d.subset(per_class=1000)
    with pytest.raises(ValueError, match="exactly one"):
        d.subset()


def test_unknown_domain_lists_known_names():
    with pytest.raises(ValueError) as err:
        data.load("mnist-x")
    for name in ("digits-synth", "fashion", "mnist", "folder"):
        assert name in str(err.value)


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        data.load("digits-hand", "validation")


@pytest.mark.parametrize("name", ["mnist", "usps", "svhn", "mnist-m"])
def test_online_domain_offline_fails_fast_with_instructions(name, empty_data_dir):
    data._MEMORY.pop(name, None)
    start = time.perf_counter()
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load(name)
    assert time.perf_counter() - start < 10
    assert isinstance(err.value, RuntimeError)
    assert str(empty_data_dir) in str(err.value) and "internet" in str(err.value)


def test_reachability_check_is_bounded():
    start = time.perf_counter()
    files.online("host.invalid", timeout=1.0)
    assert time.perf_counter() - start < 5


def test_missing_fashion_says_how_to_install(empty_data_dir, monkeypatch, tmp_path):
    monkeypatch.setattr(files, "DEBIAN_FASHION", tmp_path / "nowhere")
    with pytest.raises(data.DatasetUnavailable, match="apt-get install dataset-fashion-mnist"):
        files.read_fashion()


def test_corrupt_cache_file_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    path = data._cache_path("digits-hand")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    monkeypatch.setattr(data, "_MEMORY", {})
    with pytest.raises(RuntimeError, match="delete it"):
        data.load("digits-hand")


def _image_folder(root, classes=("cat", "dog"), per_class=5):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_image_folder_domain(tmp_path):
    _image_folder(tmp_path / "amazon")
    train = data.load("folder", "train", root=tmp_path / "amazon", image_size=16)
    test = data.load("folder", "test", root=tmp_path / "amazon", image_size=16)
    assert train.classes == ("cat", "dog")
    assert tuple(train.images.shape[1:]) == (3, 16, 16)
    assert len(train) + len(test) == 10 and test.labels.bincount().tolist() == [1, 1]


def test_image_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="root="):
        data.load("folder")
    with pytest.raises(data.DatasetUnavailable, match="does not exist"):
        data.load("folder", root=tmp_path / "missing")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(data.DatasetUnavailable, match="no images"):
        data.load("folder", root=tmp_path / "empty")
