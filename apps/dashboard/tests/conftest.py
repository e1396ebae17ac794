"""One results store for every dashboard test, filled once per session by real ``platform run`` smoke runs:

- ``introspection/concept_injection`` on the embedded SmolLM2 (about a minute on two CPU cores): findings,
  samples with verdicts;
- ``compounding`` with a self-training arm that does not exist: the recurrence study finishes (PNG plots, stepped
  metrics), the self-training study fails - a run that failed half-way;

then, through the same :class:`Tracker` the runner uses, a second model (a copy of the concept-injection run with
one sample's verdict and one finding changed, so that models can be compared side by side and paired) and a run
still in progress (the newest run; never ended).

Also here: :class:`Chromium`, the system's headless chromium driven over the DevTools protocol (with the installed
``websockets``), loopback only: background networking off and a resolver that finds no host but 127.0.0.1.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from reflectlab.core.testing import run_platform
from reflectlab.core.tracking import PARENT, TAG_INQUIRY, TAG_KIND, TAG_MODEL, TAG_PRESET, TAG_STUDY, Tracker
from reflectlab.dashboard.store import RESULTS_ENV

MODEL = "smollm2-135m-instruct"
SECOND = "planted-model"


def _study_run(tracker: Tracker, study: str, model: str = MODEL) -> str:
    runs = tracker.runs(f"tags.`{TAG_STUDY}` = '{study}' and tags.`{TAG_MODEL}` = '{model}'")
    assert runs, f"no {study} run for {model}"
    return str(runs[0].info.run_id)


def plant_second_model(tracker: Tracker, source: str, model: str = SECOND) -> str:
    """A finished copy of study run ``source`` for another model; returns the new study run's id."""
    src = tracker.client.get_run(source)
    parent_src = tracker.client.get_run(src.data.tags[PARENT])
    experiment = tracker.client.get_experiment(src.info.experiment_id).name
    tags = {TAG_INQUIRY: src.data.tags[TAG_INQUIRY], TAG_MODEL: model, TAG_PRESET: "smoke"}
    parent = tracker.start(experiment, f"planted · {model}", {**tags, TAG_KIND: "inquiry"})
    tracker.log_params(parent, {**parent_src.data.params, "model.name": model})
    study = src.data.tags[TAG_STUDY]
    child = tracker.start(experiment, study, {**tags, TAG_KIND: "study", TAG_STUDY: study}, parent=parent)
    tracker.log_params(child, dict(src.data.params))
    findings = tracker.read_json_artifact(source, "findings.json")
    for rec in findings:
        rec["model"] = model
        if rec["metric"] == "detection_vs_random":  # a recognition effect this model "shows"
            rec.update(value=0.75, ci_low=0.5, ci_high=1.0, n=40)
    with tracker.staging() as stage:
        samples_path = Path(tracker.client.download_artifacts(source, "samples.jsonl", str(stage)))
        samples = [json.loads(line) for line in samples_path.read_text().splitlines()]
        samples[0]["verdict"] = "named" if samples[0]["verdict"] != "named" else "not named"
        samples_path.write_text("".join(json.dumps(s) + "\n" for s in samples))
        (stage / "findings.json").write_text(json.dumps(findings))
        tracker.log_artifacts(child, stage)
    tracker.end(child)
    tracker.end(parent)
    return child


def plant_in_progress(tracker: Tracker, study: str = "introspection/temperature") -> str:
    """A ``platform run`` still going: the parent and one study run started, neither ended. Returns the parent."""
    inquiry = study.split("/")[0]
    tags = {TAG_INQUIRY: inquiry, TAG_MODEL: MODEL, TAG_PRESET: "smoke"}
    experiment = f"reflectlab/{inquiry}"
    parent = tracker.start(experiment, f"{inquiry} · {MODEL} · smoke", {**tags, TAG_KIND: "inquiry"})
    tracker.start(experiment, study, {**tags, TAG_KIND: "study", TAG_STUDY: study}, parent=parent)
    return parent


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The filled store's results folder (see the module docstring)."""
    work = tmp_path_factory.mktemp("dashboard-store")
    first = run_platform("run", "introspection/concept_injection", "preset=smoke", cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    failing = run_platform(
        "run", "compounding", "preset=smoke", "studies.self_training.verifiers=[no-such-arm]", cwd=work
    )
    # 1: the study raised (its traceback in error.txt); 2: without reflectlab-training the trainer lookup stops the
    # run. Either way the recurrence study finished first and the run failed half-way.
    assert failing.returncode in (1, 2), (failing.stdout[-2000:], failing.stderr[-2000:])
    folder = work / "reflectlab-results"
    tracker = Tracker(folder)
    plant_second_model(tracker, _study_run(tracker, "introspection/concept_injection"))
    plant_in_progress(tracker)
    return folder


@pytest.fixture
def store_env(results: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the app at the filled store (and never at a tracking server)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(RESULTS_ENV, str(results))
    yield results


@pytest.fixture
def empty_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the app at a results folder that does not exist."""
    folder = tmp_path / "nothing-here"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(RESULTS_ENV, str(folder))
    yield folder


# ---------------------------------------------------------------------------------------------- the browser
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One headless chromium with a fresh profile, and one page to drive."""

    def __init__(self, width: int = 1400, height: int = 2200, timeout: float = 30.0) -> None:
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("chromium is not installed: apps/dashboard/scripts/install-browser.sh")
        self.profile = Path(tempfile.mkdtemp(prefix="reflectlab-chromium-"))
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.port = self._devtools_port(timeout)
        self.ws: ClientConnection = connect(self._page_socket(timeout), max_size=None, open_timeout=timeout)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []  # DevTools events seen while waiting for replies
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")

    def _devtools_port(self, timeout: float) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.time() + timeout
        while time.time() < deadline:
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().splitlines()[0])
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.proc.returncode}")
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    def _page_socket(self, timeout: float) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as resp:
                targets = json.loads(resp.read())
            pages = [t for t in targets if t.get("type") == "page" and "webSocketDebuggerUrl" in t]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
            time.sleep(0.1)
        raise TimeoutError("chromium shows no page target")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events arriving meanwhile are skipped)."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if "method" in reply:
                self.events.append(reply)
            elif reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for so far (from ``Network.requestWillBeSent``)."""
        return [
            str(e["params"]["request"]["url"]) for e in self.events if e.get("method") == "Network.requestWillBeSent"
        ]

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def wait_for_text(self, *needles: str, timeout: float = 45.0, absent: tuple[str, ...] = ()) -> str:
        """Poll the rendered page's text until it holds every needle (and none of ``absent``); return it."""
        deadline = time.time() + timeout
        text = ""
        while time.time() < deadline:
            text = self.text()
            if all(n in text for n in needles) and not any(a in text for a in absent):
                return text
            time.sleep(0.25)
        missing = [n for n in needles if n not in text]
        raise TimeoutError(f"page text lacks {missing} after {timeout:.0f}s; it reads:\n{text[:3000]}")

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@pytest.fixture
def chromium() -> Iterator[Chromium]:
    if chromium_path() is None:
        pytest.skip("chromium is not installed: run apps/dashboard/scripts/install-browser.sh")
    with Chromium() as browser:
        yield browser
