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
from omegaconf.nodes import StringNode

from reflectlab.core.errors import UserError
from reflectlab.core.models.spec import ModelSpec

PRESETS = ("smoke", "quick", "full")


def option(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = None) -> Any:
    """A config field with a one-line ``help`` text (shown by ``platform list --config``), as TRL's fields carry."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


class ConfigValueError(ValueError):
    """A config value out of its allowed range, raised by a config's ``__post_init__``; names its key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def require(condition: bool, key: str, message: str) -> None:
    """Raise :class:`ConfigValueError` for ``key`` unless ``condition`` holds (for ``__post_init__`` checks)."""
    if not condition:
        raise ConfigValueError(key, message)


@dataclass
class StudyConfig:
    """Fields every study has."""

    enabled: bool = option(True, "Run this study.")
    n_bootstrap: int = option(2000, "Bootstrap resamples behind each confidence interval.")
    margin: float = option(
        0.05, "Smallest effect that matters, on the primary metric's scale; inside it the verdict is 'absent'."
    )
    seeds: int = option(1, "Independent replicates (fine-tune or sampling seeds) where the study repeats itself.")

    def __post_init__(self) -> None:
        require(self.n_bootstrap >= 1, "n_bootstrap", "must be at least 1")
        require(self.margin >= 0, "margin", "must not be negative")
        require(self.seeds >= 1, "seeds", "must be at least 1")


@dataclass
class FineTune:
    """One shared block of LoRA fine-tuning settings (the ``train`` section of the studies that fine-tune).

    The fields mirror the SFT trainer's settings that studies vary; the trainer's own defaults cover the rest."""

    epochs: float = option(1.0, "Passes over the training examples.")
    lora_r: int = option(16, "LoRA rank.")
    learning_rate: float = option(2e-4, "Peak learning rate.")
    batch_size: int = option(8, "Examples per optimizer step.")

    def __post_init__(self) -> None:
        require(self.epochs > 0, "epochs", "must be positive")
        require(self.lora_r >= 1, "lora_r", "must be at least 1")
        require(self.learning_rate > 0, "learning_rate", "must be positive")
        require(self.batch_size >= 1, "batch_size", "must be at least 1")

    def settings(self, seed: int, **extra: Any) -> dict[str, Any]:
        """The trainer's settings mapping for one fine-tune seeded with ``seed``."""
        return {**dataclasses.asdict(self), "seed": int(seed), **extra}


def fine_tune(**defaults: Any) -> Any:
    """A ``train`` field whose :class:`FineTune` defaults are this study's own."""
    return option(factory=lambda: FineTune(**defaults), help="Fine-tuning settings (LoRA) of this study.")


def help_texts(cls: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    """``(key, default, help)`` for every field of a config dataclass (or instance), nested sections flattened."""
    if not isinstance(cls, type):
        return _instance_help(cls, prefix)
    rows: list[tuple[str, str, str]] = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "???"
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            rows += [(k, d, h) for k, d, h in _instance_help(default, f"{key}.")]
            continue
        rows.append((key, repr(default), str(f.metadata.get("help", ""))))
    return rows


def _instance_help(obj: Any, prefix: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            rows += _instance_help(value, f"{prefix}{f.name}.")
        else:
            rows.append((f"{prefix}{f.name}", repr(value), str(f.metadata.get("help", ""))))
    return rows


def typed(section: DictConfig, key: str) -> Any:
    """The config dataclass instance behind ``section`` (``OmegaConf.to_object``), with range checks run.

    A check that fails is a :class:`UserError` naming the full key (``studies.<study>.<field>``, or
    ``studies.<study>.train.<field>`` inside a nested section)."""
    for name in section:  # nested sections first, so a failed check names its own path
        node = section[name]
        if isinstance(node, DictConfig) and dataclasses.is_dataclass(OmegaConf.get_type(node)):
            typed(node, f"{key}.{name!s}")
    try:
        return OmegaConf.to_object(section)
    except ConfigValueError as exc:
        raise UserError(f"bad value for config key '{key}.{exc.key}': {exc.message}") from None
    except OmegaConfBaseException as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ConfigValueError):
            raise UserError(f"bad value for config key '{key}.{cause.key}': {cause.message}") from None
        raise UserError(f"config error at {key!r}: {str(exc).splitlines()[0]}") from None


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


def _is_text_field(base: DictConfig, key: str) -> bool:
    """Whether the dotted ``key`` names a field typed ``str`` in the structured config ``base``."""
    node: Any = base
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return False
        node = node._get_node(part)
    return isinstance(node, StringNode)


def _keep_text(cli: DictConfig, base: DictConfig, overrides: list[str]) -> None:
    """Give each override of a ``str`` field its text as written: the dotlist parser reads a run id such as
    ``044812e9`` or a model name such as ``1e3`` as a number, and ``true`` as a bool."""
    for item in overrides:
        key, _, text = item.partition("=")
        key = key.strip()
        if _is_text_field(base, key) and not isinstance(OmegaConf.select(cli, key), str | None):
            OmegaConf.update(cli, key, text.strip(), merge=False)


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
    _keep_text(cli, base, overrides)
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
    check_studies(cfg)
    return cfg


def check_studies(cfg: DictConfig) -> None:
    """Run every enabled study config's range checks now, so bad values exit 2 before any run is created."""
    for name in cfg.studies:
        if cfg.studies[name].enabled:
            typed(cfg.studies[name], f"studies.{name}")


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
