"""reflectlab dashboard: a Streamlit app over the MLflow store the ``platform`` CLI writes.

Pages: the synthesis (recognition / correction / self-signal map and the headline verdict per model), one page
per inquiry (plots and stepped metrics of each study run), a run comparison, and a sample browser. Start it with
``platform dashboard`` (binds 127.0.0.1) or call :func:`launch`. Importing this package does not import Streamlit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from reflectlab.core.tracking import DEFAULT_RESULTS_DIR, quiet_mlflow
from reflectlab.dashboard.store import RESULTS_ENV

APP = Path(__file__).with_name("app.py")
LOOPBACK = "127.0.0.1"
WILDCARDS = ("0.0.0.0", "::", "")


def streamlit_command(host: str = LOOPBACK, port: int = 8501, *, open_browser: bool = False) -> list[str]:
    """The ``streamlit run`` command line for the app: bound to ``host``, no usage statistics, no file watcher."""
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "false" if open_browser else "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    if host in WILDCARDS:
        # Streamlit would look up this machine's public address on the internet to print it; name it instead.
        cmd += ["--browser.serverAddress", socket.gethostname()]
    return cmd


def launch(
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    host: str = LOOPBACK,
    port: int = 8501,
    *,
    open_browser: bool = False,
) -> int:
    """Serve the dashboard until interrupted; returns Streamlit's exit code (0 after Ctrl+C)."""
    env = dict(os.environ)
    env[RESULTS_ENV] = str(Path(results_dir).expanduser().resolve())
    quiet_mlflow(env)
    where = env.get("MLFLOW_TRACKING_URI") or env[RESULTS_ENV]
    print(f"reflectlab dashboard on http://{host}:{port} over {where} (Ctrl+C stops it)", flush=True)
    proc = subprocess.Popen(streamlit_command(host, port, open_browser=open_browser), env=env)
    previous = _on_sigterm(_interrupt)  # a SIGTERM to this process stops the server too, instead of orphaning it
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 0
    finally:
        if previous is not None:
            _on_sigterm(previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _on_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM and return the previous one (a no-op outside the main thread)."""
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None
