import subprocess
import sys

from tlbook import bench


def test_info_lists_domains_and_weights():
    out = subprocess.run([sys.executable, "-m", "tlbook", "info"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    for name in ("digits-synth", "fashion-m", "mnist", "folder"):
        assert name in out
    assert "checksum OK" in out


def test_bench_reports_both_loops_with_equal_accuracy(capsys, monkeypatch):
    monkeypatch.setenv("TLBOOK_DEVICE", "cpu")
    result = bench.run(quick=True, repeats=1)
    assert result["steps"] > 0 and result["tlbook_img_per_s"] > 0 and result["textbook_img_per_s"] > 0
    # Same model, data, optimiser and steps: the loops must reach the same accuracy.
    assert abs(result["tlbook_acc"] - result["textbook_acc"]) < 0.03
    assert result["tlbook_acc"] > 0.5  # and both actually learn
