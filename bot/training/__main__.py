"""`python -m bot.training --spec evalbot-training.json`: the job a Ray cluster runs."""

from __future__ import annotations

import sys

from bot.training.entrypoint import main

sys.exit(main())
