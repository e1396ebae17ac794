"""``platform dashboard`` (loopback by default, the pip line when the dashboard is missing) and the exports of
``platform synthesize`` over the session's store."""

from __future__ import annotations

import csv
import importlib.util
import io
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reflectlab.core import cli
from reflectlab.core.synthesis import CSV_COLUMNS, collect
from reflectlab.core.tracking import Tracker
from reflectlab.dashboard import LOOPBACK, streamlit_command


def _option(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_binds_loopback_unless_asked() -> None:
    cmd = streamlit_command()
    assert _option(cmd, "--server.address") == LOOPBACK == "127.0.0.1"
    assert _option(cmd, "--browser.gatherUsageStats") == "false"
    assert "--browser.serverAddress" not in cmd
    wide = streamlit_command("0.0.0.0", 9000)
    assert _option(wide, "--server.address") == "0.0.0.0" and _option(wide, "--server.port") == "9000"
    assert "--browser.serverAddress" in wide  # so Streamlit does not look up a public address on the internet


def test_dashboard_command_passes_host_port_and_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    class FakePopen:
        def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
            seen.update(cmd=cmd, env=env)

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    assert cli.main(["dashboard", "--results-dir", str(tmp_path), "--port", "8765"]) == 0
    assert _option(seen["cmd"], "--server.address") == "127.0.0.1"
    assert _option(seen["cmd"], "--server.port") == "8765"
    assert seen["env"]["REFLECTLAB_RESULTS_DIR"] == str(tmp_path.resolve())
    assert cli.main(["dashboard", "--host", "0.0.0.0"]) == 0
    assert _option(seen["cmd"], "--server.address") == "0.0.0.0"


@pytest.mark.parametrize("missing", ["streamlit", "reflectlab.dashboard"])
def test_missing_dashboard_gives_the_pip_line(
    missing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == missing else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert cli.main(["dashboard"]) == 2
    err = capsys.readouterr().err
    assert "pip install reflectlab-dashboard" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_synthesize_exports_over_real_runs(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synth = collect(Tracker(results))

    def synthesize(*args: str) -> str:
        assert cli.main(["synthesize", "--results-dir", str(results), *args]) == 0
        return capsys.readouterr().out

    table = synthesize()
    for m in synth.studied:
        assert f"model {m.model}: headline {m.headline().upper()}" in table

    md = synthesize("--format", "md")
    assert md.startswith("# Synthesis: recognition vs correction")
    assert "## Models side by side" in md
    for m in synth.studied:
        assert f"| {m.model} |" in md and f"**{m.headline()}**" in md

    rows = list(csv.DictReader(io.StringIO(synthesize("--format", "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == sum(len(m.all_findings()) for m in synth.models.values())
    assert {r["model"] for r in rows} == set(synth.models)

    assert cli.main(["synthesize", "--results-dir", str(results), "--format", "xlsx"]) == 2
    assert "invalid choice" in capsys.readouterr().err
