from __future__ import annotations

from pathlib import Path

import pytest

from reflectlab.core.testing import tiny_model_dir


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a ChatML template."""
    return tiny_model_dir(tmp_path_factory.mktemp("tiny") / "m")


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama without a chat template (like a base model)."""
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-base") / "m", seed=1, chat_template=False)


@pytest.fixture(scope="session")
def chats() -> list[list[dict[str, str]]]:
    """16 short chats whose answers a model can only learn by heart."""
    return [
        [
            {"role": "user", "content": f"Say number {i}"},
            {"role": "assistant", "content": f"The answer is {i * 7 % 10} {i % 3}."},
        ]
        for i in range(16)
    ]
