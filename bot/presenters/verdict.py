"""The lead line of a report: who leads, against what, how sure, and what follows.

"`gpt-5.1-mini` 100.0% vs production `gpt-5-mini` 91.7%: +8.3 pp, p=0.25, not significant
at this size → no proposal (about 120 samples would show a 5-point gap)"
"""

from __future__ import annotations

from bot.presenters.mrkdwn import Style
from commands.formats import pct
from commands.headline import GAP, p_text
from commands.reports import Verdict

_WORDS = {"better": "better", "worse": "worse"}


def line(s: Style, v: Verdict) -> str:
    """One line a person can act on; the details stay in the thread."""
    said = _WORDS.get(v.verdict, "not significant at this size")
    if v.verdict in _WORDS:
        said = s.bold(said)
    hint = (
        f" (about {v.samples_for_gap:,} samples would show a {GAP * 100:.0f}-point gap)"
        if v.samples_for_gap is not None
        else ""
    )
    prefix = s.title(v.prefix) if v.prefix else ""
    return (
        f"{prefix}{s.code(v.challenger)} {pct(v.challenger_rate)} vs {s.esc(v.reference_is)} "
        f"{s.code(v.reference)} {pct(v.reference_rate)}: {v.diff_pp:+.1f} pp, "
        f"{p_text(v.p_value)}, {said} → {s.esc(v.follow)}{hint}"
    )
