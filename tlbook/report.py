"""Numbers from the run into the prose.

A chapter never types a result: it computes it, then *glues* it under a name, and the text
inserts it with a MyST role, so the HTML always says what that build measured:

>>> from tlbook.report import glue
>>> gain = glue("dann_gain", 100 * (acc_dann - acc_source))     # returns the value
>>> # in a markdown cell:  DANN gains {glue:text}`dann_gain:.1f` points.

:func:`glue` hands the value to myst-nb (which Jupyter Book uses to build the book); where
myst-nb is absent (Colab, a bare Jupyter), it prints ``name = value`` instead, so the
reader still sees the number.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch


def plain(value):
    """A NumPy or PyTorch scalar as the Python number it holds (``{glue:text}`` formats
    Python numbers only: ``np.float64(0.5)`` would not take ``:.1f``); other values pass."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def glue(name: str, value, display: bool = False):
    """Record ``value`` under ``name`` for ``{glue:text}`name:fmt``` in the notebook's text;
    returns the value (as a plain Python number when it is a scalar)."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"glue name {name!r}: use letters, digits, '_' and '-' only")
    value = plain(value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab or a bare Jupyter: show the number instead of recording it
        print(f"{name} = {value}")
        return value
    myst_glue(name, value, display=display)
    return value
