"""MLflow tracking: one parent run per ``platform run``, one nested run per study.

Default store: SQLite at ``<results_dir>/mlflow.db`` with artifacts under ``<results_dir>/artifacts``; a set
``MLFLOW_TRACKING_URI`` (a shared tracking server) wins. Uses ``MlflowClient`` only, so no global "active run"
state leaks between studies. MLflow's telemetry is turned off when the first :class:`Tracker` is made (importing
this module leaves the environment alone).

This module is also the one reader of the run layout: the names below (:data:`FINDINGS_ARTIFACT`,
:data:`WALL_SECONDS`, ...) and the ``Tracker`` reading methods are what the CLI, the synthesis and the dashboard use.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflectlab.core.atomic import atomic_copy, atomic_write_bytes, disk_full, is_disk_full
from reflectlab.core.process import describe_process, process_alive, process_tags

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from reflectlab.core.findings import Finding

#: The results folder when none is given (``platform ... --results-dir``, ``results_dir=``).
DEFAULT_RESULTS_DIR = "reflectlab-results"
#: A study run's findings: a JSON list of :class:`~reflectlab.core.findings.Finding` records.
FINDINGS_ARTIFACT = "findings.json"
#: Metrics of a run's timing and work (not findings): seconds it ran, and tokens of model work it did.
WALL_SECONDS = "wall_seconds"
WORK_TOKENS = "model_work_tokens"
#: Environment MLflow reads when it is imported: no telemetry, no artifact progress bars (set only where unset).
MLFLOW_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}

TAG_KIND = "reflectlab.kind"  # "inquiry" (parent) or "study" (child)
TAG_INQUIRY = "reflectlab.inquiry"
TAG_STUDY = "reflectlab.study"
TAG_MODEL = "reflectlab.model"
TAG_PRESET = "reflectlab.preset"
TAG_RESUMED = "reflectlab.resumed"  # how many times a parent run was resumed
PARENT = "mlflow.parentRunId"


def quiet_mlflow(env: MutableMapping[str, str] | None = None) -> None:
    """Set :data:`MLFLOW_ENV` in ``env`` (this process's environment by default) where a key is unset; in this
    process, also drop a telemetry client an earlier ``import mlflow`` started."""
    target = os.environ if env is None else env
    for key, value in MLFLOW_ENV.items():
        target.setdefault(key, value)
    if env is None and "mlflow" in sys.modules:
        from mlflow.telemetry import get_telemetry_client, set_telemetry_client
        from mlflow.telemetry.utils import is_telemetry_disabled

        if is_telemetry_disabled() and get_telemetry_client() is not None:
            set_telemetry_client()


def wall_seconds(run: Any) -> float | None:
    """The seconds an MLflow run ran (its :data:`WALL_SECONDS` metric), or None before it has one."""
    value = run.data.metrics.get(WALL_SECONDS)
    return None if value is None else float(value)


def tracking_uri(results_dir: str | Path) -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path(results_dir).resolve() / 'mlflow.db'}"


class Tracker:
    """Thin layer over ``MlflowClient`` with the run layout reflectlab uses."""

    def __init__(self, results_dir: str | Path) -> None:
        import logging

        quiet_mlflow()
        from mlflow.tracking import MlflowClient

        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        self.results_dir = Path(results_dir).resolve()
        self.uri = tracking_uri(self.results_dir)
        self._open: dict[str, None] = {}  # runs this tracker opened (or reopened) and has not ended yet
        self._skipped: set[str] = set()  # runs whose unreadable findings.json was reported already
        if self.uri.startswith("sqlite:"):
            # Two first runs at once would both create the schema: the first to hold the lock creates it.
            with store_lock(self.results_dir):
                self.client = MlflowClient(tracking_uri=self.uri)
        else:
            self.client = MlflowClient(tracking_uri=self.uri)

    @property
    def local(self) -> bool:
        return not os.environ.get("MLFLOW_TRACKING_URI")

    def experiment_id(self, name: str, create: bool = True) -> str | None:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        if not create:
            return None
        location = (self.results_dir / "artifacts" / name.replace("/", "-")).as_uri() if self.local else None
        try:
            return str(self.client.create_experiment(name, artifact_location=location))
        except Exception:  # another process created it a moment ago
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def start(self, experiment: str, run_name: str, tags: dict[str, str], parent: str | None = None) -> str:
        tags = {**tags, **process_tags()}
        if parent:
            tags[PARENT] = parent
        run = self.client.create_run(self.experiment_id(experiment) or "0", run_name=run_name, tags=tags)
        self._open[run.info.run_id] = None
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start : start + 100])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        import math
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None and not math.isnan(v)]
        for start in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[start : start + 1000])

    def log_artifacts(self, run_id: str, folder: Path) -> None:
        """Copy ``folder``'s files into the run's artifacts; in a local store each file is written under a
        temporary name and renamed, so a crash never leaves a truncated artifact behind."""
        if not any(folder.iterdir()):
            return
        target = _local_path(self.client.get_run(run_id).info.artifact_uri)
        if target is None:
            self.client.log_artifacts(run_id, str(folder))
            return
        for src in sorted(p for p in folder.rglob("*") if p.is_file()):
            dst = target / src.relative_to(folder)
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                if is_disk_full(exc):
                    raise disk_full(dst.parent, exc) from exc
                raise
            atomic_copy(src, dst)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)
        self._open.pop(run_id, None)

    def end_open(self, status: str) -> list[str]:
        """End every run this tracker opened and has not ended (a study cut short by an error) with ``status``."""
        ended = list(self._open)
        for run_id in ended:
            self.end(run_id, status)
        return ended

    def reopen(self, run_id: str, tags: dict[str, str]) -> None:
        """Mark an ended run RUNNING again (a resumed run), with ``tags`` (and this process's) set on it."""
        self.client.update_run(run_id, status="RUNNING")
        for key, value in {**tags, **process_tags()}.items():
            self.client.set_tag(run_id, key, value)
        self._open[run_id] = None

    def reap(self, parent_id: str) -> list[str]:
        """Before a parent run is resumed: refuse (exit 2) when its process is still alive, and mark its study
        runs left RUNNING by a process that is gone KILLED. Returns the ids of the runs marked."""
        from reflectlab.core.errors import UserError

        parent = self.client.get_run(parent_id)
        if parent.info.status == "RUNNING" and process_alive(parent.data.tags):
            raise UserError(
                f"run {parent_id[:8]} is still running ({describe_process(parent.data.tags)}); "
                "wait for it or stop it before resuming it"
            )
        marked = []
        for child in self.children(parent_id):
            if child.info.status == "RUNNING" and not process_alive(child.data.tags):
                self.end(child.info.run_id, "KILLED")
                marked.append(child.info.run_id)
        return marked

    def finished_studies(self, parent_id: str) -> dict[str, Any]:
        """A parent run's FINISHED study runs whose findings read back, by study name (what a resumed run skips).

        First :meth:`reap` s the parent. A FINISHED run whose ``findings.json`` does not parse (a store damaged by
        hand or by an older, non-atomic write) is left out, so its study runs again."""
        from reflectlab.core.findings import findings_from_json

        self.reap(parent_id)
        out: dict[str, Any] = {}
        for child in self.children(parent_id):
            if child.info.status != "FINISHED":
                continue
            try:
                findings_from_json(self.read_text_artifact(child.info.run_id, FINDINGS_ARTIFACT) or "[]")
            except ValueError as exc:
                print(f"warning: run {child.info.run_id} runs again: its {FINDINGS_ARTIFACT} {exc}", file=sys.stderr)
                continue
            out[child.data.tags.get(TAG_STUDY)] = child
        return out

    def status_line(self, run: Any) -> str:
        """A run's status, telling a ``RUNNING`` run whose process is gone (killed without a word) from a live one."""
        status = str(run.info.status)
        if status != "RUNNING":
            return status
        who = describe_process(run.data.tags)
        alive = process_alive(run.data.tags)
        if alive is None:
            return f"RUNNING ({who}, liveness unknown)" if who else "RUNNING"
        if alive:
            return f"RUNNING ({who}, alive)"
        return f"DEAD (left RUNNING by {who}, which is gone)"

    @contextmanager
    def staging(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="reflectlab-") as tmp:
            yield Path(tmp)

    # ------------------------------------------------------------------ reading back
    def runs(self, filter_string: str = "", max_results: int = 1000) -> list[Any]:
        exps = [e.experiment_id for e in self.client.search_experiments()]
        if not exps:
            return []
        return list(
            self.client.search_runs(
                exps,
                filter_string=filter_string,
                max_results=max_results,
                order_by=["attributes.start_time DESC"],
            )
        )

    def get_run(self, run_ref: str, inquiry: str | None = None) -> Any:
        """A run by id, id prefix, run name, or ``latest`` (the newest parent run, of ``inquiry`` when given)."""
        from mlflow.exceptions import MlflowException

        from reflectlab.core.errors import UserError

        if run_ref == "latest":
            parents = self.parent_runs(inquiry, max_results=1)
            if not parents:
                raise UserError(f"no runs{f' of {inquiry}' if inquiry else ''} in {self.uri}")
            return parents[0]
        try:
            return self.client.get_run(run_ref)
        except MlflowException:
            pass
        matches = [r for r in self.runs() if r.info.run_id.startswith(run_ref) or r.info.run_name == run_ref]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UserError(f"no run {run_ref!r} in {self.uri}")
        raise UserError(f"{run_ref!r} matches {len(matches)} runs; give more of the run id")

    def parent_runs(self, inquiry: str | None = None, max_results: int = 5000) -> list[Any]:
        """``platform run`` runs (of one inquiry when given), newest first."""
        query = f"tags.`{TAG_KIND}` = 'inquiry'"
        if inquiry:
            query += f" and tags.`{TAG_INQUIRY}` = '{inquiry}'"
        return self.runs(query, max_results=max_results)

    def study_runs(self, parent_id: str | None = None, preset: str | None = None) -> list[Any]:
        """Study runs, newest first: of one parent run, of one preset, or all of them."""
        query = f"tags.`{TAG_KIND}` = 'study'"
        if parent_id:
            query += f" and tags.`{PARENT}` = '{parent_id}'"
        if preset:
            query += f" and tags.`{TAG_PRESET}` = '{preset}'"
        return self.runs(query, max_results=5000)

    def children(self, run_id: str) -> list[Any]:
        return self.runs(f"tags.`{PARENT}` = '{run_id}'")

    def run_by_id(self, run_id: str) -> Any | None:
        """The run with exactly this id, or None when the store has none (or cannot be read)."""
        try:
            return self.client.get_run(run_id)
        except Exception:
            return None

    def findings(self, run_id: str) -> list[Finding]:
        """A run's findings (its :data:`FINDINGS_ARTIFACT`); none for a run without one."""
        from reflectlab.core.findings import findings_from_json

        text = self.read_text_artifact(run_id, FINDINGS_ARTIFACT)
        if text is None:
            return []
        try:
            return findings_from_json(text)
        except ValueError as exc:  # a truncated or hand-edited file: skip the run, say so once
            if run_id not in self._skipped:
                self._skipped.add(run_id)
                print(f"warning: run {run_id} skipped: its {FINDINGS_ARTIFACT} {exc}", file=sys.stderr)
            return []

    def artifact_paths(self, run_id: str) -> list[str]:
        """Every artifact path of a run (recursively), sorted; a folder that cannot be listed is left out."""
        out: list[str] = []
        pending = [""]
        while pending:
            folder = pending.pop()
            try:
                entries = self.client.list_artifacts(run_id, folder or None)
            except Exception:
                continue
            for entry in entries:
                (pending if entry.is_dir else out).append(entry.path)
        return sorted(out)

    def artifact_bytes(self, run_id: str, path: str) -> bytes | None:
        """The bytes of one artifact of a run, or None when the run has no such artifact."""
        import mlflow.artifacts

        with tempfile.TemporaryDirectory(prefix="reflectlab-") as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=path, dst_path=tmp, tracking_uri=self.uri
                )
            except Exception:
                return None
            return Path(local).read_bytes()

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """Every (step, value) a run logged for one metric, sorted, without repeats."""
        return sorted({(int(m.step), float(m.value)) for m in self.client.get_metric_history(run_id, key)})

    def read_text_artifact(self, run_id: str, name: str) -> str | None:
        """The text of one artifact of a run, or None when the run has no such artifact."""
        data = self.artifact_bytes(run_id, name)
        return None if data is None else data.decode("utf-8", errors="replace")

    def read_json_artifact(self, run_id: str, name: str) -> Any:
        text = self.read_text_artifact(run_id, name)
        return None if text is None else json.loads(text)


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> int:
    """Append ``records`` to the JSONL file ``path``; the file is rewritten under a temporary name and renamed,
    so it always ends with a whole record."""
    lines = [json.dumps(r, default=str) + "\n" for r in records]
    before = path.read_bytes() if path.exists() else b""
    atomic_write_bytes(path, before + "".join(lines).encode())
    return len(lines)


def _local_path(uri: str) -> Path | None:
    """The folder of a ``file:`` artifact URI (or a plain path), or None for a remote artifact store."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


@contextmanager
def store_lock(results_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<results_dir>/mlflow.db.lock`` (created with the folder when missing).

    A folder that cannot be made or written is bad input: one line naming it, exit 2."""
    from reflectlab.core.errors import UserError

    lock_path = results_dir / "mlflow.db.lock"
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        fh = lock_path.open("a")
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(results_dir, exc) from exc
        raise UserError(
            f"cannot write the results folder {results_dir} ({exc.strerror or exc}); give a writable one with "
            "results_dir=<folder>"
        ) from None
    with fh:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): the schema creation is not serialised there
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
