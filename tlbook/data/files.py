"""Domains read from files: Fashion-MNIST, the online digit benchmarks, image folders.

Each reader either returns arrays or raises :class:`DatasetUnavailable` saying what is
missing and how to get it. Nothing here waits on a network that is not there: a
download is attempted only after a three-second reachability check.
"""
from __future__ import annotations

import gzip
import socket
from pathlib import Path

import numpy as np

from .. import config


class DatasetUnavailable(RuntimeError):
    """A known domain whose files are not here and cannot be fetched now."""


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def online(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """True when ``host`` answers within ``timeout`` seconds."""
    try:
        socket.setdefaulttimeout(timeout)
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
    finally:
        socket.setdefaulttimeout(None)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_folder() -> Path:
    """The first folder holding Fashion-MNIST: ``$TLBOOK_DATA/fashion-mnist``, then Debian's."""
    candidates = [config.data_dir() / "fashion-mnist", DEBIAN_FASHION]
    for folder in candidates:
        if all((folder / f).exists() for pair in FASHION_FILES.values() for f in pair):
            return folder
    target = candidates[0]
    if online("github.com"):
        import torchvision

        torchvision.datasets.FashionMNIST(str(target.parent / "fashion-mnist-torchvision"),
                                          download=True)
        raw = target.parent / "fashion-mnist-torchvision" / "FashionMNIST" / "raw"
        target.mkdir(parents=True, exist_ok=True)
        for pair in FASHION_FILES.values():
            for name in pair:
                (target / name).write_bytes(gzip.compress((raw / name[:-3]).read_bytes()))
        return target
    raise DatasetUnavailable(
        "Fashion-MNIST was not found in "
        + " or ".join(str(c) for c in candidates)
        + " and there is no network to download it. Install it with "
        "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or copy the four "
        f"*-ubyte.gz files of https://github.com/zalandoresearch/fashion-mnist into {target}."
    )


def read_fashion() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder = fashion_folder()
    return {split: (read_idx(folder / im), read_idx(folder / lb).astype(np.int64))
            for split, (im, lb) in FASHION_FILES.items()}


# The online benchmarks: torchvision class, the host it downloads from, how to get it by hand.
TORCHVISION = {
    "mnist": ("MNIST", "ossci-datasets.s3.amazonaws.com",
              "the folder MNIST/raw that torchvision.datasets.MNIST(root, download=True) writes"),
    "usps": ("USPS", "www.csie.ntu.edu.tw",
             "usps.bz2 and usps.t.bz2 from the LIBSVM data sets page (multi-class, usps)"),
    "svhn": ("SVHN", "ufldl.stanford.edu",
             "train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/"),
}


def read_torchvision(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST, USPS or SVHN through torchvision, from ``$TLBOOK_DATA/<name>`` or downloaded."""
    import torchvision.datasets as tvd

    cls_name, host, by_hand = TORCHVISION[name]
    cls = getattr(tvd, cls_name)
    root = config.data_dir() / name
    out = {}
    for split in ("train", "test"):
        kwargs = {"split": split} if name == "svhn" else {"train": split == "train"}
        try:
            ds = cls(str(root), download=False, **kwargs)
        except (RuntimeError, OSError):  # torchvision's "not found" differs by dataset
            if not online(host):
                raise DatasetUnavailable(
                    f"{name} is not in {root} and {host} cannot be reached (no network). "
                    f"Get {by_hand}, put it under {root} (TLBOOK_DATA={config.data_dir()}), "
                    "or run once where there is internet."
                ) from None
            ds = cls(str(root), download=True, **kwargs)
        if name == "svhn":
            images, labels = np.asarray(ds.data), np.asarray(ds.labels) % 10  # SVHN labels 0 as 10
        else:
            images, labels = np.asarray(ds.data), np.asarray(ds.targets)
        out[split] = (images, labels.astype(np.int64))
    return out


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def read_image_folder(root: str | Path, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """An ImageFolder tree (``root/<class>/<image>``), e.g. one Office-31 or PACS domain.

    Every image is resized to ``size`` x ``size`` RGB. Returns images (n, 3, size, size),
    labels and the sorted class names.
    """
    from PIL import Image

    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetUnavailable(
            f"image folder {root} does not exist. Download the benchmark (e.g. Office-31, "
            "Office-Home or PACS) and pass the folder of one domain, laid out as "
            "<root>/<class name>/<image file>."
        )
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    files = [(p, c) for c, name in enumerate(classes)
             for p in sorted((root / name).rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DatasetUnavailable(f"no images found under {root}; expected <root>/<class>/<image>.")
    images = np.empty((len(files), 3, size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(files):
        try:
            with Image.open(path) as im:
                images[i] = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR)).transpose(2, 0, 1)
        except (OSError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
            raise DatasetUnavailable(
                f"cannot read the image {path} ({type(err).__name__}: {err}); {i} of {len(files)} images "
                f"under {root} were read before it. Remove or replace the file (a truncated download, "
                "or a file that is not an image) and load the folder again.") from err
    labels = np.array([c for _, c in files], dtype=np.int64)
    return images, labels, classes
