"""The plugin interfaces: an :class:`Inquiry` is a line of inquiry made of :class:`Study` objects.

A study gets a :class:`RunContext` (model loader, cache, tracker, seed, output folder) and its own config section,
and returns :class:`~reflectlab.core.findings.Finding` records. A third-party package registers an Inquiry
subclass under the ``reflectlab.inquiries`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from omegaconf import DictConfig, OmegaConf

from reflectlab.core.cache import Cache
from reflectlab.core.findings import Finding
from reflectlab.core.models.base import Model
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.tracking import Tracker, write_jsonl


@dataclass
class RunContext:
    """What a study may use. Everything random derives from ``seed``."""

    model_spec: ModelSpec
    seed: int
    out_dir: Path
    cache: Cache | None = None
    tracker: Tracker | None = None
    run_id: str | None = None
    config: DictConfig | None = None
    work_dir: Path | None = None
    _models: dict[str, Model] = field(default_factory=dict)

    def model(self, spec: ModelSpec | str | None = None) -> Model:
        """The model under study (no argument), or another model by spec or name; handles are shared."""
        from reflectlab.core.models.loader import load_model

        if spec is None:
            spec = self.model_spec
        elif isinstance(spec, str):
            spec = ModelSpec(
                name=spec,
                backend="hf",
                dtype=self.model_spec.dtype,
                device=self.model_spec.device,
                batch_size=self.model_spec.batch_size,
            )
        key = repr(spec)
        if key not in self._models:
            self._models[key] = load_model(spec, self.cache)
        return self._models[key]

    def persistent_dir(self, *parts: str) -> Path:
        """A folder that outlives the run (under the results folder), for products a re-run should reuse,
        such as trained adapters; falls back to the run's output folder when none is configured."""
        base = self.work_dir if self.work_dir is not None else self.out_dir / "work"
        path = base.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        if self.tracker is not None and self.run_id is not None:
            self.tracker.log_metrics(self.run_id, metrics, step=step)

    def log_samples(self, records: Iterable[dict[str, Any]], name: str = "samples.jsonl") -> int:
        """Append per-sample records (prompt, output, verdict, ...) to an artifact of this study's run."""
        return write_jsonl(records, self.out_dir / name)

    @property
    def model_work_tokens(self) -> int:
        return sum(m.work_tokens for m in self._models.values())


class Study(ABC):
    """One experiment: build data -> generate/score -> verify -> measure -> findings."""

    name: ClassVar[str]
    side: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def run(self, ctx: RunContext, cfg: Any) -> list[Finding]:
        """Run with this study's config section and return its findings."""

    def plan(self, cfg: Any, ctx: PlanContext) -> Work | None:
        """The model work ``run`` will do, in tokens per model (for ``platform plan``); None if unknown."""
        return None


class Inquiry:
    """A line of inquiry: a set of studies, their config dataclass and presets.

    Subclasses set ``name``, ``description``, ``studies`` (name -> Study class), ``studies_config`` (a dataclass
    with one field per study) and ``presets_resource`` (``(package, file)`` of a YAML with ``smoke``, ``quick``,
    ``full`` sections of overrides).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    studies: ClassVar[dict[str, type[Study]]] = {}
    studies_config: ClassVar[type]
    presets_resource: ClassVar[tuple[str, str] | None] = None

    def presets(self) -> dict[str, dict[str, Any]]:
        if self.presets_resource is None:
            return {"smoke": {}, "quick": {}, "full": {}}
        package, filename = self.presets_resource
        text = resources.files(package).joinpath(filename).read_text()
        data = OmegaConf.to_container(OmegaConf.create(text))
        assert isinstance(data, dict)
        return {str(k): (v or {}) for k, v in data.items()}

    def config_class(self) -> type:
        from reflectlab.core.config import config_class

        return config_class(self.name, self.studies_config)
