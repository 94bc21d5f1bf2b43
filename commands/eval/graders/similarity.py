"""Text similarity metrics in [0, 1], implemented here without NLP dependencies.

- fuzzy_match: the normalised Indel similarity of the two strings, characters
  compared as they are: 2 * LCS / (len(a) + len(b)). This is what
  `rapidfuzz.fuzz.ratio(a, b) / 100` and `difflib.SequenceMatcher.ratio()` aim at
  (difflib's heuristic can miss the longest common subsequence; this does not).
- bleu: sentence BLEU, n-grams 1..4, uniform weights, brevity penalty, with the
  add-one smoothing of Lin & Och (2004) for n >= 2 so a short answer is not zeroed
  by a missing 4-gram.
- gleu: Google-BLEU (Wu et al. 2016): min(precision, recall) over all 1..4-grams.
- meteor: METEOR (Banerjee & Lavie 2005) with exact word matching only: the
  stemming and WordNet-synonym stages of nltk's version are left out, so
  paraphrases score lower than there. Fmean = 10PR / (R + 9P), penalty
  0.5 * (chunks / matches) ** 3.
- rouge_1..rouge_5: ROUGE-N F1 over word n-grams; rouge_l: ROUGE-L F1 over the
  longest common word subsequence.

Word metrics lowercase the text; BLEU, GLEU and METEOR keep punctuation marks as
tokens, ROUGE drops them (as the rouge_score package does). When both texts are
empty every metric is 1; when only one is, 0.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence

__all__ = [
    "LOCAL_METRICS",
    "bleu",
    "fuzzy_match",
    "gleu",
    "lcs_length",
    "meteor",
    "rouge_l",
    "rouge_n",
]

_WORDS_AND_MARKS = re.compile(r"\w+|[^\w\s]")
_WORDS = re.compile(r"\w+")


def _mt_tokens(text: str) -> list[str]:
    return _WORDS_AND_MARKS.findall(text.lower())


def _rouge_tokens(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence, bit-parallel (Allison-Dix / Hyyrö).

    One big-int operation per element of `a`, so long texts stay fast in Python.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[Hashable, int] = {}
    for index, element in enumerate(b):
        masks[element] = masks.get(element, 0) | (1 << index)
    full = (1 << len(b)) - 1
    row = full
    for element in a:
        matches = row & masks.get(element, 0)
        row = ((row + matches) | (row - matches)) & full
    # Each zero bit left in `row` is one element of the common subsequence.
    return len(b) - row.bit_count()


def _both_empty(a: Sequence[object], b: Sequence[object]) -> float | None:
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    return None


def fuzzy_match(text: str, reference: str) -> float:
    """2 * LCS(chars) / (len(text) + len(reference)); e.g. kitten/sitting = 8/13."""
    empty = _both_empty(text, reference)
    if empty is not None:
        return empty
    return 2 * lcs_length(text, reference) / (len(text) + len(reference))


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _clipped_matches(hyp: Sequence[str], ref: Sequence[str], n: int) -> tuple[int, int, int]:
    """(clipped matches, hypothesis n-grams, reference n-grams) for order n."""
    h, r = _ngrams(hyp, n), _ngrams(ref, n)
    return sum((h & r).values()), sum(h.values()), sum(r.values())


def bleu(text: str, reference: str, max_n: int = 4) -> float:
    """Smoothed sentence BLEU of `text` against one reference."""
    hyp, ref = _mt_tokens(text), _mt_tokens(reference)
    empty = _both_empty(hyp, ref)
    if empty is not None:
        return empty
    log_sum = 0.0
    for n in range(1, max_n + 1):
        matches, total, _ = _clipped_matches(hyp, ref, n)
        if n > 1:  # Lin & Och: add one to both counts for the higher orders
            matches, total = matches + 1, total + 1
        if matches == 0:
            return 0.0
        log_sum += math.log(matches / total) / max_n
    brevity = 1.0 if len(hyp) > len(ref) else math.exp(1 - len(ref) / len(hyp))
    return brevity * math.exp(log_sum)


def gleu(text: str, reference: str, max_n: int = 4) -> float:
    """Sentence GLEU: min(precision, recall) over all n-grams of orders 1..max_n."""
    hyp, ref = _mt_tokens(text), _mt_tokens(reference)
    empty = _both_empty(hyp, ref)
    if empty is not None:
        return empty
    matches = hyp_total = ref_total = 0
    for n in range(1, max_n + 1):
        m, h, r = _clipped_matches(hyp, ref, n)
        matches, hyp_total, ref_total = matches + m, hyp_total + h, ref_total + r
    return min(matches / hyp_total, matches / ref_total)


def _align(hyp: Sequence[str], ref: Sequence[str]) -> list[tuple[int, int]]:
    """Exact-match alignment: each hypothesis word takes the first free equal word."""
    used: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for i, word in enumerate(hyp):
        for j, other in enumerate(ref):
            if j not in used and other == word:
                used.add(j)
                pairs.append((i, j))
                break
    return pairs


def meteor(text: str, reference: str) -> float:
    """METEOR with exact matching (see the module docstring)."""
    hyp, ref = _mt_tokens(text), _mt_tokens(reference)
    empty = _both_empty(hyp, ref)
    if empty is not None:
        return empty
    pairs = _align(hyp, ref)
    if not pairs:
        return 0.0
    matches = len(pairs)
    precision, recall = matches / len(hyp), matches / len(ref)
    fmean = 10 * precision * recall / (recall + 9 * precision)
    # A chunk is a run of matches adjacent in both texts.
    chunks = 1 + sum(
        1
        for (i0, j0), (i1, j1) in zip(pairs, pairs[1:], strict=False)
        if (i1, j1) != (i0 + 1, j0 + 1)
    )
    penalty = 0.5 * (chunks / matches) ** 3
    return fmean * (1 - penalty)


def _f1(overlap: int, hyp_total: int, ref_total: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / hyp_total, overlap / ref_total
    return 2 * precision * recall / (precision + recall)


def rouge_n(text: str, reference: str, n: int) -> float:
    """ROUGE-N F1 over word n-grams."""
    hyp, ref = _rouge_tokens(text), _rouge_tokens(reference)
    empty = _both_empty(hyp, ref)
    if empty is not None:
        return empty
    overlap, hyp_total, ref_total = _clipped_matches(hyp, ref, n)
    if hyp_total == 0 or ref_total == 0:
        return 0.0
    return _f1(overlap, hyp_total, ref_total)


def rouge_l(text: str, reference: str) -> float:
    """ROUGE-L F1 over the longest common word subsequence."""
    hyp, ref = _rouge_tokens(text), _rouge_tokens(reference)
    empty = _both_empty(hyp, ref)
    if empty is not None:
        return empty
    return _f1(lcs_length(hyp, ref), len(hyp), len(ref))


def _rouge(n: int) -> Callable[[str, str], float]:
    return lambda text, reference: rouge_n(text, reference, n)


# Every metric computed locally; `cosine` needs embeddings and lives in the grader.
LOCAL_METRICS: Mapping[str, Callable[[str, str], float]] = {
    "fuzzy_match": fuzzy_match,
    "bleu": bleu,
    "gleu": gleu,
    "meteor": meteor,
    **{f"rouge_{n}": _rouge(n) for n in range(1, 6)},
    "rouge_l": rouge_l,
}
