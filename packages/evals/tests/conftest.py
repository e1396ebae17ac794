from __future__ import annotations

from pathlib import Path

import pytest

from reflectlab.core.testing import tiny_model_dir


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a chat template (built locally, no download)."""
    return tiny_model_dir(tmp_path_factory.mktemp("evals-tiny") / "model")
