"""Domains built from material that ships inside installed packages.

* printed digits rendered from the TrueType fonts bundled with matplotlib;
* photographs bundled with scikit-image and scikit-learn, used as backgrounds for the
  "-M" recipe that turned MNIST into MNIST-M (Ganin et al., 2016): each image is blended
  with a random crop of a colour photograph by taking the absolute difference.

All functions are deterministic given their ``seed``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

SIZE = 32  # every digit-like domain is 3 x 32 x 32 so that any pair can be source and target

# Fonts that render all ten digits legibly (checked by eye; the symbol fonts are left out).
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf", "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf",
    "cmb10.ttf", "cmti10.ttf",
)

# Colour photographs shipped with scikit-image (skimage.data) and scikit-learn.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                  "immunohistochemistry")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")


def font_paths() -> list[Path]:
    """Paths of the bundled fonts used for printed digits."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = [folder / name for name in FONT_FILES]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"matplotlib's bundled fonts {missing} are missing from {folder}; "
                                "reinstall matplotlib (pip install --force-reinstall matplotlib).")
    return paths


def render_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` printed digits, white on black, as uint8 images of shape (n, 32, 32).

    Each image varies the font, size, stroke width, rotation and position, so a classifier
    must learn the digit's shape rather than one font's pixels.
    """
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    fonts = font_paths()
    canvas = 4 * SIZE  # draw large, then downsample: smooth edges without blur artefacts
    labels = rng.integers(0, 10, size=n)
    images = np.empty((n, SIZE, SIZE), dtype=np.uint8)
    font_cache: dict[tuple[int, int], ImageFont.FreeTypeFont] = {}
    for i, digit in enumerate(labels):
        font_id = int(rng.integers(len(fonts)))
        size = int(rng.integers(64, 100))
        key = (font_id, size)
        if key not in font_cache:
            font_cache[key] = ImageFont.truetype(str(fonts[font_id]), size)
        stroke = int(rng.integers(0, 5))
        img = Image.new("L", (canvas, canvas), 0)
        ImageDraw.Draw(img).text((canvas / 2, canvas / 2), str(digit), fill=255, anchor="mm",
                                 font=font_cache[key], stroke_width=stroke, stroke_fill=255)
        angle = float(rng.uniform(-15, 15))
        shift = rng.uniform(-0.08, 0.08, size=2) * canvas
        img = img.rotate(angle, resample=Image.BILINEAR, translate=tuple(shift))
        images[i] = np.asarray(img.resize((SIZE, SIZE), Image.LANCZOS))
    return images, labels.astype(np.int64)


@lru_cache(maxsize=1)
def photographs() -> tuple[np.ndarray, ...]:
    """The bundled colour photographs, as uint8 arrays of shape (H, W, 3)."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    photos = [getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS]
    photos += [load_sample_image(name) for name in SKLEARN_PHOTOS]
    return tuple(np.ascontiguousarray(p[..., :3]) for p in photos)


def blend_with_photos(gray: np.ndarray, seed: int) -> np.ndarray:
    """The MNIST-M recipe: ``|crop - image|`` per colour channel.

    ``gray`` has shape (n, H, W), uint8. Returns (n, 3, H, W), uint8. Bright strokes
    invert the photograph under them, so the shape survives while colour and texture
    change completely: a *style* shift with the same labels.
    """
    rng = np.random.default_rng(seed)
    photos = photographs()
    n, h, w = gray.shape
    which = rng.integers(len(photos), size=n)
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    for k, photo in enumerate(photos):
        # All h x w windows of the photo, as a view: crops are then gathered in one step.
        windows = np.lib.stride_tricks.sliding_window_view(photo, (h, w, 3))[:, :, 0]
        idx = np.flatnonzero(which == k)
        tops = rng.integers(photo.shape[0] - h + 1, size=idx.size)
        lefts = rng.integers(photo.shape[1] - w + 1, size=idx.size)
        crops = windows[tops, lefts].astype(np.int16)
        out[idx] = np.abs(crops - gray[idx, :, :, None].astype(np.int16)).astype(np.uint8)
    return out.transpose(0, 3, 1, 2).copy()


def upsample_handwritten(images_8x8: np.ndarray) -> np.ndarray:
    """scikit-learn's 8x8 digits (values 0..16) to 32x32 uint8, digit in the central 24x24.

    MNIST centres a 20x20 digit in 28x28; we keep the same margin ratio.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images_8x8.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    x = F.interpolate(x, size=(24, 24), mode="bicubic", align_corners=False).clamp(0, 1)
    x = F.pad(x, (4, 4, 4, 4))
    return (x[:, 0] * 255).round().to(torch.uint8).numpy()
