"""`/finetune`: SFT, DPO and RFT jobs from a suite's data, followed live and evaluated.

The handler validates the words; the work builds and validates the training data before
anything is uploaded, shows the token count and the cost estimate, waits for an
approval by reaction when the estimate is over the limit, and submits the job once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from commands.approvals import APPROVE, REJECT, approvers_for, needs_gate
from commands.budget import over_budget
from commands.finetune import estimates, jobs, sources
from commands.finetune.render import job_text
from commands.finetune.validation import DataError, Method
from commands.formats import clip, money
from commands.grammar import Parsed, bool_option, float_option, int_option
from commands.model_shapes import check_model_name
from commands.permissions import check_start, check_stop, refused_at_once
from commands.ports import BackendUnavailable, ChatError, EstimatesCost, Posted, ProviderError
from commands.registry import Family, Invocation, Started, UsageError, UserFacingError, id_arg
from commands.reports import Code, Prose, Title
from commands.scope import elsewhere_note, samples_visible
from commands.services import Ports, Services
from commands.suites.graders.openai_schema import RftGraderRefused, suite_rft_grader
from commands.suites.suite import Suite
from storage import finetunes as store
from storage import proposals as proposal_store
from storage import runs as run_store
from storage.ids import parse_id
from storage.tables import FineTuneJob, Proposal

FINETUNE = Family("/finetune", "fine-tune a model on a suite's data and evaluate the result")

COMMON_KEYS = ("base", "data", "epochs", "suffix", "batch_size", "learning_rate_multiplier", "seed")
# Open-weight training on Ray (EVALBOT_FINETUNE_BACKENDS): the knobs of a TRL job.
RAY_KEYS = ("lr", "lora_r", "gpus", "full")
_SUFFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
METHOD_TYPES = {"sft": "supervised", "dpo": "dpo", "rft": "reinforcement"}


@dataclass(frozen=True)
class Request:
    method: Method
    suite: str
    base: str
    provider: str
    data: str | None
    hyperparameters: dict[str, Any]
    suffix: str | None
    seed: int | None


def parse_request(method: Method, services: Services, inv: Invocation, parsed: Parsed) -> Request:
    """Everything that can be checked without I/O; UsageError says what is wrong."""
    if len(parsed.words) != 1:
        raise UsageError("Give one suite (and options as key=value).")
    name = parsed.words[0]
    if services.suites.get(name) is None:
        raise UsageError(services.suites.unknown(name))
    base = parsed.options.get("base")
    if not base:
        raise UsageError("Missing `base=<model>`, the model to fine-tune.")
    check_model_name(base, what="base model")
    provider, _ = services.models.split(base)
    data = parsed.options.get("data")
    if data:
        if data.startswith("run:") and method != "sft":
            raise UsageError("`data=run:<run-id>` (a teacher run) is for `sft`.")
        if data.startswith("runs:") and method != "dpo":
            raise UsageError("`data=runs:<run-a>,<run-b>` (paired runs) is for `dpo`.")
    hyper: dict[str, Any] = {}
    _numbers(parsed, hyper, _COMMON_NUMBERS + (_DPO_NUMBERS if method == "dpo" else ()))
    if method == "rft":
        effort = parsed.options.get("reasoning_effort")
        if effort is not None:
            if effort not in ("low", "medium", "high"):
                raise UsageError("`reasoning_effort` is low, medium or high.")
            hyper["reasoning_effort"] = effort
    suffix = parsed.options.get("suffix")
    if suffix is not None and not _SUFFIX.match(suffix):
        raise UsageError("`suffix` takes up to 40 lowercase letters, digits and dashes.")
    seed = int_option(parsed, "seed", min=0, max=2**31 - 1)
    _backend_options(services, provider, parsed, hyper)
    return Request(method, name, base, provider, data, hyper, suffix, seed)


# Numeric options: (what the person types, the hyperparameter it sets, kind, min, max).
_Number = tuple[str, str, type, float, float]
_COMMON_NUMBERS: tuple[_Number, ...] = (
    ("epochs", "n_epochs", int, 1, 50),
    ("batch_size", "batch_size", int, 1, 256),
    ("learning_rate_multiplier", "learning_rate_multiplier", float, 0.01, 10.0),
)
_DPO_NUMBERS: tuple[_Number, ...] = (("beta", "beta", float, 0.01, 2.0),)
_RAY_NUMBERS: tuple[_Number, ...] = (
    ("lr", "learning_rate", float, 1e-8, 1.0),
    ("lora_r", "lora_r", int, 1, 1024),
    ("gpus", "gpus", int, 0, 256),
)


def _numbers(parsed: Parsed, hyper: dict[str, Any], table: tuple[_Number, ...]) -> None:
    """Each numeric option given, checked against its range, into `hyper`."""
    for option, key, kind, lo, hi in table:
        value = (
            int_option(parsed, option, min=int(lo), max=int(hi))
            if kind is int
            else float_option(parsed, option, min=lo, max=hi)
        )
        if value is not None:
            hyper[key] = value


def _backend_options(
    services: Services, provider: str, parsed: Parsed, hyper: dict[str, Any]
) -> None:
    """The options only one backend understands, checked against the provider's backend."""
    kind = services.finetune.name_for(provider) if services.finetune is not None else "openai"
    given = [k for k in RAY_KEYS if k in parsed.options]
    if kind != "ray":
        if given:
            raise UsageError(
                f"`{given[0]}=` is for open-weight training on Ray; `{provider}` fine-tunes "
                "through its provider's API (EVALBOT_FINETUNE_BACKENDS names the Ray ones)."
            )
        return
    for key in ("learning_rate_multiplier", "reasoning_effort"):
        if key in parsed.options:
            raise UsageError(
                f"`{key}=` is for OpenAI's fine-tuning; on Ray give `lr=` (a learning rate)."
            )
    _numbers(parsed, hyper, _RAY_NUMBERS)
    if "full" in parsed.options:
        hyper["full"] = bool_option(parsed, "full")
        if hyper["full"] and "lora_r" in hyper:
            raise UsageError("`lora_r=` sets LoRA's rank; `full=yes` trains every weight instead.")


def _allowed(services: Services, inv: Invocation) -> str | None:
    if services.policy.may_finetune(inv.user_id):
        return None
    who = ", ".join(f"<@{u}>" for u in sorted(services.policy.finetune_users))
    return f"Only these people may start fine-tunes here: {who}. Ask one of them."


def _handler(method: Method) -> Any:
    def handler(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
        request = parse_request(method, services, inv, parsed)
        refusal = refused_at_once(services.policy, inv.user_id) or _allowed(services, inv)
        if refusal:
            return refusal
        try:
            services.finetune.for_provider(request.provider)
        except BackendUnavailable as exc:
            return str(exc)

        async def work() -> None:
            await check_start(services.policy, services.chat, inv.user_id)
            await start(services, inv, request)

        return Started(
            f"Preparing the {method.upper()} data of `{request.suite}`…", work, f"finetune-{method}"
        )

    return handler


_KEYS = {
    "sft": (*COMMON_KEYS, *RAY_KEYS),
    "dpo": (*COMMON_KEYS, "beta", *RAY_KEYS),
    "rft": (*COMMON_KEYS, "reasoning_effort", *RAY_KEYS),
}
_sft = _handler("sft")
_sft.__doc__ = "Supervised fine-tuning (e.g. distil a teacher run into a small model)."
FINETUNE.sub(
    "sft",
    "<suite> base=<model> [data=<file>|run:<run-id>] [epochs=N] [suffix=S] "
    "[lr=F lora_r=N gpus=N full=yes on Ray]",
    keys=_KEYS["sft"],
)(_sft)
_dpo = _handler("dpo")
_dpo.__doc__ = "Preference fine-tuning from preferred and rejected answers."
FINETUNE.sub(
    "dpo", "<suite> base=<model> [data=<file>|runs:<run-a>,<run-b>] [beta=B]", keys=_KEYS["dpo"]
)(_dpo)
_rft = _handler("rft")
_rft.__doc__ = "Reinforcement fine-tuning scored by the suite's own grader."
FINETUNE.sub(
    "rft", "<suite> base=<model> [epochs=N] [reasoning_effort=low|medium|high]", keys=_KEYS["rft"]
)(_rft)


async def build_set(services: Services, inv: Invocation, request: Request) -> sources.TrainingSet:
    """The training data, validated; UserFacingError with every problem found."""
    suite = services.suites.get(request.suite)
    assert suite is not None
    data = request.data
    try:
        if data and data.startswith("run:"):
            results = await _run_results(
                services, suite.name, data[4:], channel=inv.channel_id, want_passing=True
            )
            return await asyncio.to_thread(sources.sft_from_run, suite, results)
        if data and data.startswith("runs:"):
            ids = [p.strip() for p in data[5:].split(",") if p.strip()]
            if len(ids) != 2:
                raise UserFacingError("`data=runs:` takes two run ids, like `runs:r3,r4`.")
            a = await _run_results(services, suite.name, ids[0], channel=inv.channel_id)
            b = await _run_results(services, suite.name, ids[1], channel=inv.channel_id)
            return await asyncio.to_thread(sources.dpo_from_runs, suite, a, b)
        if data:
            try:
                content = await services.chat.fetch_file(
                    inv.channel_id, data, services.policy.finetune_max_bytes, user=inv.user_id
                )
            except ChatError as exc:
                raise UserFacingError(_file_refusal(exc, data, services)) from exc
            # Parsing and validating up to EVALBOT_FINETUNE_MAX_MB is CPU work: off the loop.
            return await asyncio.to_thread(sources.from_file, request.method, data, content, suite)
        if request.method == "rft":
            return await asyncio.to_thread(sources.rft_from_suite, suite)
        return await asyncio.to_thread(sources.from_suite_files, request.method, suite)
    except DataError as exc:
        # The issues quote the file (its name, keys and values): worded by the presenter,
        # so `<!channel>` or a backtick in a line is shown as written, never live.
        lines = exc.lines()
        if len(exc.issues) == 1:  # a longer list opens with its own count and these words
            lines.insert(0, ("The training data has a problem; nothing was uploaded.",))
        raise UserFacingError("\n".join(services.presenter.line(t) for t in lines)) from exc


def _file_refusal(exc: ChatError, data: str, services: Services) -> Title:
    """What to tell the asker when `data=<file>` cannot be taken (nothing was started)."""
    shown = Code(clip(data, 60))  # the file's name as they typed it
    if exc.code == "file_too_large":
        limit = services.policy.finetune_max_bytes // (1024 * 1024)
        return (shown, f" is over {limit} MB.")
    if exc.code == "file_not_hosted":
        return (
            shown,
            " is not a file hosted by Slack (",
            Prose(str(exc)),
            "): upload the JSONL file itself into the channel, then run the command again.",
        )
    if exc.code == "download_failed":
        return (
            shown,
            " could not be downloaded from Slack (",
            Prose(str(exc)),
            "): try again in a minute.",
        )
    return (
        "You have not shared a file ",
        shown,
        " in this channel: training data is taken only from a file you shared here. Drag "
        "it into the channel (or give its id, like `data=F0123ABCD`), then run the command "
        "again.",
    )


async def _run_results(
    services: Services, suite: str, text: str, *, channel: str, want_passing: bool = False
) -> list[Any]:
    run_id = parse_id("run", text)
    if run_id is None:
        raise UserFacingError((Code(clip(text, 30)), " is not a run id (like `r12`)."))
    run = await services.db.run(run_store.get_run, run_id=run_id)
    if run is None or run.suite != suite:
        raise UserFacingError((f"There is no run `r{run_id}` of ", Code(suite), "."))
    if run.status != "finished":
        raise UserFacingError(f"`r{run_id}` has not finished ({run.status}).")
    if not samples_visible([run.channel], channel):
        # Its answers are eval data of another channel: they do not become training data here.
        raise UserFacingError(elsewhere_note(f"`r{run_id}`", run.channel) + " Nothing was started.")
    counts = await services.db.run(run_store.tallies, run_id=run_id, with_latencies=False)
    # The run's best model is the teacher (or the side) whose outputs are used.
    model = max(run.models, key=lambda m: (counts[m].pass_rate or 0) if m in counts else -1)
    return await services.db.run(run_store.results, run_id=run_id, model=model)


def _lines(rows: list[dict[str, Any]] | None) -> Iterator[bytes]:
    """The rows as JSONL, a line at a time: never the whole file in one bytes object."""
    for row in rows or ():
        yield (json.dumps(row, ensure_ascii=False) + "\n").encode()


def _digest(rows: list[dict[str, Any]] | None) -> str:
    digest = hashlib.sha256()
    for line in _lines(rows):
        digest.update(line)
    return digest.hexdigest()


def method_spec(request: Request, grader: dict[str, Any] | None) -> dict[str, Any]:
    """The method as OpenAI's API spells it; part of the request key (kept stable)."""
    kind = METHOD_TYPES[request.method]
    body: dict[str, Any] = {"hyperparameters": dict(request.hyperparameters)}
    if request.method == "rft" and grader is not None:
        body["grader"] = grader
    return {"type": kind, kind: body}


def rft_grader(suite: Suite) -> dict[str, Any]:
    """The grader an RFT job trains with, as the backend takes it (OpenAI grader schema).

    This is the one place that builds it: evalbot-only keys stripped, names filled in,
    and graders the fine-tuning API does not take refused before any upload.
    """
    try:
        return suite_rft_grader(suite.grader, folder=suite.folder, name=suite.name)
    except RftGraderRefused as exc:
        raise UserFacingError(f"`{suite.name}` cannot be used for RFT: {exc}") from exc


async def start(services: Services, inv: Invocation, request: Request) -> FineTuneJob | None:
    """Validate, estimate, record once, then submit (or wait for an approval)."""
    suite = services.suites.get(request.suite)
    assert suite is not None
    try:
        ft = jobs.backends(services).for_provider(request.provider)
    except BackendUnavailable as exc:
        raise UserFacingError(str(exc)) from exc
    tset = await build_set(services, inv, request)
    grader = rft_grader(suite) if request.method == "rft" else None
    if grader is not None:
        try:
            await ft.validate_grader(request.provider, grader)
        except ProviderError as exc:
            raise UserFacingError(
                services.presenter.line(
                    ("The provider rejected the suite's grader: ", Code(exc.message))
                )
            ) from exc
    epochs = int(request.hyperparameters.get("n_epochs", 3))
    # A backend may estimate its own jobs (Ray: GPU-hours); else the price table does.
    own = (
        ft.estimate(request.provider, request.method, request.base, tset.tokens, epochs)
        if isinstance(ft, EstimatesCost)
        else None
    )
    # RFT through a provider's API is billed by the hour: its estimate is an assumption
    # (estimates.rft_hours), counted against EVALBOT_DAILY_USD like any other estimate.
    rft_hours = (
        estimates.rft_hours(len(tset.train), epochs)
        if request.method == "rft" and own is None
        else None
    )
    if own is not None:
        cost = own.usd
    elif rft_hours is not None:
        cost = estimates.rft_cost_usd(services.prices, request.base, rft_hours)
    else:
        cost = estimates.training_cost_usd(
            services.prices, request.method, request.base, tset.tokens, epochs
        )
    train_hash = await asyncio.to_thread(_digest, tset.train)
    valid_hash = await asyncio.to_thread(_digest, tset.valid)
    key = hashlib.sha256(
        json.dumps(
            {
                "provider": request.provider,
                "base": request.base,
                "method": method_spec(request, suite.grader),
                "suffix": request.suffix,
                "seed": request.seed,
                "train": train_hash,
                "valid": valid_hash,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:40]
    if cost is not None:
        budget = await over_budget(services, cost)
        if budget is not None:
            refusal = budget.refusal("this fine-tune", "wait until 00:00 UTC")
            raise UserFacingError(f"Not started: {refusal}.")
    # RFT is billed per training hour, which can only be guessed up front: it always waits
    # for an approver, like any job whose estimate is over the limit.
    over = rft_hours is not None or needs_gate(cost, services.policy.finetune_approval_usd)
    job, new = await services.db.run(
        store.record_request,
        request_key=key,
        train=_lines(tset.train),
        valid=_lines(tset.valid),
        suite=suite.name,
        method=request.method,
        provider=request.provider,
        backend=ft.name,
        base_model=request.base,
        hyperparameters=dict(request.hyperparameters),
        grader=grader,
        suffix=request.suffix,
        seed=request.seed,
        data_source=tset.source,
        examples=len(tset.train),
        estimated_tokens=tset.tokens,
        duplicates=tset.duplicates,
        cost_note=(
            own.note
            if own is not None
            else estimates.rft_cost_note(services.prices, request.base, rft_hours)
            if request.method == "rft"
            else None
        ),
        status="awaiting_approval" if over else "pending",
        estimated_cost_usd=cost,
        channel=inv.channel_id,
        user_id=inv.user_id,
    )
    # The rows are in the database now: let them go before the (long) submit and follow.
    del tset
    if not new:
        await inv.respond(
            f"This exact fine-tune was already requested as `f{job.id}` "
            f"({job.status}); nothing new was started. `/finetune status f{job.id}`."
        )
        return job
    posted = await services.chat.post(inv.channel_id, job_text(job, services.presenter.line))
    job = await jobs._update(services, job.id or 0, message_ts=posted.ts)
    if job.duplicates:
        await services.chat.post(
            inv.channel_id,
            f":warning: {job.duplicates} training rows repeat an earlier row exactly.",
            thread_ts=posted.ts,
        )
    if over:
        await ask_approval(services, job, inv.user_id)
        return job
    return await jobs.submit(services, job.id or 0)


async def ask_approval(services: Services, job: FineTuneJob, proposer: str) -> None:
    """A costly job waits for an approver's :white_check_mark: on its message."""
    approvers = sorted(approvers_for(services, job.suite))
    await services.db.run(_open_gate, job=job, proposer=proposer)
    who = ", ".join(f"<@{u}>" for u in approvers) or "nobody (set EVALBOT_APPROVERS)"
    limit = money(services.policy.finetune_approval_usd)
    await jobs.show(
        services,
        job,
        f"\nThe estimate is over {limit}: {who} may approve with "
        ":white_check_mark: or reject with :x:.",
    )
    if job.channel and job.message_ts:
        for emoji in (APPROVE, REJECT):
            with contextlib.suppress(ChatError):
                await services.chat.react(Posted(job.channel, job.message_ts), emoji)


def _open_gate(session: Any, *, job: FineTuneJob, proposer: str) -> Proposal:
    proposal = proposal_store.create_proposal(
        session=session,
        suite=job.suite,
        candidate=f"f{job.id}",
        current=None,
        proposer=proposer,
        approvals_needed=1,
        lifetime=timedelta(days=7),
        evidence={"job": f"f{job.id}", "estimate_usd": job.estimated_cost_usd},
        alias="finetune",
        channel=job.channel,
        kind="finetune",
    )
    proposal.message_ts = job.message_ts
    return proposal


async def on_gate_decided(services: Ports, proposal: Proposal) -> None:
    """The approval gate of a costly job was decided."""
    job_id = parse_id("job", proposal.candidate)
    if job_id is None:
        return
    if proposal.status == "approved":
        await services.db.run(store.update, job_id=job_id, status="pending")
        await jobs.submit(services, job_id)
    else:
        job = await services.db.run(store.update, job_id=job_id, status="rejected")
        await services.db.run(store.drop_data, job_id=job_id)  # it will never be uploaded
        if job is not None:
            await jobs.show(services, job)


async def _load(services: Services, job_id: int) -> FineTuneJob:
    job = await services.db.run(store.get_job, job_id=job_id)
    if job is None:
        raise UserFacingError(
            f"There is no fine-tuning job `f{job_id}`. `/finetune list` shows this channel's jobs."
        )
    return job


@FINETUNE.sub("list")
def list_jobs(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Fine-tuning jobs of this channel."""
    if parsed.words or parsed.options:
        raise UsageError("`/finetune list` takes no arguments.")

    async def work() -> None:
        found = await services.db.run(store.list_jobs, channel=inv.channel_id)
        if not found:
            await inv.respond("No fine-tuning jobs in this channel yet.")
            return
        lines = ["*Fine-tuning jobs*"]
        for j in found:
            # The fine-tuned model's name is the provider's: shown as code, never markup.
            result: Title = (" → ", Code(j.fine_tuned_model)) if j.fine_tuned_model else ()
            lines.append(
                services.presenter.line(
                    (
                        f"• `f{j.id}` {j.method.upper()} ",
                        Code(j.suite),
                        " on ",
                        Code(j.base_model),
                        f" — {j.status}",
                        *result,
                    )
                )
            )
        await inv.respond("\n".join(lines))

    return Started("Listing jobs…", work, "finetune-list")


@FINETUNE.sub("status", "<job-id>")
def status(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """A job's status, step, losses and time left."""
    job_id = id_arg(parsed, "job", only=True)

    async def work() -> None:
        job = await _load(services, job_id)
        if not samples_visible([job.channel], inv.channel_id):
            # Its data, suite and settings are the other channel's business.
            await inv.respond(
                f"`f{job_id}` is {job.status}.\n" + elsewhere_note(f"`f{job_id}`", job.channel)
            )
            return
        if job.provider_job_id and job.status not in store.TERMINAL:
            job = await jobs.poll(services, job_id) or job
        await inv.respond(job_text(job, services.presenter.line))

    return Started(f"Looking up `f{job_id}`…", work, "finetune-status")


@FINETUNE.sub("cancel", "<job-id>")
def cancel(services: Services, inv: Invocation, parsed: Parsed) -> str | Started:
    """Cancel a job (at the provider, or before it was submitted)."""
    job_id = id_arg(parsed, "job", only=True)

    async def work() -> None:
        found = await _load(services, job_id)
        check_stop(
            services.policy,
            services.suites,
            user_id=inv.user_id,
            starter=found.user_id,
            suite_names=[found.suite],
            what=f"`f{job_id}`",
        )
        job = await jobs.cancel(services, found)
        await inv.respond(f"`f{job_id}` is {job.status}.")

    return Started(f"Cancelling `f{job_id}`…", work, "finetune-cancel")
