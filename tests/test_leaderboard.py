import pytest

from tlbook import da, data, leaderboard


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLBOOK_PROFILE", "smoke")
    monkeypatch.setitem(da.STEPS, "smoke", 3)
    monkeypatch.setattr(da, "domains", lambda s, t, seed: (
        data.load(s, n=64, seed=seed), data.load(t, n=64, seed=seed + 1), data.load(t, "test", n=32)))


def test_leaderboard_writes_every_run_and_reads_back(tiny, tmp_path):
    pairs = [("digits-hand", "digits-hand-m")]
    results = leaderboard.run(pairs=pairs, methods=["source-only", "dann"], seeds=[0, 1])
    assert len(results["rows"]) == 4 and results["profile"] == "smoke"
    assert all(0 <= r["target_acc"] <= 1 and r["train_seconds"] > 0 for r in results["rows"])
    path = leaderboard.write(results, tmp_path / "out" / "board.json")
    again = leaderboard.read(path)
    assert again == results
    (mean, std) = leaderboard.table(again)[("digits-hand", "digits-hand-m")]["dann"]
    accs = [100 * r["target_acc"] for r in results["rows"] if r["method"] == "dann"]
    assert mean == pytest.approx(sum(accs) / 2) and std >= 0


def test_leaderboard_errors_name_the_fix(tiny, tmp_path):
    with pytest.raises(ValueError, match="unknown methods"):
        leaderboard.run(methods=["dnn"])
    with pytest.raises(FileNotFoundError, match="python -m tlbook leaderboard"):
        leaderboard.read(tmp_path / "missing.json")


def test_mean_std_formats_the_sample_standard_deviation():
    assert leaderboard.mean_std([50.0, 52.0, 54.0]) == "52.0 ± 2.0"
    assert leaderboard.mean_std([41.25]) == "41.2 ± 0.0"


def test_leaderboard_runs_source_free_methods_from_the_cached_source_model(tiny):
    results = leaderboard.run(pairs=[("digits-hand", "digits-hand-m")], methods=["source-only", "adabn"], seeds=[0])
    by_method = {r["method"]: r for r in results["rows"]}
    assert by_method["adabn"]["train_seconds"] is None and 0 <= by_method["adabn"]["target_acc"] <= 1
    with pytest.raises(ValueError, match="unknown method 'tnet'"):
        leaderboard.trained("tnet", "digits-hand", "digits-hand-m", 0)
