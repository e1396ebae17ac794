"""Test-session settings and fixtures shared by every package's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread for in-process tests: as fast for tiny models, and immune to the OpenMP spin-waiting
    that makes two-thread work up to ten times slower when anything else shares the two cores. Commands run in
    subprocesses (the end-to-end runs) keep torch's default."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a ChatML template (no download; a few seconds to build)."""
    from reflectlab.core.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama without a chat template (like a base model)."""
    from reflectlab.core.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("tiny-base") / "model", seed=1, chat_template=False)
