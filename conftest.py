"""Test-session settings shared by every package's tests."""

from __future__ import annotations

from collections.abc import Iterator

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
