import pytest
import torch

from tlbook import config


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("TLBOOK_PROFILE", "smoke")
    assert config.profile().name == "smoke"
    monkeypatch.setenv("TLBOOK_PROFILE", "GPU ")
    assert config.profile().name == "gpu"


def test_profile_detected_without_variable(monkeypatch):
    monkeypatch.delenv("TLBOOK_PROFILE", raising=False)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert config.profile_name() == expected


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("TLBOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="smoke"):
        config.profile()


def test_profiles_grow_from_smoke_to_gpu():
    smoke, cpu, gpu = (config.PROFILES[n] for n in ("smoke", "cpu", "gpu"))
    assert smoke.train_size < cpu.train_size < gpu.train_size
    assert len(smoke.seeds) <= len(cpu.seeds) <= len(gpu.seeds)
    assert not smoke.progress and cpu.progress


def test_seed_everything_repeats_random_draws():
    g1 = config.seed_everything(3)
    a = torch.rand(3), torch.randperm(10, generator=g1)
    g2 = config.seed_everything(3)
    b = torch.rand(3), torch.randperm(10, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_directories_follow_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("TLBOOK_DATA", str(tmp_path / "d"))
    assert config.cache_dir() == tmp_path / "c" and config.cache_dir().is_dir()
    assert config.data_dir() == tmp_path / "d"


def test_device_override(monkeypatch):
    monkeypatch.setenv("TLBOOK_DEVICE", "cpu")
    assert config.device() == torch.device("cpu")
