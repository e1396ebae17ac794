"""A trained adapter names its base model by name, not by the local folder its weights came from, so a copy on
another machine loads there: the sft and rl-scored trainers on a tiny model standing in for an embedded one."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.errors import UserError
from reflectlab.core.models import embedded
from reflectlab.core.models.loader import ADAPTER_CONFIG, adapter_base, load_model, resolve_path, with_adapter_base
from reflectlab.core.models.spec import ModelSpec
from reflectlab.training import SFTSettings, train_sft
from reflectlab.training.result import RECORD_FILE
from reflectlab.training.rl import RLSettings, ScoredGroup, train_on_scored

NAME = "tiny-embedded"
CHATS = [
    [{"role": "user", "content": f"Say number {i}"}, {"role": "assistant", "content": f"The answer is {i}."}]
    for i in range(4)
]


@dataclass(frozen=True)
class FakeEmbedded:
    """Stands in for an embedded model whose local cache is ``folder``."""

    folder: Path

    def materialize(self) -> Path:
        return self.folder


@pytest.fixture
def base(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """The tiny model under an embedded model's name; its weights sit in a local folder, as an embedded model's do."""
    monkeypatch.setitem(embedded.EMBEDDED, NAME, FakeEmbedded(tiny_dir))
    return ModelSpec(name=NAME)


def _names_only_its_base(adapter: Path, tiny_dir: Path) -> None:
    config = json.loads((adapter / ADAPTER_CONFIG).read_text())
    assert config["base_model_name_or_path"] == NAME
    assert json.loads((adapter / RECORD_FILE).read_text())["base"]["name"] == NAME
    for f in adapter.iterdir():  # the config, the record and the model card: no machine-local path of the base
        if f.suffix in (".json", ".md"):
            assert str(tiny_dir) not in f.read_text(), f.name


def _scores(spec: ModelSpec) -> list[float]:
    targets = [c[-1]["content"] for c in CHATS]
    return [s.sum_logprob for s in load_model(spec).score(targets, [c[:-1] for c in CHATS])]


def test_an_sft_adapter_names_its_base_and_loads_from_a_copy(base: ModelSpec, tiny_dir: Path, tmp_path: Path) -> None:
    result = train_sft(base, CHATS, SFTSettings(max_steps=2, learning_rate=1e-2, batch_size=4), tmp_path / "sft")
    _names_only_its_base(result.out_dir, tiny_dir)
    shared = tmp_path / "elsewhere" / "adapter"  # the folder as another machine receives it
    shutil.copytree(result.out_dir, shared)
    spec = with_adapter_base(ModelSpec(name=str(shared)))
    assert (spec.name, spec.adapter) == (NAME, str(shared))
    assert resolve_path(ModelSpec(name=str(shared))) == str(tiny_dir)
    model = load_model(ModelSpec(name=str(shared)))
    assert model.spec.adapter == str(shared)
    adapted = _scores(ModelSpec(name=str(shared)))
    np.testing.assert_allclose(adapted, _scores(result.spec), atol=1e-5)
    assert max(abs(a - b) for a, b in zip(adapted, _scores(base), strict=True)) > 1e-3  # the adapter is applied


def test_an_rl_adapter_names_its_base(base: ModelSpec, tiny_dir: Path, tmp_path: Path) -> None:
    groups = [ScoredGroup(c[:-1], [c[-1]["content"], "No."], [1.0, 0.0]) for c in CHATS]
    result = train_on_scored(base, groups, RLSettings(steps=1, learning_rate=1e-2, lora_r=4), tmp_path / "rl")
    _names_only_its_base(result.out_dir, tiny_dir)


def test_an_adapter_from_before_names_the_embedded_cache_folder(tmp_path: Path) -> None:
    """Adapters trained before named the embedded model's cache folder, perhaps on another machine."""
    old = tmp_path / "old"
    old.mkdir()
    name = "smollm2-135m-instruct"
    for recorded, expected in [
        (f"/home/someone/.cache/reflectlab/models/{name}", name),
        (str(embedded.reflectlab_home() / "models" / name), name),
        ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"),
    ]:
        (old / ADAPTER_CONFIG).write_text(json.dumps({"base_model_name_or_path": recorded}))
        assert adapter_base(old) == expected
    (old / ADAPTER_CONFIG).write_text(json.dumps({"base_model_name_or_path": None}))
    with pytest.raises(UserError, match="names no base model"):
        with_adapter_base(ModelSpec(name=str(old)))
    assert with_adapter_base(ModelSpec(name=str(old), adapter=str(old))).name == str(old)  # an explicit pair stays
