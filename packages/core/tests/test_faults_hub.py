"""A model-hub name is checked in seconds, before any run exists: the local hub cache, else the hub itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import constants
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from reflectlab.core.errors import UserError
from reflectlab.core.models import loader
from reflectlab.core.models.loader import check_hub_name, resolve_path
from reflectlab.core.models.spec import ModelSpec

NAME = "someone/some-model"


class _NotFound(RepositoryNotFoundError):
    def __init__(self) -> None:
        Exception.__init__(self, "404 Client Error: Repository Not Found")


class _Gated(GatedRepoError):
    def __init__(self) -> None:
        Exception.__init__(self, "401: gated")


@pytest.fixture(autouse=True)
def _fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty hub cache, the hub not asked unless a test says how it answers, and no remembered answers."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def no_network(*_: object, **__: object) -> None:
        raise AssertionError("the hub was asked")

    monkeypatch.setattr(huggingface_hub, "model_info", no_network)
    check_hub_name.cache_clear()
    yield
    check_hub_name.cache_clear()


def _answer(monkeypatch: pytest.MonkeyPatch, outcome: BaseException | None) -> list[float]:
    timeouts: list[float] = []

    def model_info(name: str, *, timeout: float | None = None) -> object:
        timeouts.append(timeout or 0.0)
        if outcome is not None:
            raise outcome
        return object()

    monkeypatch.setattr(huggingface_hub, "model_info", model_info)
    return timeouts


def test_offline_fails_at_once_without_asking_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(UserError) as info:
        resolve_path(ModelSpec(name=NAME))
    assert time.perf_counter() - t0 < 1.0
    assert str(info.value) == (
        f"model.name={NAME!r} is neither a local folder nor in the local model-hub cache, and HF_HUB_OFFLINE is set "
        "(no hub access)"
    )


def test_unreachable_hub_is_one_line_with_a_short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    timeouts = _answer(monkeypatch, ConnectionError("[Errno -3] Temporary failure in name resolution"))
    with pytest.raises(UserError) as info:
        check_hub_name(NAME)
    assert timeouts == [loader.HUB_TIMEOUT_S] and loader.HUB_TIMEOUT_S <= 10
    assert str(info.value) == (
        f"model.name={NAME!r} is neither a local folder nor reachable on the model hub ([Errno -3] Temporary failure "
        "in name resolution); give a local model folder"
    )


def test_unknown_and_invalid_names(monkeypatch: pytest.MonkeyPatch) -> None:
    _answer(monkeypatch, _NotFound())
    with pytest.raises(UserError, match="nor a model on the hub"):
        check_hub_name(NAME)
    with pytest.raises(UserError, match="nor a valid model-hub name"):
        check_hub_name("not a name!")


def test_reachable_gated_and_cached_names_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _answer(monkeypatch, None)
    assert resolve_path(ModelSpec(name=NAME)) == NAME
    check_hub_name(NAME)  # remembered: the hub is asked once per process
    assert len(asked) == 1
    _answer(monkeypatch, _Gated())
    check_hub_name("someone/gated-model")

    # A snapshot in the local hub cache is enough, offline or not, without asking the hub.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hub" / "models--someone--cached-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    _answer(monkeypatch, AssertionError("the hub was asked"))
    check_hub_name("someone/cached-model")
