"""Execution profiles, device, seeding and directories.

Every size a notebook uses comes from the active *profile*, so one notebook serves
continuous integration (``smoke``), a laptop (``cpu``) and a GPU (``gpu``):

>>> from tlbook import config
>>> cfg = config.profile()          # chosen by TLBOOK_PROFILE, else detected
>>> cfg.name, cfg.seeds

``TLBOOK_SEED_OFFSET`` (default 0) shifts every experiment seed — the profile's ``seeds`` and
:func:`seed` — so that a claim can be checked on another trajectory: a check that holds for one
seed only fails under another offset. The domains themselves never depend on it.
"""
from __future__ import annotations

import os
import platform
import random
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True)
class Profile:
    """Sizes for one execution profile; chapters scale their experiments from these."""

    name: str
    seeds: tuple[int, ...]  # how many repetitions an experiment averages over
    train_size: int         # labelled training examples taken from a domain
    test_size: int          # test examples used for evaluation
    epochs: int             # passes over the training data
    batch_size: int
    image_size: int         # input size fed to the ImageNet backbone
    progress: bool          # show progress bars (off in CI so that logs stay readable)


PROFILES = {
    # CI on a 2-core CPU: every notebook must finish in about a minute.
    "smoke": Profile("smoke", seeds=(0,), train_size=2000, test_size=1000, epochs=2,
                     batch_size=128, image_size=64, progress=False),
    # A laptop: a notebook in a few minutes, the numbers the text discusses.
    "cpu": Profile("cpu", seeds=(0, 1, 2), train_size=10000, test_size=2000, epochs=6,
                   batch_size=128, image_size=64, progress=True),
    # A GPU: full-size experiments.
    "gpu": Profile("gpu", seeds=(0, 1, 2, 3, 4), train_size=60000, test_size=10000, epochs=20,
                   batch_size=256, image_size=224, progress=True),
}


def profile_name() -> str:
    """The active profile: ``TLBOOK_PROFILE`` if set, else ``gpu`` with CUDA, else ``cpu``."""
    name = os.environ.get("TLBOOK_PROFILE", "").strip().lower()
    if not name:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if name not in PROFILES:
        raise ValueError(
            f"TLBOOK_PROFILE={name!r} is not a profile; use one of {sorted(PROFILES)} "
            "(or unset it to detect the profile from the hardware)."
        )
    return name


def seed_offset() -> int:
    """``TLBOOK_SEED_OFFSET`` (default 0): added to every experiment seed."""
    raw = os.environ.get("TLBOOK_SEED_OFFSET", "").strip()
    if not raw:
        return 0
    try:
        offset = int(raw)
    except ValueError:
        offset = -1
    if offset < 0:
        raise ValueError(f"TLBOOK_SEED_OFFSET={raw!r} is not a non-negative integer; "
                         "use e.g. TLBOOK_SEED_OFFSET=1, or unset it for the book's own seeds.")
    return offset


def seed(k: int = 0) -> int:
    """The ``k``-th experiment seed: ``k`` shifted by ``TLBOOK_SEED_OFFSET``. Use it wherever a
    notebook would write a literal seed for training, subsampling or initialisation."""
    return k + seed_offset()


def profile(name: str | None = None) -> Profile:
    """The :class:`Profile` called ``name``, or the active one; its ``seeds`` are shifted by
    ``TLBOOK_SEED_OFFSET``."""
    name = name or profile_name()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known profiles: {sorted(PROFILES)}")
    base = PROFILES[name]
    return replace(base, seeds=tuple(seed(s) for s in base.seeds))


DEVICE_TYPES = ("cpu", "cuda", "mps")


def device() -> torch.device:
    """The fastest device here: CUDA, then Apple's MPS, then the CPU.

    ``TLBOOK_DEVICE`` overrides the choice (e.g. ``TLBOOK_DEVICE=cpu``); a device this machine
    does not have is refused with the fix, before any tensor meets it.
    """
    forced = os.environ.get("TLBOOK_DEVICE", "").strip()
    if forced:
        return _validated_device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def _validated_device(spec: str) -> torch.device:
    try:
        dev = torch.device(spec)
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in DEVICE_TYPES:
        raise ValueError(f"TLBOOK_DEVICE={spec!r} is not a device; use one of {', '.join(DEVICE_TYPES)} "
                         "(e.g. cuda:1), or unset it to pick the fastest device here.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"TLBOOK_DEVICE={spec!r} but PyTorch sees no CUDA device on this machine (no GPU, "
                         "no driver, or a CPU-only build of torch); set TLBOOK_DEVICE=cpu or unset it.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"TLBOOK_DEVICE={spec!r} but this machine has {torch.cuda.device_count()} CUDA "
                         "device(s), numbered from 0; pick one of them or unset TLBOOK_DEVICE.")
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"TLBOOK_DEVICE={spec!r} but Apple's MPS backend is not available here; "
                         "set TLBOOK_DEVICE=cpu or unset it.")
    return dev


def device_name(dev: torch.device | None = None) -> str:
    """A name for reports: the GPU's model, or the CPU with its thread count."""
    dev = dev or device()
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"{dev.type}: {_cpu_model()} ({torch.get_num_threads()} threads)"


def _cpu_model() -> str:
    """The processor's model name where the system says it (Linux), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() or "unknown CPU"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a CPU generator seeded the same way.

    Use the returned generator where a result must not depend on what ran before
    (shuffling, subsampling), since the global generators are shared by every cell.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cache_dir() -> Path:
    """Where built datasets and trained models are cached (``TLBOOK_CACHE``)."""
    path = Path(os.environ.get("TLBOOK_CACHE", Path.home() / ".cache" / "tlbook")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Where real benchmark files live or are downloaded to (``TLBOOK_DATA``)."""
    return Path(os.environ.get("TLBOOK_DATA", cache_dir() / "data")).expanduser()


def save_atomic(obj, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename it into place:
    a crash or a full disk never leaves half a file where a cache or checkpoint should be."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_cached(path: Path, map_location=None):
    """``torch.load`` a cache file or checkpoint with ``weights_only=True``; an unreadable file
    (truncated, foreign, from an incompatible version) raises an error that says to delete it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # never guess around a damaged file
        raise RuntimeError(f"the cached file {path} is unreadable ({err}); delete it and run "
                           "again to rebuild it.") from err
