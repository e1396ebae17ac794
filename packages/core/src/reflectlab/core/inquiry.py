"""The plugin interfaces: an :class:`Inquiry` is a line of inquiry made of :class:`Study` objects.

A study gets a :class:`RunContext` (model loader, cache, tracker, seed, output folder, shared steps such as
:meth:`RunContext.fine_tune`) and its own typed config (an instance of the study's
:class:`~reflectlab.core.config.StudyConfig` subclass), and returns
:class:`~reflectlab.core.findings.Finding` records. A study has one name, its key in :attr:`Inquiry.studies`
(``<inquiry>/<key>``, as on the command line); the runner stamps it, the study's side and the model on each
finding. A third-party package registers an Inquiry subclass under the ``reflectlab.inquiries`` entry-point group.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from omegaconf import DictConfig, OmegaConf

from reflectlab.core.cache import Cache
from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import FineTune, StudyConfig
from reflectlab.core.contracts import TrainedModel
from reflectlab.core.findings import Finding
from reflectlab.core.models.base import Model
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.tracking import Tracker, write_jsonl

#: The keys every record of a study's ``samples.jsonl`` has (``None`` where a study has no such thing); anything
#: else a study logs goes under ``extras``. ``unit`` is the independent replicate the sample belongs to (topic,
#: concept, problem, prompt, seed ...), ``item`` the sample's own id within it, ``arm`` the condition or model arm.
SAMPLE_KEYS = ("study", "unit", "item", "arm", "model", "prompt", "output", "score", "verdict", "seed")


def sample_record(
    record: Mapping[str, Any], *, study: str = "", model: str = "", seed: int | None = None
) -> dict[str, Any]:
    """One ``samples.jsonl`` record: the :data:`SAMPLE_KEYS` first, the study's other fields under ``extras``."""
    out: dict[str, Any] = {k: record.get(k) for k in SAMPLE_KEYS}
    defaults = {"study": study or None, "model": model or None, "seed": seed}
    for k, v in defaults.items():
        if out[k] is None:
            out[k] = v
    extras = dict(record.get("extras") or {})
    extras.update({k: v for k, v in record.items() if k not in SAMPLE_KEYS and k != "extras"})
    out["extras"] = extras
    return out


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
    study: str = ""  # "<inquiry>/<key>", the study's one name
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

    def log_samples(self, records: Iterable[Mapping[str, Any]], name: str = "samples.jsonl") -> int:
        """Append per-sample records to an artifact of this study's run.

        ``samples.jsonl`` records share one layout (:func:`sample_record`: the :data:`SAMPLE_KEYS`, then ``extras``),
        so the sample browser and a re-scoring script read every study alike; other files are written as given."""
        rows: Iterable[dict[str, Any]] = (dict(r) for r in records)
        if name == "samples.jsonl":
            model = self.model_spec.name
            rows = (sample_record(r, study=self.study, model=model, seed=self.seed) for r in rows)
        return write_jsonl(rows, self.out_dir / name)

    def fine_tune(
        self,
        examples: Sequence[Any],
        settings: FineTune | Mapping[str, Any],
        tag: str,
        *,
        base: ModelSpec | None = None,
        seed: int | None = None,
        trainer: str = "sft",
        **extra: Any,
    ) -> Model:
        """Fine-tune ``base`` (default: the model under study) on ``examples`` and return the trained model.

        The one shared step behind every study that fine-tunes: the trainer (``sft`` unless named) keeps its
        output in a content-keyed folder under this study's persistent folder (a re-run with the same inputs
        reuses it), the step metrics are logged as ``<tag>/<name>``, and the adapter is copied into the run's
        artifacts under ``adapters/<tag>``. ``settings`` is a :class:`FineTune` block (seeded with ``seed``, by
        default the run's) or the trainer's own settings mapping; ``extra`` adds trainer settings. :meth:`train`
        is the same step for any trainer, returning the trainer's result instead of the loaded model."""
        if isinstance(settings, FineTune):
            values = settings.settings(self.seed if seed is None else seed, **extra)
        else:
            values = {**dict(settings), **extra}
        return self.model(self.train(examples, values, tag, trainer=trainer, base=base).spec)

    def train(
        self, data: Any, settings: Any, tag: str, *, trainer: str = "sft", base: ModelSpec | None = None, **kwargs: Any
    ) -> TrainedModel:
        """Train ``base`` (default: the model under study) with a registered trainer, as :meth:`fine_tune` does
        (content-keyed folder under ``fine-tunes/<tag>``, step metrics as ``<tag>/<name>``, the adapter copied to
        ``adapters/<tag>``), and return the trainer's result: its ``spec`` loads the trained model, and the built-in
        trainers' results also say how training went (steps, loss, run time).

        ``data`` and ``settings`` are the trainer's own (the ``rl`` trainer takes ``(prompts, reward)`` and its
        ``RLSettings``); ``kwargs`` go to the trainer's ``train`` (e.g. the ``rl`` trainer's ``reward_key``)."""
        from reflectlab.core.registry import trainers

        spec = base or self.model_spec

        def sink(metrics: Mapping[str, float], step: int) -> None:
            self.log_metrics({f"{tag}/{k}": v for k, v in metrics.items()}, step=step)

        folder = self.persistent_dir("fine-tunes", tag)
        result = trainers.get(trainer).train(spec, data, settings, folder, sink, keyed=True, **kwargs)
        adapter = self.out_dir / "adapters" / tag
        if result.spec.adapter and not adapter.exists():
            shutil.copytree(result.spec.adapter, adapter, ignore=shutil.ignore_patterns("*.partial"))
        return result

    @property
    def model_work_tokens(self) -> int:
        return sum(m.work_tokens for m in self._models.values())


C = TypeVar("C", bound=StudyConfig)


class Study(ABC, Generic[C]):
    """One experiment: build data -> generate/score -> verify -> measure -> findings.

    Generic in its config dataclass: ``class MyStudy(Study[MyConfig])`` receives a ``MyConfig`` instance, its
    fields already typed and range-checked (``__post_init__``). The study's name is its key in its inquiry."""

    side: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def run(self, ctx: RunContext, cfg: C) -> list[Finding]:
        """Run with this study's config and return its findings."""

    def plan(self, cfg: C, ctx: PlanContext) -> Work | None:
        """The model work ``run`` will do, in tokens per model (for ``platform plan``); None if unknown."""
        return None

    def simulator(self, cfg: C) -> Simulator | None:
        """Simulated raw data for this study's ``measure()`` at this config's sizes, under the null or a planted
        effect (for ``platform calibrate``); None when the study has none yet."""
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
