"""text_similarity: a similarity metric between the rendered `input` and `reference`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from commands.ports import Models
from commands.suites.graders.base import Grade, GradeError, Sample, render_pair
from commands.suites.graders.cpu_pool import score_metric
from commands.suites.graders.similarity import LOCAL_METRICS
from commands.suites.graders.spec import SpecContext

__all__ = ["DEFAULT_EMBEDDING_MODEL", "METRICS", "TextSimilarityGrader", "build_text_similarity"]

# OpenAI computes cosine on text-embedding-3-large embeddings.
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-large"
METRICS = (*LOCAL_METRICS, "cosine")
# `model` is evalbot's addition, for `cosine`: OpenAI picks the embedding model itself.
KEYS = ("type", "name", "input", "reference", "evaluation_metric", "pass_threshold", "model")


def cosine_similarity(a: list[float], b: list[float]) -> float:
    """cos(a, b), 0 when either vector is zero."""
    if len(a) != len(b):
        raise GradeError(f"embeddings of different sizes ({len(a)} and {len(b)})")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@dataclass(frozen=True)
class TextSimilarityGrader:
    """Scores the similarity in [0, 1] (a negative cosine counts as 0)."""

    name: str
    input: str
    reference: str
    metric: str
    model: str = DEFAULT_EMBEDDING_MODEL
    pass_threshold: float | None = None

    async def grade(self, item: dict[str, Any], sample: Sample, models: Models) -> Grade:
        """Render both templates and compute the metric."""
        text, reference = render_pair(self.name, self.input, self.reference, item, sample)
        if self.metric != "cosine":
            # Off the event loop: a thread for short texts (METEOR's first call reads
            # WordNet), worker processes for long ones (seconds of GIL-bound work).
            score = await score_metric(self.metric, text, reference, grader=self.name)
        elif not text.strip() or not reference.strip():
            # The embeddings endpoint refuses empty input; an empty text is like nothing.
            score = 0.0
        else:
            # A ProviderError propagates: the caller reports its kind (rate limit...).
            vectors = await models.embed(self.model, [text, reference])
            if len(vectors) != 2:
                raise GradeError(f"grader {self.name!r}: expected 2 embeddings, got {len(vectors)}")
            score = cosine_similarity(vectors[0], vectors[1])
        score = min(1.0, max(0.0, score))
        return Grade(score, detail=f"{self.metric} {score:.3f}")


def build_text_similarity(
    spec: Mapping[str, Any], where: str, ctx: SpecContext
) -> TextSimilarityGrader | None:
    """Check a text_similarity spec; None (with errors recorded in ctx) when it is invalid."""
    ctx.check_keys(spec, where, KEYS, "a text_similarity grader")
    text = ctx.template(spec, "input", where)
    reference = ctx.template(spec, "reference", where)
    metric = ctx.choice(spec, "evaluation_metric", where, METRICS, "evaluation_metric")
    # OpenAI's schema requires it: a similarity has no natural pass mark.
    threshold = ctx.optional_number(spec, "pass_threshold", where)
    if "pass_threshold" not in spec and not ctx.in_multi:  # a multi's formula decides
        ctx.error(
            f"{where}.pass_threshold",
            "missing: a text_similarity grader needs its pass mark, e.g. pass_threshold: 0.8",
        )
    model = DEFAULT_EMBEDDING_MODEL
    if "model" in spec:
        model = ctx.string(spec, "model", where) or model
        if metric is not None and metric != "cosine":
            ctx.error(f"{where}.model", "only the cosine metric uses a model")
    if text is None or reference is None or metric is None:
        return None
    if threshold is None and not ctx.in_multi:
        return None
    return TextSimilarityGrader(
        str(spec.get("name", "text_similarity")), text, reference, metric, model, threshold
    )
