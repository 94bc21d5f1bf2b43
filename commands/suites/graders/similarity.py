"""Text similarity metrics in [0, 1], computed by the libraries OpenAI's grader runtime
ships (rapidfuzz, nltk, rouge-score), never re-implemented here.

- fuzzy_match: `rapidfuzz.fuzz.WRatio(text, reference) / 100`, the fuzzy score of
  OpenAI's graders guide (its python-grader example uses the same call).
- bleu: `nltk.translate.bleu_score.sentence_bleu` against the one reference, uniform
  weights over 1..4-grams, smoothing method 2 (Lin & Och's add-one) so a short answer
  is not zeroed by the 4-grams it cannot have (an exact one-word answer scores 0.595).
- gleu: `nltk.translate.gleu_score.sentence_gleu` (Google-BLEU, 1..4-grams).
- meteor: `nltk.translate.meteor_score.single_meteor_score` with its exact, Porter-stem
  and WordNet-synonym stages; WordNet comes from local files (graders/wordnet.py).
  Without them the synonym stage matches nothing and METEOR is exact + stem only.
- rouge_1..rouge_5, rouge_l: `rouge_score.rouge_scorer` F-measure, its own tokenizer
  (lowercase, runs of a-z0-9; so text in other scripts has no tokens), no stemming.

nltk's metrics take tokens: we split on whitespace. Where a library divides by zero
on empty input it answers 0, and so do we (two empty strings are not "identical
answers" to these metrics).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["LOCAL_METRICS", "bleu", "fuzzy_match", "gleu", "meteor", "rouge_l", "rouge_n"]


def fuzzy_match(text: str, reference: str) -> float:
    """rapidfuzz's WRatio, scaled to [0, 1]."""
    from rapidfuzz import fuzz

    return float(fuzz.WRatio(text, reference)) / 100.0


def _tokens(text: str) -> list[str]:
    return text.split()


def bleu(text: str, reference: str) -> float:
    """nltk sentence BLEU with smoothing method 2."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    hyp, ref = _tokens(text), _tokens(reference)
    if not hyp or not ref:
        return 0.0
    return float(sentence_bleu([ref], hyp, smoothing_function=SmoothingFunction().method2))


def gleu(text: str, reference: str) -> float:
    """nltk sentence GLEU."""
    from nltk.translate.gleu_score import sentence_gleu

    hyp, ref = _tokens(text), _tokens(reference)
    if not hyp or not ref:
        return 0.0
    return float(sentence_gleu([ref], hyp))


class _NoSynonyms:
    """Stands in for WordNet when it is not installed: no word has synsets."""

    def synsets(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


def meteor(text: str, reference: str) -> float:
    """nltk METEOR (exact, stem, WordNet synonyms)."""
    from nltk.translate.meteor_score import single_meteor_score

    from commands.suites.graders.wordnet import load_wordnet

    hyp, ref = _tokens(text), _tokens(reference)
    if not hyp or not ref:
        return 0.0
    wordnet = load_wordnet() or _NoSynonyms()
    return float(single_meteor_score(ref, hyp, wordnet=wordnet))


_ROUGE_TYPES = (*(f"rouge{n}" for n in range(1, 6)), "rougeL")


@functools.cache
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(_ROUGE_TYPES), use_stemmer=False)


def _rouge(kind: str, text: str, reference: str) -> float:
    # score(target, prediction): the reference is the target.
    return float(_rouge_scorer().score(reference, text)[kind].fmeasure)


def rouge_n(text: str, reference: str, n: int) -> float:
    """ROUGE-N F-measure (rouge-score)."""
    return _rouge(f"rouge{n}", text, reference)


def rouge_l(text: str, reference: str) -> float:
    """ROUGE-L F-measure (rouge-score)."""
    return _rouge("rougeL", text, reference)


def _rouge_metric(n: int) -> Callable[[str, str], float]:
    return lambda text, reference: rouge_n(text, reference, n)


# Every metric computed locally; `cosine` needs embeddings and lives in the grader.
LOCAL_METRICS: Mapping[str, Callable[[str, str], float]] = {
    "fuzzy_match": fuzzy_match,
    "bleu": bleu,
    "gleu": gleu,
    "meteor": meteor,
    **{f"rouge_{n}": _rouge_metric(n) for n in range(1, 6)},
    "rouge_l": rouge_l,
}
