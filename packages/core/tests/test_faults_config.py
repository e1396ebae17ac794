"""An override of a ``str`` field keeps its text: a run id or a model name is never read as a number."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from reflectlab.core.config import RunConfig, StudyConfig, build_config, config_class
from reflectlab.core.errors import UserError


@dataclass
class _Study(StudyConfig):
    judge: str = "auto"
    n_items: int = 4
    ratio: float = 0.5
    note: str | None = None


@dataclass
class _Studies:
    alpha: _Study = field(default_factory=_Study)


CLS = config_class("faults", _Studies)
PRESETS: dict[str, dict[str, Any]] = {"smoke": {}, "quick": {}, "full": {}}


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("resume=044812e9", "resume", "044812e9"),
        ("model.name=1e3", "model.name", "1e3"),
        ("model.name=1e3-model", "model.name", "1e3-model"),
        ("experiment=007", "experiment", "007"),
        ("experiment=true", "experiment", "true"),
        ("results_dir=2024", "results_dir", "2024"),
        ("studies.alpha.judge=12.50", "studies.alpha.judge", "12.50"),
        ("studies.alpha.note=1e5", "studies.alpha.note", "1e5"),
        ("model.name='quoted name'", "model.name", "quoted name"),
    ],
)
def test_text_fields_keep_the_text_as_written(override: str, key: str, expected: str) -> None:
    from omegaconf import OmegaConf

    cfg = build_config(CLS, PRESETS, [override])
    assert OmegaConf.select(cfg, key) == expected


def test_typed_fields_still_parse_and_check() -> None:
    cfg = build_config(CLS, PRESETS, ["seed=3", "studies.alpha.n_items=7", "studies.alpha.ratio=1e-2", "cache=false"])
    assert (cfg.seed, cfg.studies.alpha.n_items, cfg.studies.alpha.ratio, cfg.cache) == (3, 7, 0.01, False)
    assert build_config(CLS, PRESETS, ["studies.alpha.note=null"]).studies.alpha.note is None
    with pytest.raises(UserError, match="bad value for config key 'seed'"):
        build_config(CLS, PRESETS, ["seed=044812e9x"])
    assert issubclass(CLS, RunConfig)
