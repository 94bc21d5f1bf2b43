"""The text_similarity metrics agree with the libraries OpenAI's grader runtime ships.

Each metric is computed by evalbot (commands/suites/graders/similarity.py) and by the
library called here directly, as its documentation shows, on a shared corpus of 50+
pairs (unicode, CJK, punctuation-only, empty); they must agree to 1e-9. Pinned values
guard against both sides drifting together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.translate.gleu_score import sentence_gleu
from nltk.translate.meteor_score import single_meteor_score
from rapidfuzz import fuzz
from rouge_score import rouge_scorer

from commands.suites.graders.similarity import LOCAL_METRICS
from commands.suites.graders.wordnet import load_wordnet

CORPUS_FILE = Path(__file__).parents[1] / "data" / "metric_corpus.jsonl"
CORPUS = [json.loads(line) for line in CORPUS_FILE.read_text(encoding="utf-8").splitlines()]
SCORER = rouge_scorer.RougeScorer(
    ["rouge1", "rouge2", "rouge3", "rouge4", "rouge5", "rougeL"], use_stemmer=False
)


class NoSynonyms:
    def synsets(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


def reference(metric: str, text: str, ref: str) -> float:
    """The library's own answer; 0 where it divides by zero on empty token lists."""
    hyp_tokens, ref_tokens = text.split(), ref.split()
    if metric == "fuzzy_match":
        return fuzz.WRatio(text, ref) / 100
    if metric.startswith("rouge_"):
        kind = "rougeL" if metric == "rouge_l" else "rouge" + metric[-1]
        return SCORER.score(ref, text)[kind].fmeasure
    if not hyp_tokens or not ref_tokens:
        return 0.0
    if metric == "bleu":
        smooth = SmoothingFunction().method2
        return sentence_bleu([ref_tokens], hyp_tokens, smoothing_function=smooth)
    if metric == "gleu":
        return sentence_gleu([ref_tokens], hyp_tokens)
    assert metric == "meteor"
    return single_meteor_score(ref_tokens, hyp_tokens, wordnet=load_wordnet() or NoSynonyms())


def test_the_corpus_is_broad() -> None:
    assert len(CORPUS) >= 50
    texts = [p["text"] + p["reference"] for p in CORPUS]
    assert any(not t for t in texts)  # empty
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts)  # CJK
    assert any(t and not any(ch.isalnum() for ch in t) for t in texts)  # punctuation only


@pytest.mark.parametrize("metric", sorted(LOCAL_METRICS))
def test_metric_agrees_with_its_library_on_the_corpus(metric: str) -> None:
    for pair in CORPUS:
        ours = LOCAL_METRICS[metric](pair["text"], pair["reference"])
        theirs = reference(metric, pair["text"], pair["reference"])
        assert abs(ours - theirs) <= 1e-9, (metric, pair, ours, theirs)
        assert 0.0 <= ours <= 1.0


@pytest.mark.parametrize(
    ("metric", "text", "ref", "expected"),
    [
        # Values the issue quotes, and edge cases the hand-written metrics got wrong.
        ("bleu", "Paris", "Paris", 0.5**0.75),  # nltk, smoothing method 2: 0.595
        ("meteor", "the cat", "the dog the cat", 0.4934210526315789),
        ("rouge_l", "!!!", "???", 0.0),  # no word characters: no tokens
        ("rouge_1", "东京", "东京", 0.0),  # rouge-score's tokenizer keeps a-z0-9 only
        ("fuzzy_match", "", "", 0.0),
        ("bleu", "", "", 0.0),
        ("gleu", "", "", 0.0),
        ("meteor", "", "", 0.0),
        ("rouge_l", "", "", 0.0),
        ("fuzzy_match", "billing", "billing", 1.0),
        ("rouge_l", "cat the sat", "the cat sat", 2 / 3),
    ],
)
def test_pinned_values(metric: str, text: str, ref: str, expected: float) -> None:
    assert LOCAL_METRICS[metric](text, ref) == pytest.approx(expected, abs=1e-12)


def test_meteor_matches_synonyms_through_wordnet() -> None:
    # Loaded here, not in a skipif: reading WordNet takes seconds, which every test
    # worker would pay at collection.
    if load_wordnet() is None:
        pytest.skip("WordNet not installed (make wordnet)")
    # sick/ill share a synset: without WordNet only "he is" matches (0.625).
    assert LOCAL_METRICS["meteor"]("he is sick", "he is ill") == pytest.approx(0.98148148148)
    assert single_meteor_score(["he", "is", "ill"], ["he", "is", "sick"], wordnet=NoSynonyms()) == (
        pytest.approx(0.625)
    )
