"""Typed run configs (OmegaConf structured configs), presets and dotlist overrides.

Precedence, lowest first: the dataclass defaults < the inquiry's preset (``smoke``, ``quick``, ``full``) < the
command line's dotlist. An unknown key or a value of the wrong type is a :class:`UserError` naming the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, GrammarParseError, OmegaConfBaseException, ValidationError

from reflectlab.core.errors import UserError
from reflectlab.core.models.spec import ModelSpec

PRESETS = ("smoke", "quick", "full")


@dataclass
class StudyConfig:
    """Fields every study has."""

    enabled: bool = True
    n_bootstrap: int = 2000


@dataclass
class RunConfig:
    """Fields every run has; each inquiry adds its ``studies`` section."""

    model: ModelSpec = field(default_factory=ModelSpec)
    preset: str = "quick"
    seed: int = 0
    cache: bool = True
    results_dir: str = "reflectlab-results"
    experiment: str = ""  # MLflow experiment name; default "reflectlab/<inquiry>"
    resume: str = ""  # a run id (or prefix, or "latest") to continue; see reflectlab.core.runner


def config_class(inquiry_name: str, studies_cls: type) -> type:
    """The structured config of one inquiry: :class:`RunConfig` plus its ``studies`` section."""
    return dataclasses.make_dataclass(
        f"{inquiry_name.title().replace('-', '')}Config",
        [("studies", studies_cls, field(default_factory=studies_cls))],
        bases=(RunConfig,),
    )


def _split(overrides: list[str]) -> list[str]:
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r} is not of the form key=value")
    return overrides


def _allowed(base: DictConfig, full_key: str) -> str:
    parent = full_key.rsplit(".", 1)[0] if "." in full_key else ""
    node = OmegaConf.select(base, parent) if parent else base
    if isinstance(node, DictConfig):
        return ", ".join(str(k) for k in node)
    return "none (not a section)"


def _explain(exc: OmegaConfBaseException, base: DictConfig) -> UserError:
    key = getattr(exc, "full_key", None) or "?"
    if isinstance(exc, ConfigKeyError):
        return UserError(f"unknown config key {key!r}; allowed here: {_allowed(base, key)}")
    if isinstance(exc, ValidationError):
        msg = str(getattr(exc, "msg", exc)).splitlines()[0]
        return UserError(f"bad value for config key {key!r}: {msg}")
    if isinstance(exc, GrammarParseError):
        return UserError(f"cannot parse override: {str(exc).splitlines()[0]}")
    return UserError(f"config error at {key!r}: {str(exc).splitlines()[0]}")


def build_config(
    cls: type, presets: dict[str, dict[str, Any]], overrides: list[str], *, only_study: str | None = None
) -> DictConfig:
    """Merge defaults, the chosen preset and the overrides; return a typed, read-only config."""
    base = OmegaConf.structured(cls)
    overrides = _split(list(overrides))
    try:
        cli = OmegaConf.from_dotlist(overrides)
    except OmegaConfBaseException as exc:
        raise _explain(exc, base) from None
    for item in overrides:  # a run id prefix such as 044812e9 must not be read as a number
        key, _, value = item.partition("=")
        if key.strip() == "resume":
            cli.resume = value.strip()
    preset = str(cli.get("preset", base.preset))
    if preset not in presets:
        raise UserError(f"unknown preset {preset!r}; allowed: {', '.join(presets)}")
    try:
        cfg = OmegaConf.merge(base, presets[preset], cli)
    except OmegaConfBaseException as exc:
        raise _explain(exc, base) from None
    cfg.preset = preset
    if only_study is not None:
        studies = list(cfg.studies)
        if only_study not in studies:
            raise UserError(f"unknown study {only_study!r}; this inquiry has: {', '.join(studies)}")
        for name in studies:
            cfg.studies[name].enabled = name == only_study
    OmegaConf.set_readonly(cfg, True)
    assert isinstance(cfg, DictConfig)
    return cfg


def build_config_from(cls: type, text: str, overrides: dict[str, Any], *, source: str) -> DictConfig:
    """A typed, read-only config from a logged ``config.yaml`` (a resumed run's), with ``overrides`` set on top.

    The YAML is checked against ``cls`` like any config, so a run logged by an incompatible version is refused
    with the key that no longer fits."""
    base = OmegaConf.structured(cls)
    try:
        cfg = OmegaConf.merge(base, OmegaConf.create(text), overrides)
    except OmegaConfBaseException as exc:
        raise UserError(f"the config of {source} no longer fits: {_explain(exc, base)}") from None
    OmegaConf.set_readonly(cfg, True)
    assert isinstance(cfg, DictConfig)
    return cfg


def flatten(cfg: DictConfig, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """``a.b.c -> value`` strings, for MLflow params; top-level keys in ``exclude`` are left out."""
    out: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = str(node)

    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    walk({k: v for k, v in container.items() if k not in exclude}, "")
    return out
