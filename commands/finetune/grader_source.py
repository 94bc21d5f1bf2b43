"""A suite's grader as it travels to a training job: python sources inline.

A python grader may name a `source_file` in its suite folder; a fine-tuning job (OpenAI's
RFT, or the Ray cluster's GRPO reward) runs where that folder is not, so the file's text
goes in the spec as `source`, which both schemas accept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def inline_sources(spec: Any, folder: Path) -> Any:
    """A copy of the grader spec with every python `source_file` replaced by its `source`.

    The suite loader already checked that each file exists inside the folder.
    """
    if isinstance(spec, list):
        return [inline_sources(s, folder) for s in spec]
    if not isinstance(spec, dict):
        return spec
    out = {k: inline_sources(v, folder) for k, v in spec.items()}
    if out.get("type") == "python" and isinstance(out.get("source_file"), str):
        out["source"] = (folder / out.pop("source_file")).read_text(encoding="utf-8")
    return out
