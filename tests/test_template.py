"""The plugin template (templates/study-plugin) works as a plugin author gets it: copied, installed, listed, run.

It is installed with ``pip install --no-deps --target`` into a throwaway folder put on ``PYTHONPATH``, so the
project environment is left as it was; its own tests then run there, including its ``platform run`` on a tiny
random model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "study-plugin"


def test_the_template_installs_lists_and_runs(tmp_path: Path) -> None:
    copy = tmp_path / "my-reflection-study"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(copy),
        ],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = str(site)
    env["OMP_NUM_THREADS"] = "1"
    platform = str(Path(sys.executable).parent / "platform")

    listed = subprocess.run([platform, "list"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "my-inquiry" in listed.stdout and "[my-reflection-study]" in listed.stdout
    assert "my-inquiry/answer_fit" in listed.stdout

    plan = subprocess.run(
        [platform, "plan", "my-inquiry", "preset=smoke", "model.name=/no/such/model"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert plan.returncode == 2 and "model path not found" in plan.stderr  # typed config and checks apply to it

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(copy / "tests")],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert "5 passed" in tests.stdout
