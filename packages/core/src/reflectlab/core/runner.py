"""Run an inquiry (or one of its studies): config -> MLflow parent run -> one nested run per study.

A study that raises is logged as FAILED with its traceback and the others still run (exit code 1); bad input
(:class:`UserError`) stops the run (exit code 2). An interrupt (SIGINT or SIGTERM) marks the parent run and the
study that was running KILLED and raises :class:`RunInterrupted`; finished studies are logged as they finish, so
nothing finished is lost. ``resume=<run id|latest>`` reopens such a run with its logged config: studies that
FINISHED are skipped (their findings are read back), the others run again in new study runs under the same parent,
and their model calls that had completed are answered by the content cache.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from reflectlab.core.atomic import is_disk_full, stopped_by_full_disk
from reflectlab.core.cache import Cache
from reflectlab.core.config import build_config, flatten, typed
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding, stamp, write_findings
from reflectlab.core.inquiry import Inquiry, RunContext
from reflectlab.core.models.loader import resolve_path
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.plan import PlanContext, Work, cached_throughput, estimate_seconds, measure_throughput
from reflectlab.core.progress import study_progress
from reflectlab.core.tracking import (
    TAG_INQUIRY,
    TAG_KIND,
    TAG_MODEL,
    TAG_PRESET,
    TAG_RESUMED,
    TAG_STUDY,
    Tracker,
)

#: Config keys a resumed run may take from the command line even where they differ from the logged config:
#: ``resume`` itself and where the results live (the same store may be reached by another path).
RESUME_FREE_KEYS = ("resume", "results_dir")


@dataclass
class RunResult:
    run_id: str
    findings: list[Finding] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    results_dir: Path = Path(".")
    tracking_uri: str = ""
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # studies a resumed run found FINISHED


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM, after its MLflow runs were marked KILLED.

    ``exit_code`` follows the shell's convention (128 + signal number); ``resume_hint`` is the command that
    continues the run."""

    def __init__(self, run_id: str, resume_hint: str, signum: int = signal.SIGINT) -> None:
        super().__init__(run_id)
        self.run_id = run_id
        self.resume_hint = resume_hint
        self.exit_code = 128 + int(signum)


@contextmanager
def _interruptible() -> Iterator[list[int]]:
    """Turn SIGTERM (what schedulers and ``kill`` send) into the same KeyboardInterrupt as SIGINT, once.

    A second signal while the runs are being marked KILLED is ignored, so the store is never left half-written
    (SIGKILL still stops the process). Yields a list that receives the number of the signal that arrived. Only
    the main thread can own signal handlers; elsewhere (a run started from a worker thread) nothing changes."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, _frame: Any) -> None:
        if received:
            return
        received.append(signum)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def get_inquiry(name: str) -> Inquiry:
    from reflectlab.core.registry import inquiries

    cls = inquiries.get(name)
    inquiry = cls() if isinstance(cls, type) else cls
    if not isinstance(inquiry, Inquiry):
        raise UserError(f"inquiry {name!r} is registered but is not a reflectlab Inquiry")
    return inquiry


def _check_model(spec: ModelSpec) -> None:
    """Fail fast (exit 2) on a model that cannot be resolved, before any run is opened."""
    from reflectlab.core.registry import backends

    backends.get(spec.backend).check_available()
    resolve_path(spec)


@dataclass
class StudyPlan:
    study: str
    work: Work | None
    seconds: float | None


def _resolve(target: str, overrides: list[str]) -> tuple[Inquiry, Any, ModelSpec, str, Any]:
    """The inquiry, its resolved config, the model spec, the study asked for, and the run to resume (or None)."""
    inquiry_name, _, study_name = target.partition("/")
    inquiry = get_inquiry(inquiry_name)
    cfg = build_config(inquiry.config_class(), inquiry.presets(), overrides, only_study=study_name or None)
    resumed = None
    if cfg.resume:
        cfg, resumed = _resumed_config(inquiry, cfg, overrides, study_name)
    spec = ModelSpec(**OmegaConf.to_container(cfg.model))  # type: ignore[arg-type]
    _check_model(spec)
    return inquiry, cfg, spec, study_name, resumed


def _resumed_config(inquiry: Inquiry, cli: DictConfig, overrides: list[str], study_name: str) -> tuple[Any, Any]:
    """The logged config of the run ``cli.resume`` names, and that run.

    A resumed run keeps the config it started with, so its finished and re-run studies belong together: an
    override that disagrees with it is refused (exit 2), naming the key."""
    from reflectlab.core.config import build_config_from

    tracker = Tracker(Path(cli.results_dir).expanduser().resolve())
    run = tracker.get_run(str(cli.resume), inquiry=inquiry.name)
    tags = run.data.tags
    if tags.get(TAG_KIND) != "inquiry" or tags.get(TAG_INQUIRY) != inquiry.name:
        raise UserError(f"run {run.info.run_id} is not a run of the inquiry {inquiry.name!r}; cannot resume it")
    text = tracker.read_text_artifact(run.info.run_id, "config.yaml")
    if text is None:
        raise UserError(f"run {run.info.run_id} has no logged config.yaml; cannot resume it")
    cfg = build_config_from(
        inquiry.config_class(), text, {key: cli[key] for key in RESUME_FREE_KEYS}, source=f"run {run.info.run_id}"
    )
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if key in RESUME_FREE_KEYS:
            continue
        now, then = OmegaConf.select(cli, key), OmegaConf.select(cfg, key)
        if str(now) != str(then):
            raise UserError(
                f"resume: {key}={now} differs from run {run.info.run_id[:8]}, which ran with {key}={then}; "
                "a resumed run keeps its config"
            )
    if study_name:
        enabled = [k for k in cfg.studies if cfg.studies[k].enabled]
        if enabled != [study_name]:
            raise UserError(
                f"resume: run {run.info.run_id[:8]} ran the studies {', '.join(enabled)}; resume it as "
                f"{inquiry.name}, not {inquiry.name}/{study_name}"
            )
    return cfg, run


def plan(target: str, overrides: list[str], *, measure: bool = True, echo: Any = None) -> list[StudyPlan]:
    """Each enabled study's model work and, from this machine's measured throughput, its wall time.

    With ``measure`` False only cached throughput is used (no estimate where none is cached)."""
    inquiry, cfg, spec, _, _ = _resolve(target, overrides)
    return _plan(inquiry, cfg, spec, measure=measure, echo=echo)


def _plan(inquiry: Inquiry, cfg: Any, spec: ModelSpec, *, measure: bool, echo: Any) -> list[StudyPlan]:
    from reflectlab.core.models.loader import load_model

    ctx = PlanContext(spec, int(cfg.seed))
    plans = []
    for key, study_cls in inquiry.studies.items():
        study_cfg = cfg.studies.get(key)
        if study_cfg is None or not study_cfg.enabled:
            continue
        work = study_cls().plan(typed(study_cfg, f"studies.{key}"), ctx)
        seconds = None
        if work is not None:
            rates = {}
            for name in work.per_model:
                model_spec = ctx.spec_for(name)
                if measure:
                    rates[name] = measure_throughput(model_spec, echo=echo)
                else:
                    found = cached_throughput(model_spec, load_model(model_spec).fingerprint)
                    if found is not None:
                        rates[name] = found
            if len(rates) == len(work.per_model):
                seconds = estimate_seconds(work, rates)
        plans.append(StudyPlan(f"{inquiry.name}/{key}", work, seconds))
    return plans


def _resume_hint(inquiry: Inquiry, run_id: str, cfg: Any) -> str:
    extra = "" if cfg.results_dir == "reflectlab-results" else f" results_dir={cfg.results_dir}"
    return f"platform run {inquiry.name} resume={run_id}{extra}"


def run(target: str, overrides: list[str], *, echo: Any = print) -> RunResult:
    inquiry, cfg, spec, study_name, resumed = _resolve(target, overrides)
    try:  # an estimate is logged beside each study's time when this machine's throughput is cached
        plans = {p.study: p for p in _plan(inquiry, cfg, spec, measure=False, echo=None)}
    except UserError:
        raise
    except Exception as exc:  # a broken plan() must not stop the run itself
        echo(f"  (no time estimates: {type(exc).__name__}: {exc})")
        plans = {}
    for name in cfg.studies:
        if name not in inquiry.studies:
            raise UserError(f"inquiry {inquiry.name!r} has no implementation for study {name!r}")

    results_dir = Path(cfg.results_dir).expanduser().resolve()
    tracker = Tracker(results_dir)
    experiment = cfg.experiment or f"reflectlab/{inquiry.name}"
    tags = {TAG_INQUIRY: inquiry.name, TAG_MODEL: spec.name, TAG_PRESET: str(cfg.preset)}
    run_label = f"{inquiry.name}{'/' + study_name if study_name else ''} · {spec.name} · {cfg.preset}"
    finished: dict[str, Any] = {}
    earlier_seconds = 0.0  # time the run spent before it was resumed
    cache = Cache(results_dir / "cache.sqlite") if cfg.cache else None  # a damaged file stops us before a run
    if resumed is None:
        parent = tracker.start(experiment, run_label, {**tags, TAG_KIND: "inquiry"})
        with tracker.staging() as stage:  # logged first, so a run killed at any later point can be resumed
            (stage / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
            tracker.log_artifacts(parent, stage)
        tracker.log_params(parent, flatten(cfg, exclude=RESUME_FREE_KEYS[:1]))
    else:
        parent = resumed.info.run_id
        finished = tracker.finished_studies(parent)  # marks runs a dead process left RUNNING as KILLED first
        earlier_seconds = float(resumed.data.metrics.get("wall_seconds", 0.0))
        tracker.reopen(parent, {TAG_RESUMED: str(int(resumed.data.tags.get(TAG_RESUMED, "0")) + 1)})
    result = RunResult(run_id=parent, results_dir=results_dir, tracking_uri=tracker.uri)
    started = time.time()
    models: dict[str, Any] = {}
    status = "FINISHED"
    echo(f"{'resuming run' if resumed is not None else 'run'} {parent} · {run_label}")
    with _interruptible() as received:
        try:
            with tracker.staging() as stage:
                for study_key in inquiry.studies:
                    study_cfg = cfg.studies.get(study_key)
                    if study_cfg is None or not study_cfg.enabled:
                        continue
                    done = finished.get(f"{inquiry.name}/{study_key}")
                    if done is not None:
                        result.findings += _finished_findings(tracker, done)
                        result.skipped.append(study_key)
                        echo(f"  study {inquiry.name}/{study_key} finished before (run {done.info.run_id}); skipped")
                        continue
                    result.findings += StudyRun(
                        tracker, experiment, parent, tags, inquiry, study_key, cfg, spec, cache, models, result,
                        echo, plans.get(f"{inquiry.name}/{study_key}"),
                    ).execute()  # fmt: skip
                write_findings(result.findings, stage / "findings.json")
                tracker.log_artifacts(parent, stage)
            if result.failed:
                status = "FAILED"
        except KeyboardInterrupt as exc:
            status = "KILLED"
            signum = received[0] if received else signal.SIGINT
            raise RunInterrupted(parent, _resume_hint(inquiry, parent, cfg), signum) from exc
        except (UserError, OSError) as exc:
            status = "FAILED"
            if is_disk_full(exc):  # one line that keeps the finished studies and says how to continue
                raise stopped_by_full_disk(exc, _resume_hint(inquiry, parent, cfg)) from None
            raise
        finally:
            result.seconds = time.time() - started
            tracker.log_metrics(parent, {"wall_seconds": earlier_seconds + result.seconds})
            tracker.end(parent, status)
            tracker.end_open("KILLED" if status == "KILLED" else "FAILED")  # a study an error cut short
            if cache is not None:
                cache.close()
    return result


def _finished_findings(tracker: Tracker, child: Any) -> list[Finding]:
    """The findings a FINISHED study run logged (empty when it logged none)."""
    records = tracker.read_json_artifact(child.info.run_id, "findings.json") or []
    return [Finding.from_dict(r) for r in records]


@dataclass
class StudyRun:
    """Everything one study's run needs from its parent run (the runner makes one per enabled study)."""

    tracker: Tracker
    experiment: str
    parent: str
    tags: dict[str, str]
    inquiry: Inquiry
    key: str
    cfg: Any  # the whole run's config
    spec: ModelSpec
    cache: Cache | None
    models: dict[str, Any]
    result: RunResult
    echo: Any
    plan: StudyPlan | None = None  # the study's planned work and, where this machine's rates are cached, seconds

    @property
    def estimate(self) -> float | None:
        return self.plan.seconds if self.plan is not None else None

    @property
    def name(self) -> str:
        """The study's one name: ``<inquiry>/<key>``."""
        return f"{self.inquiry.name}/{self.key}"

    def execute(self) -> list[Finding]:
        study_cls = self.inquiry.studies[self.key]
        study = study_cls()
        section = self.cfg.studies[self.key]
        study_cfg = typed(section, f"studies.{self.key}")
        tracker, echo = self.tracker, self.echo
        child = tracker.start(
            self.experiment, self.name, {**self.tags, TAG_KIND: "study", TAG_STUDY: self.name}, parent=self.parent
        )
        tracker.log_params(child, {f"study.{k}": v for k, v in flatten(section).items()})
        if self.estimate is not None:
            tracker.log_metrics(child, {"estimated_seconds": self.estimate})
        t0 = time.time()
        work0 = sum(m.work_tokens for m in self.models.values())
        status = "FINISHED"
        findings: list[Finding] = []
        with tracker.staging() as out_dir:
            ctx = RunContext(
                model_spec=self.spec,
                seed=int(self.cfg.seed),
                out_dir=out_dir,
                cache=self.cache,
                tracker=tracker,
                run_id=child,
                config=self.cfg,
                work_dir=self.result.results_dir / "work" / self.inquiry.name / self.key,
                study=self.name,
                _models=self.models,
            )
            try:
                echo(f"  study {self.name} ...")
                planned_tokens = self.plan.work.total_tokens() if self.plan is not None and self.plan.work else None
                with study_progress(self.name, planned_seconds=self.estimate, planned_tokens=planned_tokens):
                    found = study.run(ctx, study_cfg)
                findings = stamp(found, study=self.name, side=study_cls.side, model=self.spec.name)
                write_findings(findings, out_dir / "findings.json")
                metrics: dict[str, float] = {}
                for f in findings:
                    metrics[f.metric] = f.value
                    metrics[f"{f.metric}.ci_low"] = f.ci_low
                    metrics[f"{f.metric}.ci_high"] = f.ci_high
                tracker.log_metrics(child, metrics)
            except (KeyboardInterrupt, UserError):
                status = "KILLED" if sys.exc_info()[0] is KeyboardInterrupt else "FAILED"
                raise
            except Exception as exc:
                status = "FAILED"
                self.result.failed.append(self.key)
                (out_dir / "error.txt").write_text(traceback.format_exc())
                first = str(exc).splitlines()[0] if str(exc) else ""
                echo(f"  study {self.name} FAILED: {type(exc).__name__}: {first}")
            finally:
                seconds = time.time() - t0
                tracker.log_metrics(
                    child, {"wall_seconds": seconds, "model_work_tokens": float(ctx.model_work_tokens - work0)}
                )
                (out_dir / "timing.json").write_text(json.dumps({"wall_seconds": seconds}))
                tracker.log_artifacts(child, out_dir)
                tracker.end(child, status)
        if status == "FINISHED":
            echo(f"  study {self.name} done in {time.time() - t0:.0f}s: {len(findings)} findings")
        return findings
