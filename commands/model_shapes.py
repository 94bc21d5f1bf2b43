"""What a model name (and a watch's model glob) may look like.

Model names come from users (`/eval run`, `base=`, `/promote`) and are echoed in messages,
stored in aliases that applications read, and sent to providers. A strict shape keeps a
backtick, `<!here>` or a newline out of all of those at once: letters and digits first,
then letters, digits and `. _ : / @ -` (so `provider:model` and `ft:gpt-4.1-mini:org::id`
pass), at most 128 characters. (Whether a provider serves the name is commands.model_names.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from commands.ports import Models
from commands.registry import UsageError

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$")
# A glob is a model name with wildcards; it must also name something: at least
# MIN_GLOB_LITERALS characters that are not wildcards, so `*`, `a*`, `*-*` or `?*` do
# not match (nearly) every release.
MODEL_GLOB = re.compile(r"^[A-Za-z0-9*?\[][A-Za-z0-9._:/@*?\[\]-]{0,99}$")
MIN_GLOB_LITERALS = 2


def _harmless(text: str) -> str:
    """The refused text, made harmless to echo: only characters of the allowed set."""
    safe = re.sub(r"[^A-Za-z0-9._:/@*?\[\] -]", "?", text)
    return safe if len(safe) <= 40 else safe[:39] + "…"


def check_model_name(name: str, *, what: str = "model") -> str:
    """`name` when it is a valid model name; otherwise UsageError saying the rule."""
    if not MODEL_NAME.match(name):
        raise UsageError(
            f"`{_harmless(name)}` is not a {what} name: use letters, digits and `. _ : / @ -` "
            "(starting with a letter or digit, at most 128 characters), like `gpt-4.1-mini` "
            "or `provider:model`."
        )
    return name


def check_model_glob(glob: str) -> str:
    """`glob` when it is a model glob that names something; otherwise UsageError."""
    if not MODEL_GLOB.match(glob):
        raise UsageError(
            f"`{_harmless(glob)}` is not a model glob (letters, digits, `. _ : / @ -` "
            "and the wildcards `* ? [ ]`)."
        )
    # A character set (`[34]`) counts as one literal character.
    outside_sets = re.sub(r"\[[^\]]*\]", "0", glob)
    literals = sum(ch not in "*?" for ch in outside_sets)
    if literals < MIN_GLOB_LITERALS:
        raise UsageError(
            f"`{_harmless(glob)}` would match nearly every model: name at least "
            f"{MIN_GLOB_LITERALS} characters of it, like `gpt-5*` or `*-mini`."
        )
    return glob


MAX_MODELS = 10  # per run


def check_run_models(models: Models, names: Sequence[str]) -> None:
    """What is checked of a run's model names before any provider is asked, from Slack
    and from the terminal alike: UsageError saying what is wrong."""
    if len({m.casefold() for m in names}) != len(names):
        raise UsageError("A model is named twice.")
    if len(names) > MAX_MODELS:
        raise UsageError(f"At most {MAX_MODELS} models per run.")
    for model in names:
        check_model_name(model)
        provider, _ = models.split(model)
        if ":" in model and provider == "default" and not model.startswith("ft:"):
            known = ", ".join(p for p in models.providers() if p != "default")
            raise UsageError(
                f"`{_harmless(model)}`: unknown provider `{model.split(':')[0]}`. "
                + (
                    f"Configured providers: {known}."
                    if known
                    else "No extra providers are configured (EVALBOT_PROVIDERS)."
                )
            )
