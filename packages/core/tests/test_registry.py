from importlib.metadata import EntryPoint

import pytest

from reflectlab.core import registry as reg
from reflectlab.core.errors import UserError


class FakeDist:
    def __init__(self, name: str) -> None:
        self.name = name


def _ep(name: str, value: str, dist: str) -> EntryPoint:
    ep = EntryPoint(name, value, "reflectlab.trainers")
    object.__setattr__(ep, "dist", FakeDist(dist))
    return ep


def test_lazy_lookup_near_matches_and_install_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    r = reg.Registry[object]("trainers")
    monkeypatch.setattr(reg, "entry_points", lambda group: [_ep("sft-lora", "json:dumps", "reflectlab-training")])
    assert r.names() == ["sft-lora"]
    import json

    assert r.get("sft-lora") is json.dumps
    with pytest.raises(UserError, match="did you mean 'sft-lora'"):
        r.get("sft-lor")
    # a known first-party name whose package is missing: the pip line
    monkeypatch.setattr(reg, "_installed", lambda provider: False)
    with pytest.raises(UserError, match="pip install reflectlab-training"):
        r.get("rl")


def test_a_plugin_cannot_replace_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    r = reg.Registry[object]("trainers")
    eps = [_ep("sft", "os:getcwd", "someones-plugin"), _ep("sft", "json:dumps", "reflectlab-training")]
    monkeypatch.setattr(reg, "entry_points", lambda group: eps)
    with pytest.warns(UserWarning, match="cannot replace"):
        names = r.names()
    assert names == ["sft"] and r.source("sft") == "reflectlab-training"
    import json

    assert r.get("sft") is json.dumps
    with pytest.raises(ValueError, match="already registered"):
        r.register("sft", object())


def test_missing_module_of_a_plugin_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    r = reg.Registry[object]("trainers")
    monkeypatch.setattr(reg, "entry_points", lambda group: [_ep("ghost", "no_such_module_xyz:thing", "ghost-plugin")])
    with pytest.raises(UserError, match="no_such_module_xyz"):
        r.get("ghost")


def test_installed_builtins_are_found() -> None:
    assert {"hf", "vllm"} <= set(reg.backends.names())
