"""`python -m bot` starts the bot."""

from bot.cli import main

# Guarded: the chart worker process (multiprocessing "spawn") imports this module again.
if __name__ == "__main__":
    raise SystemExit(main(["run"]))
