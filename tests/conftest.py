"""Shared fixtures for tlbook's unit tests. They run offline and in seconds."""
import pytest


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    """A TLBOOK_DATA with nothing in it, and no network: the state of a fresh offline machine."""
    from tlbook.data import files

    monkeypatch.setenv("TLBOOK_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(files, "online", lambda host, *a, **k: False)
    return tmp_path / "data"
