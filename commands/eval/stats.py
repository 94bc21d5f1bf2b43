"""Moved to commands.stats (shared by every family); kept so older imports still work."""

from commands.stats import *  # noqa: F403
from commands.stats import __all__ as __all__
