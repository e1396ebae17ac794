"""MLflow tracking: one parent run per ``platform run``, one nested run per study.

Default store: SQLite at ``<results_dir>/mlflow.db`` with artifacts under ``<results_dir>/artifacts``; a set
``MLFLOW_TRACKING_URI`` (a shared tracking server) wins. Telemetry is off. Uses ``MlflowClient`` only, so no
global "active run" state leaks between studies.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

TAG_KIND = "reflectlab.kind"  # "inquiry" (parent) or "study" (child)
TAG_INQUIRY = "reflectlab.inquiry"
TAG_STUDY = "reflectlab.study"
TAG_MODEL = "reflectlab.model"
TAG_PRESET = "reflectlab.preset"
TAG_RESUMED = "reflectlab.resumed"  # how many times a parent run was resumed
PARENT = "mlflow.parentRunId"


def tracking_uri(results_dir: str | Path) -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path(results_dir).resolve() / 'mlflow.db'}"


class Tracker:
    """Thin layer over ``MlflowClient`` with the run layout reflectlab uses."""

    def __init__(self, results_dir: str | Path) -> None:
        import logging

        from mlflow.tracking import MlflowClient

        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        self.results_dir = Path(results_dir).resolve()
        self.uri = tracking_uri(self.results_dir)
        if self.uri.startswith("sqlite:"):
            self.results_dir.mkdir(parents=True, exist_ok=True)
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
        return str(self.client.create_experiment(name, artifact_location=location))

    def start(self, experiment: str, run_name: str, tags: dict[str, str], parent: str | None = None) -> str:
        tags = dict(tags)
        if parent:
            tags[PARENT] = parent
        run = self.client.create_run(self.experiment_id(experiment) or "0", run_name=run_name, tags=tags)
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
        if any(folder.iterdir()):
            self.client.log_artifacts(run_id, str(folder))

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def reopen(self, run_id: str, tags: dict[str, str]) -> None:
        """Mark an ended run RUNNING again (a resumed run), with ``tags`` set on it."""
        self.client.update_run(run_id, status="RUNNING")
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)

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
            query = f"tags.`{TAG_KIND}` = 'inquiry'"
            if inquiry is not None:
                query += f" and tags.`{TAG_INQUIRY}` = '{inquiry}'"
            parents = self.runs(query, max_results=1)
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

    def children(self, run_id: str) -> list[Any]:
        return self.runs(f"tags.`{PARENT}` = '{run_id}'")

    def read_text_artifact(self, run_id: str, name: str) -> str | None:
        """The text of one artifact of a run, or None when the run has no such artifact."""
        import mlflow.artifacts

        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=name, dst_path=tmp, tracking_uri=self.uri
                )
            except Exception:
                return None
            return Path(path).read_text()

    def read_json_artifact(self, run_id: str, name: str) -> Any:
        text = self.read_text_artifact(run_id, name)
        return None if text is None else json.loads(text)


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> int:
    n = 0
    with path.open("a") as fh:
        for r in records:
            fh.write(json.dumps(r, default=str) + "\n")
            n += 1
    return n
