"""Each package installs alone: wheels of core and evals, built here, go into a fresh virtual environment.

There ``platform list`` must show exactly the components whose entry points those wheels declare (read from the
wheels, so the test stays right as packages gain components), and asking for an inquiry of a package that is not
installed must exit 2 with the ``pip install`` line. The fresh environment installs torch, transformers, mlflow
and the rest from pip's configured index and cache (minutes of CPU the first time; pip's cache makes it faster).
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"reflectlab-core": ROOT / "packages" / "core", "reflectlab-evals": ROOT / "packages" / "evals"}


def build_wheel(src: Path, out: Path, scratch: Path) -> Path:
    """``python -m build --wheel`` on a copy of ``src`` (the build leaves nothing in the source tree)."""
    copy = scratch / src.name
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(copy)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob(f"reflectlab_{src.name}-*.whl")
    return wheel


def fresh_env(venv: Path) -> dict[str, str]:
    """The environment of a process that runs in ``venv`` and sees nothing of the project's environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "MLFLOW_TRACKING_URI")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    return env


def wheel_components(wheel: Path) -> dict[str, set[tuple[str, str]]]:
    """``kind -> {(name, distribution)}`` from the ``reflectlab.*`` entry points a wheel declares."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        dist = next(
            line.split(":", 1)[1].strip() for line in zf.read(meta).decode().splitlines() if line.startswith("Name:")
        )
        eps = next((n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")), None)
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        if eps is not None:
            parser.read_string(zf.read(eps).decode())
    found: dict[str, set[tuple[str, str]]] = {}
    for section in parser.sections():
        if section.startswith("reflectlab."):
            found.setdefault(section.split(".", 1)[1], set()).update((name, dist) for name in parser[section])
    return found


def parse_list(text: str) -> dict[str, set[tuple[str, str]]]:
    """``platform list`` output back into ``kind -> {(name, distribution)}``."""
    found: dict[str, set[tuple[str, str]]] = {"inquiries": set()}
    lines = text.splitlines()
    assert lines[0] == "inquiries:", text
    for line in lines[1:]:
        if line.startswith("  ") and not line.startswith("    "):  # an inquiry line: "  name  description  [dist]"
            name = line.split()[0]
            found["inquiries"].add((name, line.rsplit("[", 1)[1].rstrip("]")))
        elif not line.startswith(" ") and ": " in line:
            kind, _, rest = line.partition(": ")
            found[kind] = set()
            if rest != "(none installed)":
                for item in rest.split(", "):
                    name, _, dist = item.partition(" [")
                    found[kind].add((name, dist.rstrip("]")))
    return found


def test_core_and_evals_install_alone(tmp_path: Path) -> None:
    wheels = [build_wheel(src, tmp_path / "dist", tmp_path / "src") for src in PACKAGES.values()]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    installed = subprocess.run(
        [*pip, "-c", str(ROOT / "constraints.txt"), "torch==2.13.0", *map(str, wheels)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    env = fresh_env(venv)
    names = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"], env=env, capture_output=True, text=True
    )
    dists = {line.split("==")[0].lower() for line in names.stdout.splitlines()}
    assert {d for d in dists if d.startswith("reflectlab")} == set(PACKAGES)  # nothing else of the monorepo came

    work = tmp_path / "work"
    work.mkdir()
    listed = subprocess.run([str(venv / "bin" / "platform"), "list"], cwd=work, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    expected: dict[str, set[tuple[str, str]]] = {
        k: set() for k in ("inquiries", "backends", "probes", "trainers", "verifiers")
    }
    for wheel in wheels:
        for kind, items in wheel_components(wheel).items():
            expected[kind] |= items
    assert expected["verifiers"] and expected["backends"]  # the check below compares something
    assert parse_list(listed.stdout) == expected

    missing = subprocess.run(
        [str(venv / "bin" / "platform"), "run", "compounding"], cwd=work, env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2, (missing.stdout, missing.stderr)
    assert "pip install reflectlab-selfplay" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr
    assert not (work / "reflectlab-results").exists()
