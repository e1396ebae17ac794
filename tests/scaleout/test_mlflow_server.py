"""A team's shared store: a run tracked on an ``mlflow server`` through ``MLFLOW_TRACKING_URI``, read back with
MLflow's own client (findings and artifacts go through the server's artifact proxy, nothing lands locally)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

START_LIMIT_S = 180  # a guard against a hung test, not a measurement


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 with a SQLite store and proxied artifacts under ``tmp_path``; its URL."""
    port = _free_port()
    store = tmp_path / "server"
    store.mkdir()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (store / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination",
            str(store / "artifacts"),
        ],
        cwd=store,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers stop with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_LIMIT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited ({proc.returncode}):\n{(store / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer:\n{(store / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_a_run_against_a_tracking_server_reads_back(tmp_path: Path, tiny_dir: Path, mlflow_server: str) -> None:
    import mlflow.artifacts
    from mlflow.tracking import MlflowClient

    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "OMP_NUM_THREADS": "1"}
    platform = str(Path(sys.executable).parent / "platform")
    done = subprocess.run(
        [platform, "run", "example", "preset=smoke", f"model.name={tiny_dir}"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"MLflow store {mlflow_server}" in done.stdout
    assert not (work / "reflectlab-results" / "mlflow.db").exists() and not (work / "mlruns").exists()

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("reflectlab/example")
    assert experiment is not None and experiment.artifact_location.startswith("mlflow-artifacts:")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`reflectlab.kind` = 'inquiry'")
    assert parent.info.status == "FINISHED"
    assert parent.data.params["studies.greedy_vs_sampled.n_prompts"] == "4"
    (child,) = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert child.info.status == "FINISHED" and "logprob_gap" in child.data.metrics

    import json

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=child.info.run_id, artifact_path="findings.json", dst_path=tmp, tracking_uri=mlflow_server
        )
        findings = json.loads(Path(path).read_text())
    assert findings[0]["metric"] == "logprob_gap"
    assert findings[0]["value"] == pytest.approx(child.data.metrics["logprob_gap"])

    # The platform's own readers take the same server.
    show = subprocess.run([platform, "show", "latest"], cwd=work, env=env, capture_output=True, text=True)
    assert show.returncode == 0 and "logprob_gap" in show.stdout, show.stderr
