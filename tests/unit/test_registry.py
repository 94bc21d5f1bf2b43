"""Command families, help from docstrings and the one table (commands/registry.py, table.py)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest

from bot.presenters.mrkdwn import SLACK
from bot.presenters.slack import StyledPresenter
from commands.grammar import Parsed, int_option
from commands.registry import CommandTable, Family, Invocation, Started, UsageError, id_arg
from commands.table import build_table

if TYPE_CHECKING:
    from commands.services import Services

# The tiny family's handlers never touch the services; the registry words what the user
# typed (an unknown subcommand, a bad id) with the presenter.
NO_SERVICES = cast("Services", SimpleNamespace(presenter=StyledPresenter(SLACK)))


async def _ignore(text: str) -> None:
    return None


def invocation(text: str, command: str = "/toy") -> Invocation:
    return Invocation(user_id="U1", channel_id="C1", command=command, text=text, respond=_ignore)


def toy_family() -> tuple[Family, list[Parsed]]:
    """A small family: `run` validates its words, `list` answers at once."""
    family = Family("/toy", "play with toys")
    seen: list[Parsed] = []

    @family.sub("run", "<toy> [<toy> ...] [speed=N]", keys=["speed"])
    def run(services: Services, inv: Invocation, parsed: Parsed) -> Any:
        """Run one or more toys.

        The rest of this docstring is not help text.
        """
        seen.append(parsed)
        if not parsed.words:
            raise UsageError("Name at least one toy.")

        async def work() -> None:
            return None

        return Started(ack=f"running {', '.join(parsed.words)}", work=work)

    @family.sub("list")
    def list_toys(services: Services, inv: Invocation, parsed: Parsed) -> Any:
        """List the toys in the box."""
        seen.append(parsed)
        return "ball, kite"

    @family.sub("status", "[<toy-id>]")
    def status(services: Services, inv: Invocation, parsed: Parsed) -> Any:
        """

        Show what runs now.
        """
        return "idle"

    return family, seen


def dispatch(family: Family, text: str) -> Any:
    return family.dispatch(NO_SERVICES, invocation(text, family.command))


# -- registration ------------------------------------------------------------------------


def test_a_command_registered_twice_fails() -> None:
    table = CommandTable()
    table.add(Family("/toy", "one"))
    with pytest.raises(ValueError, match="/toy"):
        table.add(Family("/toy", "another"))
    table.add(Family("/other", "fine"))
    assert [f.command for f in table] == ["/toy", "/other"]


def test_a_subcommand_registered_twice_fails() -> None:
    family, _ = toy_family()

    def again(services: Services, inv: Invocation, parsed: Parsed) -> Any:
        """Again."""
        return ""

    with pytest.raises(ValueError, match="/toy run"):
        family.sub("run")(again)
    assert family.subcommands["run"].handler is not again


def test_two_main_handlers_fail() -> None:
    family = Family("/solo", "one thing")
    family.main("<x>")(lambda s, i, p: "")
    with pytest.raises(ValueError, match="/solo"):
        family.main("<y>")(lambda s, i, p: "")


# -- help ----------------------------------------------------------------------------------


def test_help_lists_every_subcommand_with_args_and_its_docstring_first_line() -> None:
    family, _ = toy_family()
    text = family.help()
    lines = text.splitlines()
    assert lines[0] == "*/toy* — play with toys"
    assert "• `/toy run <toy> [<toy> ...] [speed=N]` — Run one or more toys." in lines
    assert "• `/toy list` — List the toys in the box." in lines
    assert "• `/toy status [<toy-id>]` — Show what runs now." in lines
    assert "• `/toy help` — this list" in lines
    assert "not help text" not in text


@pytest.mark.parametrize("word", ["help", "HELP", "--help", "-h", "?"])
def test_dispatch_help(word: str) -> None:
    family, seen = toy_family()
    assert dispatch(family, word) == family.help()
    assert seen == [], "help runs no handler"


def test_dispatch_of_nothing_asks_for_a_subcommand_and_shows_usage() -> None:
    family, _ = toy_family()
    reply = dispatch(family, "   ")
    assert "needs a subcommand" in reply
    assert "`/toy run <toy> [<toy> ...] [speed=N]`" in reply


def test_an_unknown_subcommand_suggests_the_closest_and_shows_usage() -> None:
    family, seen = toy_family()
    reply = dispatch(family, "rnu kite")
    assert reply.startswith("Unknown subcommand `rnu` for /toy.")
    assert "Did you mean `run`?" in reply
    assert "`/toy run <toy> [<toy> ...] [speed=N]`" in reply
    assert "`/toy list`" in reply
    assert seen == []


def test_an_unknown_subcommand_far_from_any_has_no_suggestion() -> None:
    family, _ = toy_family()
    reply = dispatch(family, "zzzzzz")
    assert "Did you mean" not in reply
    assert "`/toy list`" in reply


def test_a_grammar_error_shows_what_is_wrong_and_the_usage() -> None:
    family, seen = toy_family()
    reply = dispatch(family, 'run "kite ball')
    assert isinstance(reply, str)
    assert "unbalanced quote" in reply
    assert reply.endswith("\nUsage: `/toy run <toy> [<toy> ...] [speed=N]`")
    assert seen == [], "nothing runs on bad input"


def test_an_option_the_subcommand_does_not_take_shows_the_usage() -> None:
    family, seen = toy_family()
    reply = dispatch(family, "run kite colour=red")
    assert "colour" in reply
    assert "Usage: `/toy run <toy> [<toy> ...] [speed=N]`" in reply
    assert seen == []


def test_a_usage_error_from_the_handler_is_followed_by_usage() -> None:
    family, seen = toy_family()
    reply = dispatch(family, "run speed=3")
    assert reply == "Name at least one toy.\nUsage: `/toy run <toy> [<toy> ...] [speed=N]`"
    assert seen[0].options == {"speed": "3"}


def test_valid_input_reaches_the_handler_parsed() -> None:
    family, seen = toy_family()
    outcome = dispatch(family, 'RUN kite "red ball" speed=3')
    assert isinstance(outcome, Started)
    assert outcome.ack == "running kite, red ball"
    assert seen[0].words == ("kite", "red ball")
    assert dispatch(family, "list") == "ball, kite"


def test_a_family_without_subcommands_passes_all_text_to_main() -> None:
    family = Family("/solo", "one thing")
    got: list[Parsed] = []

    @family.main("<suite> <model>")
    def main(services: Services, inv: Invocation, parsed: Parsed) -> Any:
        """Do the one thing."""
        got.append(parsed)
        if len(parsed.words) != 2:
            raise UsageError("Give a suite and a model.")
        return "ok"

    assert dispatch(family, "routing gpt-4.1-mini") == "ok"
    assert got[0].words == ("routing", "gpt-4.1-mini")
    assert (
        dispatch(family, "routing") == "Give a suite and a model.\nUsage: `/solo <suite> <model>`"
    )
    assert "• `/solo <suite> <model>` — Do the one thing." in family.help()


# -- the real table ---------------------------------------------------------------------------


def test_the_table_has_exactly_the_five_commands() -> None:
    commands = [family.command for family in build_table()]
    assert sorted(commands) == ["/eval", "/finetune", "/models", "/promote", "/watch"]


def test_every_real_subcommand_has_help_from_its_docstring() -> None:
    for family in build_table():
        subs = list(family.subcommands.values())
        if family.default is not None:
            subs.append(family.default)
        assert subs, f"{family.command} has no handler"
        help_text = family.help()
        for sub in subs:
            assert sub.summary, f"{family.command} {sub.name} has no docstring"
            assert f"{family.usage(sub)} — {sub.summary}" in help_text


HOSTILE = "<!channel>`x`*b*"


@pytest.mark.parametrize(
    "text",
    [
        HOSTILE,  # an unknown subcommand
        f"show {HOSTILE}",  # not a run id
        f"run kite speed {HOSTILE}",  # an option without `=`
        f"count n={HOSTILE}",  # a value the grammar refuses, quoted back
    ],
)
def test_what_the_user_typed_is_repeated_but_never_live(text: str) -> None:
    family, _ = toy_family()

    @family.sub("show", "<run-id>")
    def show(services: Services, inv: Invocation, parsed: Parsed) -> Any:
        """Show a run."""
        return str(id_arg(parsed, "run", only=True))

    @family.sub("count", "[n=N]", keys=["n"])
    def count(services: Services, inv: Invocation, parsed: Parsed) -> Any:
        """Count."""
        return str(int_option(parsed, "n"))

    reply = dispatch(family, text)
    assert isinstance(reply, str)
    assert re.findall(r"<[^<>]*>", reply.split("\nUsage")[0].split("\n*/toy*")[0]) == []
    assert "&lt;!channel&gt;" in reply and "`x`" not in reply


def test_an_unknown_suite_is_named_as_typed_but_never_live() -> None:
    from commands.suites.catalog import SuiteCatalog

    catalog = SuiteCatalog(cast("dict[str, Any]", {"parity": None, "qa": None}))
    presenter = StyledPresenter(SLACK)
    assert presenter.line(catalog.unknown("parit")) == (
        "There is no suite `parit`. Did you mean `parity`? Suites: `parity`, `qa`."
    )
    shown = presenter.line(catalog.unknown(HOSTILE))
    assert re.findall(r"<[^<>]*>", shown) == [] and "`&lt;!channel&gt;ˋxˋ*b*`" in shown
    empty = presenter.line(SuiteCatalog({}).unknown("x"))
    assert empty == "There is no suite `x`. Suites: none (add one to the suites folder)."
