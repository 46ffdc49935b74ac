"""tlbook — the helper package of *Transfer Learning, from Math to PyTorch*.

Modules: :mod:`tlbook.config` (profiles, device, seeds, directories), :mod:`tlbook.data`
(every domain through ``load``), :mod:`tlbook.models` (CNNs, EfficientNet-Lite0, heads,
gradient reversal), :mod:`tlbook.train` (fast loops), :mod:`tlbook.finetune` (real freezing,
AdaBN, L2-SP), :mod:`tlbook.features` (cached pretrained features of any domain),
:mod:`tlbook.objectives` (losses several chapters share) and :mod:`tlbook.plot` (figures).
"""
__version__ = "0.1.0"
