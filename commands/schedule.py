"""The names of the scheduled jobs: what the job store keeps, and their stable ids.

Command families schedule jobs by these names; the functions themselves are in
commands.jobs, which imports the families (so the families must not import it).
The strings are stored in the job store: changing one orphans the jobs of a running
deployment.
"""

from __future__ import annotations

POLL_WATCH = "commands.jobs:poll_watch"
POLL_FINETUNE = "commands.jobs:poll_finetune"
SWEEP_PROPOSALS = "commands.jobs:sweep_proposals"
SWEEP_JOB_ID = "proposal-sweep"
RESUME_RUNS = "commands.jobs:resume_runs"
RESUME_JOB_ID = "resume-runs"


def watch_job_id(watch_id: int) -> str:
    return f"watch-{watch_id}"


def finetune_job_id(job_id: int) -> str:
    return f"finetune-{job_id}"
