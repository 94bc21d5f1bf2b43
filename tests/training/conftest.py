"""The training tier: real TRL training, a real Ray head and a real `transformers serve`,
all on the CPU and on loopback. Session-scoped fixtures: each process start costs seconds
of imports on these 2 cores, so the tiny model and the servers are built once."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.training.servers import RayHead, TransformersServe

# No model hub is reachable: nothing may try one.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _require_training_stack() -> None:
    # Found, not imported: importing torch and trl costs every test worker seconds at
    # collection; the tests that use them import them.
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("trl") is None:
        message = "the train extra is not installed (make test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)


_require_training_stack()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Llama of ~100k parameters with an offline-trained BPE tokenizer."""
    from tests.training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    """A Ray head on 127.0.0.1 (its own process group); `.address` is its job server."""
    from tests.training.servers import RayHead

    with RayHead(tmp_path_factory.mktemp("ray")) as head:
        yield head


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TransformersServe]:
    """`transformers serve` on 127.0.0.1, loading models by their local path."""
    from tests.training.servers import TransformersServe

    with TransformersServe(tmp_path_factory.mktemp("serve")) as server:
        yield server
