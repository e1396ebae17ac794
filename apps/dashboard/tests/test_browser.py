"""The real thing: ``platform dashboard`` serves the app on loopback, headless chromium renders the synthesis page,
and the test reads the rendered text (DevTools protocol) and takes a screenshot."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from reflectlab.core.synthesis import collect
from reflectlab.core.tracking import Tracker

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(results: Path, tmp_path: Path) -> Iterator[str]:
    """``platform dashboard`` on a free loopback port over the session's store; yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    log = (tmp_path / "server.log").open("w")
    exe = Path(sys.executable).parent / "platform"
    cmd = [str(exe), "dashboard", "--results-dir", str(results), "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 45
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the dashboard did not come up:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()  # the launcher stops Streamlit on SIGTERM
        proc.wait(timeout=20)
        log.close()
    assert f"URL: http://127.0.0.1:{port}" in (tmp_path / "server.log").read_text()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_synthesis_page_in_a_real_browser(served: str, results: Path, chromium: Any, tmp_path: Path) -> None:
    synth = collect(Tracker(results))
    chromium.navigate(served + "/")
    # Wait until the page has rendered the synthesis, down to its last section, and is done running.
    text = chromium.wait_for_text(
        "Synthesis: recognition vs correction", "Headline hypothesis", "Findings", "Not counted", timeout=60
    )
    time.sleep(1.5)  # let the charts draw before the screenshot
    shot = tmp_path / "synthesis.png"
    width, height = png_size(chromium.screenshot(shot))
    assert width >= 1200 and height >= 1500 and shot.stat().st_size > 50_000
    text = chromium.text()
    assert "Traceback" not in text and "Could not read" not in text
    for m in synth.studied:  # each model's card, with the verdict core computes for it
        assert re.search(re.escape(m.model) + r"\s+Headline: " + m.headline(), text), m.model
        for c in m.clauses():
            assert f"{c.text}: {c.verdict} - {c.reason}" in text
    for side in ("Recognition", "Correction", "Self-signal"):
        assert f"{side} (the hypothesis expects:" in text
    assert "No correction findings yet" in text
    assert "★ concept-injection · detection_vs_random" in text  # an axis label of the rendered map (SVG text)
    assert "still running" in text
    urls = chromium.requested_urls()
    assert urls and all(u.startswith(("data:", "blob:")) or urlparse(u).hostname == "127.0.0.1" for u in urls), [
        u for u in urls if urlparse(u).hostname != "127.0.0.1"
    ]
    keep = os.environ.get("REFLECTLAB_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / "synthesis.png").write_bytes(shot.read_bytes())
