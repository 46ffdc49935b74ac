"""``python -m tlbook leaderboard``: every method of :mod:`tlbook.da` and :mod:`tlbook.source_free`
on the book's pairs, over the profile's seeds, written to a JSON results file that the
leaderboard chapter reads.

Each (method, pair, seed) is the cached run of :func:`trained`, so runs that a chapter has
already trained are loaded from the cache, and the file records the training time each
two-stream run took when it was trained (from its history), not the time to load it.
"""
from __future__ import annotations

import datetime
import json
import statistics
from pathlib import Path

import torch

from . import config, da, source_free, train

#: (source, target): a style shift, the same style shift on digits, and a shape shift.
PAIRS = (("fashion", "fashion-m"), ("digits-synth", "digits-synth-m"), ("digits-synth", "digits-hand"))


#: every method of Part IV: the two-stream ones of tlbook.da, then the source-free ones.
METHODS = tuple(da.METHODS) + tuple(source_free.METHODS)


def trained(method: str, source: str, target: str, seed: int):
    """The model ``method`` trains on the pair (cached): :func:`tlbook.da.adapted` for the
    two-stream methods, :func:`tlbook.source_free.adapted` for the source-free ones."""
    if method in source_free.METHODS:
        return source_free.adapted(method, source, target, seed)
    if method in da.METHODS:
        return da.adapted(method, source, target, seed)[0]
    raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}")


def run(pairs=PAIRS, methods=METHODS, seeds=None) -> dict:
    """Train (or load) and evaluate every method on every pair for every seed."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {sorted(METHODS)}")
    seeds = tuple(config.profile().seeds if seeds is None else seeds)
    rows = []
    for source, target in pairs:
        for method in methods:
            for seed in seeds:
                model = trained(method, source, target, seed)
                history = da.adapted(method, source, target, seed)[1] if method in da.METHODS else None
                test = da.domains(source, target, seed)[2]
                rows.append({"source": source, "target": target, "method": method, "seed": seed,
                             "target_acc": train.evaluate(model, test),
                             "train_seconds": history.last("seconds") if history else None})
    name = config.profile_name()
    return {"profile": name, "device": config.device_name(), "torch": torch.__version__,
            "steps": da.STEPS[name], "batch_per_domain": da.BATCH[name],
            "date": datetime.date.today().isoformat(), "rows": rows}


def mean_std(values) -> str:
    """"mean ± std" of accuracies in %, one decimal; the sample std over seeds (0 for one seed)."""
    values = list(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {std:.1f}"


def write(results: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def read(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no leaderboard results at {path}; produce them with "
                                f"`python -m tlbook leaderboard --out {path}`")
    return json.loads(path.read_text())


def table(results: dict) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """{(source, target): {method: (mean %, std %)}} over the seeds."""
    out: dict = {}
    for row in results["rows"]:
        out.setdefault((row["source"], row["target"]), {}).setdefault(row["method"], []).append(
            100 * row["target_acc"])
    return {pair: {m: (statistics.mean(a), statistics.stdev(a) if len(a) > 1 else 0.0) for m, a in ms.items()}
            for pair, ms in out.items()}


def main(out: str | None = None) -> dict:
    results = run()
    path = write(results, out or f"leaderboard-{results['profile']}.json")
    for (source, target), methods in table(results).items():
        print(f"{source} → {target}")
        for method, (mean, std) in sorted(methods.items(), key=lambda kv: -kv[1][0]):
            print(f"  {method:<12} {mean:5.1f} ± {std:4.1f}")
    print(f"results: {path}  ({results['profile']} profile, {results['device']})")
    return results
