from __future__ import annotations

from pathlib import Path

import pytest

from reflectlab.core.testing import tiny_model_dir


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model without a chat template (like a base model)."""
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-base") / "model", seed=1, chat_template=False)
