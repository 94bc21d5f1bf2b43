"""`python -m bot` starts the bot."""

from bot.cli import main

raise SystemExit(main(["run"]))
