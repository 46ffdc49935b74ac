import torch

from tlbook import data, recipes


def test_domain_take_keeps_metadata():
    d = data.load("digits-hand", "test")
    part = d.take(torch.tensor([3, 1]))
    assert torch.equal(part.images[0], d.images[3]) and part.labels.tolist() == d.labels[[3, 1]].tolist()
    assert part.classes == d.classes and part.name == d.name


def test_train_val_split_is_disjoint_and_reproducible(monkeypatch):
    monkeypatch.setenv("TLBOOK_PROFILE", "smoke")
    a_train, a_val = recipes.train_val_split("digits-hand", seed=1)
    b_train, _ = recipes.train_val_split("digits-hand", seed=1)
    assert torch.equal(a_train.images, b_train.images)
    seen = {bytes(x.numpy()) for x in a_train.images}
    assert not any(bytes(x.numpy()) in seen for x in a_val.images)
    assert len(a_val) == min(recipes.VAL_SIZE["smoke"], int(0.15 * 1297))


def test_trained_on_is_cached_under_a_stable_name(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_PROFILE", "smoke")
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    monkeypatch.setitem(recipes.STEPS, "smoke", 3)
    first = recipes.trained_on("digits-hand", seed=0)
    assert (tmp_path / "models" / "source-only-digits-hand-v1-smoke-seed0.pt").exists()
    again = recipes.trained_on("digits-hand", seed=0)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
