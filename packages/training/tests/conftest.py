from __future__ import annotations

import pytest


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
