"""`python -m bot` is the `evalbot` command: it starts the bot when given no arguments,
and takes the same ones (`python -m bot eval run <suite> <model>...`)."""

from bot.cli import main

# Guarded: the chart worker process (multiprocessing "spawn") imports this module again.
if __name__ == "__main__":
    raise SystemExit(main())
