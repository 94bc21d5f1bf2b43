"""The suites a deployment serves, loaded from EVALBOT_SUITES_DIR at start."""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

from commands.reports import Code, Title
from commands.suites.graders.base import SuiteError
from commands.suites.suite import Suite, load_suites

log = logging.getLogger(__name__)


class SuiteCatalog:
    """Suites by name, plus the errors of those that failed to load."""

    def __init__(
        self,
        suites: dict[str, Suite],
        errors: list[SuiteError] | None = None,
        root: Path | None = None,
    ) -> None:
        self.suites = suites
        self.errors = errors or []
        self.root = root

    @classmethod
    def load(cls, root: Path) -> SuiteCatalog:
        if not root.is_dir():
            log.warning("suites folder %s does not exist: no suites loaded", root)
            return cls({}, [], root)
        suites, errors = load_suites(root)
        for err in errors:
            log.warning("suite not loaded: %s", err)
        log.info("loaded %d suites from %s", len(suites), root)
        return cls(suites, errors, root)

    def get(self, name: str) -> Suite | None:
        return self.suites.get(name)

    def names(self) -> list[str]:
        return sorted(self.suites)

    def unknown(self, name: str) -> Title:
        """The message for a suite name that does not exist (as typed): what does."""
        close = difflib.get_close_matches(name, self.suites, n=1)
        hint: Title = (" Did you mean ", Code(close[0]), "?") if close else ()
        have: Title = ()
        for n in self.names():
            have += (", ", Code(n)) if have else (Code(n),)
        return (
            "There is no suite ",
            Code(name[:60]),
            ".",
            *hint,
            " Suites: ",
            *(have or ("none (add one to the suites folder)",)),
            ".",
        )
