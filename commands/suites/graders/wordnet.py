"""Princeton WordNet 3.0 for METEOR's synonym stage, from files on this machine.

nltk's `wordnet` corpus is WordNet 3.0 in the database format that Debian's
`wordnet-base` package installs in /usr/share/wordnet (`make wordnet` installs it;
no download at run time, which these machines cannot do). Debian leaves out one
small file nltk's reader opens, `lexnames` (the 45 fixed lexicographer file
names of WordNet 3.0, lexnames(5WN)): the reader below serves it from memory. The
folder is added to nltk.data.path, which is how nltk authorizes a corpus folder.
EVALBOT_WORDNET_DIR points elsewhere (an nltk_data `corpora/wordnet` folder works).

Without WordNet, METEOR still runs nltk's exact and Porter-stem stages; only
synonyms go unmatched (`wordnet_status()` says which one is in use).
"""

from __future__ import annotations

import functools
import io
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

__all__ = ["DEBIAN_WORDNET", "load_wordnet", "wordnet_status"]

log = logging.getLogger(__name__)

DEBIAN_WORDNET = Path("/usr/share/wordnet")
_NEEDED = ("index.noun", "data.noun", "index.verb", "data.verb", "noun.exc")
_LEXNAMES = [
    ("adj.all", 3), ("adj.pert", 3), ("adv.all", 4), ("noun.Tops", 1), ("noun.act", 1),
    ("noun.animal", 1), ("noun.artifact", 1), ("noun.attribute", 1), ("noun.body", 1),
    ("noun.cognition", 1), ("noun.communication", 1), ("noun.event", 1), ("noun.feeling", 1),
    ("noun.food", 1), ("noun.group", 1), ("noun.location", 1), ("noun.motive", 1),
    ("noun.object", 1), ("noun.person", 1), ("noun.phenomenon", 1), ("noun.plant", 1),
    ("noun.possession", 1), ("noun.process", 1), ("noun.quantity", 1), ("noun.relation", 1),
    ("noun.shape", 1), ("noun.state", 1), ("noun.substance", 1), ("noun.time", 1),
    ("verb.body", 2), ("verb.change", 2), ("verb.cognition", 2), ("verb.communication", 2),
    ("verb.competition", 2), ("verb.consumption", 2), ("verb.contact", 2),
    ("verb.creation", 2), ("verb.emotion", 2), ("verb.motion", 2), ("verb.perception", 2),
    ("verb.possession", 2), ("verb.social", 2), ("verb.stative", 2), ("verb.weather", 2),
    ("adj.ppl", 3),
]  # fmt: skip


def _lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{pos}\n" for i, (name, pos) in enumerate(_LEXNAMES))


def _source_dir() -> Path | None:
    configured = os.environ.get("EVALBOT_WORDNET_DIR")
    folder = Path(configured) if configured else DEBIAN_WORDNET
    if all((folder / name).is_file() for name in _NEEDED):
        return folder
    return None


_LOCK = threading.Lock()


def load_wordnet() -> Any | None:
    """nltk's WordNet reader over the local WordNet 3.0 files, or None if there are none.

    Reading the index takes seconds: call it off the event loop (graders do, in a
    thread). Loaded once per process; concurrent first callers wait for the one load.
    """
    with _LOCK:
        return _load()


@functools.cache
def _load() -> Any | None:
    found = _source_dir()
    if found is None:
        return None
    source: Path = found
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):  # type: ignore[misc]
        def open(self, file: str) -> Any:
            if file == "lexnames" and not (source / "lexnames").is_file():
                return io.StringIO(_lexnames_text())
            return super().open(file)

        def map_wn(self, version: str = "wordnet") -> None:
            # This is WordNet 3.0 itself: nothing to map (nltk would load its own
            # downloaded copy to build the mapping).
            return None

    if str(source) not in nltk.data.path:
        nltk.data.path.append(str(source))
    try:
        with warnings.catch_warnings():  # "multilingual functions are not available"
            warnings.simplefilter("ignore", UserWarning)
            return _Reader(str(source), None)
    except (OSError, ValueError, LookupError) as exc:
        log.warning("WordNet in %s could not be read: %s", source, exc)
        return None


def wordnet_status() -> str:
    """One line for people: where METEOR's synonyms come from, or that they are off."""
    if load_wordnet() is None:
        return (
            "METEOR without WordNet (exact and stem matches only): "
            "`make wordnet` installs it (Debian package wordnet-base)"
        )
    return f"METEOR with WordNet 3.0 from {_source_dir()}"
