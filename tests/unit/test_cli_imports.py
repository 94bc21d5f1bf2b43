"""`evalbot eval run` imports only what the terminal needs: its start-up is the time to
the first provider request (docs/benchmarks.md, cli_start)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_ON_THE_TERMINAL_PATH = (
    "openai",  # completions use the gateway's own HTTP path (bot/openai_headers.py)
    "slack_bolt",
    "slack_sdk",
    "matplotlib",
    "apscheduler",
    "alembic",
)


def test_the_terminal_path_imports_no_sdk_slack_web_server_scheduler_charts_or_alembic() -> None:
    probe = (
        "import json, sys\n"
        "import bot.cli, bot.terminal, bot.wiring, storage.db, storage.runs\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert "bot.wiring" in loaded and "commands.eval.runner" in loaded  # the probe worked
    assert sorted({m for m in loaded if m.split(".")[0] in NOT_ON_THE_TERMINAL_PATH}) == []
    assert not loaded & {"aiohttp.web", "bot.app", "bot.http", "bot.charts", "bot.scheduler"}


def test_the_command_line_module_itself_loads_no_storage_or_pydantic() -> None:
    """bot/cli.py loads the terminal's modules with the garbage collector paused; what it
    imports at module level would load before that, with the collector running."""
    probe = "import json, sys\nimport bot.cli\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert "bot.cli" in loaded
    heavy = {"sqlalchemy", "sqlmodel", "pydantic", "aiohttp", "storage", "commands"}
    assert sorted({m for m in loaded if m.split(".")[0] in heavy}) == []
