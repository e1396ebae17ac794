"""The real thing: ``platform dashboard`` serves the app on loopback, Debian's headless chromium (driven through
Playwright; no browser download) renders the synthesis page, and the test reads the rendered text and takes a
screenshot."""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest

from reflectlab.core.synthesis import collect
from reflectlab.core.tracking import Tracker

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

#: Chromium switches beside Playwright's own: no GPU, /tmp instead of /dev/shm, and a resolver that finds no host
#: but 127.0.0.1, so the page cannot reach anything off this machine.
FLAGS = ["--disable-gpu", "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


def system_chromium() -> str | None:
    """The chromium the system installed (apps/dashboard/scripts/install-browser.sh); Playwright's own browser
    builds are never used."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def page() -> Iterator[Page]:
    """One page of a headless system chromium with a fresh profile, 1400 x 2200 CSS pixels."""
    exe = system_chromium()
    if exe is None:
        pytest.skip("chromium is not installed: run apps/dashboard/scripts/install-browser.sh")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev tool: scripts/setup.sh --dev")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=exe, headless=True, args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 2200})
        finally:
            browser.close()


def wait_for_text(page: Page, *needles: str, timeout: float) -> str:
    """Wait until the rendered page's text holds every needle; return it."""
    try:
        page.wait_for_function(
            "needles => document.body !== null && needles.every(n => document.body.innerText.includes(n))",
            arg=list(needles),
            timeout=timeout * 1000,
        )
    except Exception as exc:  # Playwright's TimeoutError: say what the page shows instead
        text = page.inner_text("body")
        missing = [n for n in needles if n not in text]
        raise AssertionError(f"page text lacks {missing} after {timeout:.0f}s; it reads:\n{text[:3000]}") from exc
    return page.inner_text("body")


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


def test_synthesis_page_in_a_real_browser(served: str, results: Path, page: Page, tmp_path: Path) -> None:
    synth = collect(Tracker(results))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(served + "/")
    # Wait until the page has rendered the synthesis, down to its last section.
    wait_for_text(
        page, "Synthesis: recognition vs correction", "Headline hypothesis", "Findings", "Not counted", timeout=60
    )
    page.wait_for_timeout(1500)  # let the charts draw before the screenshot
    shot = tmp_path / "synthesis.png"
    width, height = png_size(page.screenshot(path=shot))
    assert width >= 1200 and height >= 1500 and shot.stat().st_size > 50_000
    text = page.inner_text("body")
    assert "Traceback" not in text and "Could not read" not in text
    for m in synth.studied:  # each model's card, with the verdict core computes for it
        assert re.search(re.escape(m.model) + r"\s+Headline: " + m.headline(), text), m.model
        for c in m.clauses():
            assert f"{c.text}: {c.verdict} - {c.reason}" in text
    for side in ("Recognition", "Correction", "Self-signal"):
        assert f"{side} (the hypothesis expects:" in text
    assert "No correction findings yet" in text
    assert "★ concept_injection · detection_vs_random" in text  # an axis label of the rendered map (SVG text)
    assert "still running" in text
    assert requested and all(
        u.startswith(("data:", "blob:")) or urlparse(u).hostname == "127.0.0.1" for u in requested
    ), [u for u in requested if urlparse(u).hostname != "127.0.0.1"]
    keep = os.environ.get("REFLECTLAB_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / "synthesis.png").write_bytes(shot.read_bytes())
