"""The one table of slash commands: every command string the bot serves is here."""

from __future__ import annotations

from commands.eval.commands import EVAL
from commands.finetune import FINETUNE
from commands.models import MODELS
from commands.promote import PROMOTE
from commands.registry import CommandTable
from commands.watch import WATCH


def build_table() -> CommandTable:
    """All command families; registering a command string twice fails at start-up."""
    table = CommandTable()
    for family in (EVAL, FINETUNE, WATCH, PROMOTE, MODELS):
        table.add(family)
    return table
