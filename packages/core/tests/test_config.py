from dataclasses import dataclass, field

import pytest
from omegaconf.errors import ReadonlyConfigError

from reflectlab.core.config import StudyConfig, build_config, config_class, flatten
from reflectlab.core.errors import UserError


@dataclass
class AlphaConfig(StudyConfig):
    n_items: int = 10
    temperature: float = 0.5


@dataclass
class Studies:
    alpha: AlphaConfig = field(default_factory=AlphaConfig)
    beta: StudyConfig = field(default_factory=StudyConfig)


CLS = config_class("demo", Studies)
PRESETS = {
    "smoke": {"studies": {"alpha": {"n_items": 2}}},
    "quick": {"studies": {"alpha": {"n_items": 20}}},
    "full": {},
}


def test_precedence_defaults_then_preset_then_overrides() -> None:
    assert build_config(CLS, PRESETS, []).studies.alpha.n_items == 20  # default preset: quick
    assert build_config(CLS, PRESETS, ["preset=smoke"]).studies.alpha.n_items == 2
    cfg = build_config(CLS, PRESETS, ["preset=smoke", "studies.alpha.n_items=7", "seed=3"])
    assert (cfg.studies.alpha.n_items, cfg.seed, cfg.preset) == (7, 3, "smoke")
    assert build_config(CLS, PRESETS, ["preset=full"]).studies.alpha.n_items == 10  # the dataclass default


def test_values_are_typed() -> None:
    cfg = build_config(CLS, PRESETS, ["studies.alpha.temperature=1", "model.batch_size=4"])
    assert isinstance(cfg.studies.alpha.temperature, float) and cfg.model.batch_size == 4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["nope=1"], "unknown config key 'nope'; allowed here: model, preset, seed"),
        (
            ["studies.alpha.nn=1"],
            "unknown config key 'studies.alpha.nn'; allowed here: enabled, n_bootstrap, margin, seeds, n_items",
        ),
        (["seed=abc"], "bad value for config key 'seed'"),
        (["studies.alpha.enabled=maybe"], "bad value for config key 'studies.alpha.enabled'"),
        (["preset=huge"], "unknown preset 'huge'; allowed: smoke, quick, full"),
        (["seed"], "override 'seed' is not of the form key=value"),
    ],
)
def test_bad_input_names_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError) as err:
        build_config(CLS, PRESETS, overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_one_study_only() -> None:
    cfg = build_config(CLS, PRESETS, [], only_study="beta")
    assert not cfg.studies.alpha.enabled and cfg.studies.beta.enabled
    with pytest.raises(UserError, match="unknown study 'gamma'"):
        build_config(CLS, PRESETS, [], only_study="gamma")


def test_resolved_config_is_read_only_and_flattens_for_mlflow() -> None:
    cfg = build_config(CLS, PRESETS, [])
    with pytest.raises(ReadonlyConfigError):
        cfg.seed = 4
    flat = flatten(cfg)
    assert flat["studies.alpha.n_items"] == "20" and flat["model.name"] == "smollm2-135m-instruct"


def test_a_run_id_prefix_that_looks_like_a_number_stays_text() -> None:
    assert build_config(CLS, PRESETS, ["resume=044812e9"]).resume == "044812e9"
    assert build_config(CLS, PRESETS, ["resume=12345678"]).resume == "12345678"
