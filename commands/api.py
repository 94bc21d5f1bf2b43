"""The JSON API's use cases: what GET /api/* returns, as (status, body)."""

from __future__ import annotations

from typing import Any

from commands.services import Services
from storage import aliases as alias_store
from storage import runs as run_store
from storage.ids import parse_id

Result = tuple[int, dict[str, Any]]


def _not_found(what: str) -> Result:
    return 404, {"error": f"{what} not found"}


async def aliases(services: Services) -> dict[str, Any]:
    """{suite: {alias: model}}; suites without an alias are absent."""
    return await services.db.run(alias_store.all_aliases)


async def suite_aliases(services: Services, suite: str) -> Result:
    """One suite's aliases and their history, newest first."""

    def read(session: Any) -> Result:
        current = alias_store.all_aliases(session=session).get(suite)
        changes = alias_store.history(session=session, suite=suite)
        if current is None and not changes:
            return _not_found(f"suite {suite!r}")
        return 200, {
            "suite": suite,
            "aliases": current or {},
            "history": [
                {
                    "alias": c.alias,
                    "model": c.model,
                    "previous": c.previous,
                    "decided_by": c.decided_by,
                    "proposal": f"p{c.proposal_id}" if c.proposal_id else None,
                    "evidence": c.evidence,
                    "at": c.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for c in changes
            ],
        }

    return await services.db.run(read)


async def run(services: Services, run_text: str) -> Result:
    """GET /api/runs/<run-id>."""
    run_id = parse_id("run", run_text)
    if run_id is None:
        return _not_found(f"run {run_text[:40]!r}")

    def read(session: Any) -> Result:
        found = run_store.get_run(session=session, run_id=run_id)
        if found is None:
            return _not_found(f"run {run_text!r}")
        counts = run_store.tallies(session=session, run_id=run_id, with_latencies=False)
        criteria = run_store.criteria_tallies(session=session, run_id=run_id)
        return 200, run_store.run_as_dict(found, counts, criteria)

    return await services.db.run(read)


async def run_comparison(services: Services, run_text: str) -> Result:
    """GET /api/runs/<run-id>/comparison: each challenger against the first model."""
    from commands.eval import compare

    return await compare.run_comparison_json(services, run_text)


async def compare(services: Services, a: str, b: str) -> Result:
    """GET /api/compare/<run>/<run>: two runs of one suite on the same data."""
    from commands.eval import compare as compare_mod

    return await compare_mod.two_runs_json(services, a, b)
