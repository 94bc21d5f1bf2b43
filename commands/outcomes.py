"""What follows when something ends: the one place that knows.

- A run ends: its summary and failing samples are posted (commands.eval.announce), then,
  once, what its origin asks for: a comparison (and maybe a proposal) for a multi-model
  run typed in Slack, a release alert for a watch's run, a drift alarm, a fine-tune's
  comparison with its base in the job's thread.
- A fine-tuning job ends: a succeeded job is evaluated against its base at once.
- A fine-tune's approval gate is decided: the job is submitted, or shown rejected.

Each step of a run's announcement is recorded in storage.notices once it succeeded
(commands.steps): a step Slack refuses for now is retried with the run, one refused for
good is told to the channel, and a step done is never done again.
Command families never import each other: they reach this module through the
`Outcomes` port (commands.services), and this module calls into them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from commands.approvals import approvers_for
from commands.eval import compare
from commands.eval.announce import announce, restate
from commands.finetune import on_gate_decided
from commands.finetune.jobs import evaluate
from commands.finetune.jobs import show as show_job
from commands.headline import Reference, lead_of, next_step, verdict_line
from commands.origins import Cli, Drift, FineTune, Origin, Release, Slack, origin_of
from commands.ports import ChatError, Posted
from commands.promote import NoEvidence, propose
from commands.reports import Code, Title, Verdict
from commands.services import Ports, Services
from commands.steps import Steps
from commands.verdicts import proposal_candidate
from storage import aliases as alias_store
from storage import finetunes as finetune_store
from storage import proposals as proposal_store
from storage import runs as run_store
from storage.tables import EvalRun, FineTuneJob, Proposal

log = logging.getLogger(__name__)


class RunOutcomes:
    """The implementation of commands.services.Outcomes that the composition root wires."""

    async def run_finished(self, ports: Ports, run: EvalRun) -> Posted | None:
        """Announce a terminal run, then what its origin asks for, step by step.

        A step Slack refuses for now leaves the run unannounced: the resume job and the
        next start-up call this again, and only the steps not yet done are tried
        (commands.steps). The run is marked announced once every step is done or was
        refused for good (the channel told what to do).
        """
        run_id = run.id or 0
        steps = Steps(ports, f"run:{run_id}")
        where = await announce(ports, run, steps)
        if run.status == "finished":
            await self._follow_up(ports, run, origin_of(run), where, steps)
        if steps.complete:
            await ports.db.run(run_store.mark_announced, run_id=run_id)
        else:
            log.info("r%s: %s left to post; retried later", run_id, ", ".join(steps.retry_later))
        return where

    async def _follow_up(
        self, ports: Ports, run: EvalRun, origin: Origin, where: Posted | None, steps: Steps
    ) -> None:
        match origin:
            case Release() | FineTune():
                if where is not None:
                    await release_report(ports, run, origin, where, steps)
            case Drift():
                await steps.run("drift", lambda: drift_report(ports, run, origin))
            case Slack():
                if where is not None and len(run.models) > 1:
                    production = await ports.db.run(alias_store.get_alias, suite=run.suite)
                    comparison, best_is_base = await compare.for_run_in_slack(
                        ports, run, production
                    )
                    await compare.post_report(
                        ports, comparison, where, ("Comparison r" + str(run.id),), steps
                    )
                    made = await _propose_step(ports, steps, comparison, where, True, run)
                    kind: Reference = "next best" if best_is_base else "production"
                    verdict = _lead(
                        ports,
                        comparison,
                        best_is_base,
                        kind,
                        made.proposal,
                        "production" if kind == "production" else "the next best",
                    )
                    if verdict is not None and made.known:
                        lead = verdict
                        await steps.run("verdict", lambda: restate(ports, run, where, lead))
            case Cli():
                # The terminal has the summary and the failing samples; a run of several
                # models gets its paired comparison too, the first model named as the
                # baseline (a pipeline decides the order). No proposal: nobody in a
                # terminal approves one.
                if where is not None and len(run.models) > 1:
                    comparison = await compare.for_run(ports, run)
                    title = ("Comparison r" + str(run.id),)
                    await compare.post_report(ports, comparison, where, title, steps)

    async def gate_decided(self, ports: Ports, proposal: Proposal) -> None:
        """A costly fine-tune's gate: approved jobs are submitted, the rest shown closed."""
        await on_gate_decided(ports, proposal)

    async def finetune_finished(self, services: Services, job: FineTuneJob) -> None:
        """A job that produced a model is evaluated against its base."""
        if job.serving_name or job.fine_tuned_model:
            await evaluate(services, job)


@dataclass
class _Made:
    """What the proposal step did: `known` is False when it is not done (Slack refused it
    for now, to be retried with the run), so no verdict line claims what it made."""

    known: bool = False
    proposal: Proposal | None = None


async def _propose_step(
    ports: Ports,
    steps: Steps,
    c: compare.Comparison,
    where: Posted,
    over_production: bool,
    run: EvalRun,
) -> _Made:
    made = _Made()

    async def step() -> None:
        made.proposal = await propose_if_better(ports, c, where, over_production=over_production)
        made.known = True

    done = await steps.run("proposal", step)
    if done and not made.known:
        # An earlier attempt (before a restart) made the proposal, or found none to make:
        # what it made is stored, so the verdict can still be restated with it.
        made.proposal = await ports.db.run(
            proposal_store.proposed_from_run, suite=run.suite, run=f"r{run.id}"
        )
        made.known = True
    return made


def _lead(
    ports: Ports,
    c: compare.Comparison,
    best_is_base: bool,
    kind: Reference,
    proposal: Proposal | None,
    reference_is: str,
    prefix: Title = (),
) -> Verdict | None:
    """The lead line of a comparison that has just been reported (commands.headline)."""
    lead = lead_of(c, best_is_baseline=best_is_base)
    if lead is None:
        return None
    leader, reference, numbers = lead
    follow = next_step(
        numbers,
        proposal=proposal.id if proposal is not None else None,
        reference_kind=kind,
        has_approvers=bool(approvers_for(ports, c.suite)),
    )
    return verdict_line(
        leader, reference, numbers, reference_is=reference_is, follow=follow, prefix=prefix
    )


async def propose_if_better(
    ports: Ports, c: compare.Comparison, where: Posted, *, over_production: bool
) -> Proposal | None:
    """Propose the best significantly better challenger (commands.verdicts decides)."""
    production = await ports.db.run(alias_store.get_alias, suite=c.suite)
    best = proposal_candidate(
        c,
        production=production,
        over_production=over_production,
        has_approvers=bool(approvers_for(ports, c.suite)),
    )
    if best is None:
        return None
    # A sampled run (limit=) or one on older data is no evidence: nothing is proposed.
    try:
        return await propose(
            ports,
            suite=c.suite,
            model=best,
            proposer=None,
            channel=where.channel,
            thread_ts=where.ts,
        )
    except NoEvidence:
        return None


async def release_report(
    ports: Ports, run: EvalRun, origin: Release | FineTune, where: Posted, steps: Steps
) -> None:
    """The new model against production (or the best recent model), chart and proposal."""
    finetune = isinstance(origin, FineTune)
    title: Title = (
        ("Fine-tuned ", Code(origin.new)) if finetune else ("Release alert: ", Code(origin.new))
    )
    run_message = where
    if isinstance(origin, FineTune) and origin.channel and origin.thread:
        where = Posted(origin.channel, origin.thread)  # the job's thread
    comparison = None
    if origin.base_run:
        base = await ports.db.run(run_store.get_run, run_id=origin.base_run)
        if base is not None:
            try:
                comparison = await compare.for_two_runs(ports, base, run, baseline=origin.baseline)
            except compare.CompareRefused as exc:
                log.warning("release comparison refused: %s", exc)
    elif len(run.models) > 1:
        comparison = await compare.for_run(ports, run)
    if comparison is None:
        note = (
            "no production model or earlier run to compare with: the new model's "
            "results stand alone above."
        )
        line = ports.presenter.line(("*", *title, "* on ", Code(run.suite), f" — {note}"))
        await steps.run("note", lambda: ports.chat.post(where.channel, line, thread_ts=where.ts))
        return
    basis = "base model" if finetune else getattr(origin, "basis", "production")
    await compare.post_report(
        ports,
        comparison,
        where,
        (*title, " vs ", Code(comparison.baseline.model), f" ({basis})"),
        steps,
    )
    made = await _propose_step(ports, steps, comparison, where, not finetune, run)
    if isinstance(origin, FineTune):
        prefix: Title = (f":sparkles: *Fine-tune f{origin.job}*: " if origin.job else "",)
        kind: Reference = "base"
        reference_is = "the base model"
    else:
        watch = f"watch w{origin.watch}" if origin.watch else "a watch"
        prefix = (f":rocket: *Release alert* ({watch}): ",)
        kind = "production" if basis == "production" else "baseline"
        reference_is = "production" if basis == "production" else "the best recent model"
    verdict = _lead(ports, comparison, False, kind, made.proposal, reference_is, prefix)
    if verdict is None or not made.known:
        return
    lead = verdict
    await steps.run("verdict", lambda: restate(ports, run, run_message, lead))
    if isinstance(origin, FineTune) and origin.job:
        job_id = origin.job

        async def on_job_message() -> None:
            # The job's own message ends with the verdict against its base model.
            job = await ports.db.run(finetune_store.get_job, job_id=job_id)
            if job is not None:
                await show_job(ports, job, "\n" + ports.presenter.verdict(lead))

        await steps.run("job-verdict", on_job_message)


async def drift_report(ports: Ports, run: EvalRun, origin: Drift) -> None:
    """Alert the watch's channel only when the production model dropped significantly."""
    if not origin.previous_run or not origin.channel:
        return
    previous = await ports.db.run(run_store.get_run, run_id=origin.previous_run)
    if previous is None:
        return
    try:
        comparison = await compare.for_two_runs(ports, previous, run, baseline=origin.model)
    except compare.CompareRefused as exc:
        log.info("drift check skipped: %s", exc)
        return
    _, diff = comparison.challengers[0]
    log.info("drift of %s on %s: %s", origin.model, run.suite, diff.verdict)
    if diff.verdict != "worse":
        return
    try:
        posted = await ports.chat.post(
            origin.channel,
            ports.presenter.line(
                (
                    ":chart_with_downwards_trend: *Drift*: ",
                    Code(origin.model),
                    " on ",
                    Code(run.suite),
                    f" dropped {diff.diff_pp:+.1f} pp since r{previous.id} (r{run.id}, p = "
                    f"{diff.p_value:.3g}, {diff.regressed} samples regressed).",
                )
            ),
        )
    except ChatError as exc:
        log.warning("drift alert failed: %s", exc.code)
        return
    await compare.post_report(
        ports,
        comparison,
        posted,
        ("Drift of ", Code(origin.model), f": r{previous.id} vs r{run.id}"),
    )
