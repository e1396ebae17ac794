"""Every bad-input path exits 2 with one line on stderr and no traceback."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from reflectlab.core.testing import run_platform as platform

pytestmark = pytest.mark.slow  # each case starts `platform` in a subprocess (3-7 s each)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "nosuch"], "unknown inquiry 'nosuch'"),
        (["run", "introspectoin"], "did you mean 'introspection'"),
        (["run", "introspection", "nokey=1"], "unknown config key 'nokey'"),
        (
            ["run", "introspection", "studies.temperature.n_topicz=3"],
            "unknown config key 'studies.temperature.n_topicz'",
        ),
        (["run", "introspection", "seed=abc"], "bad value for config key 'seed'"),
        (["run", "introspection", "preset=huge"], "unknown preset 'huge'"),
        (["run", "introspection/nosuch"], "unknown study 'nosuch'"),
        (["run", "introspection", "model.name=/no/such/model"], "model path not found: /no/such/model"),
        (["run", "introspection", "model.backend=vlm"], "unknown backend 'vlm'; did you mean 'vllm'"),
        (["run", "introspection", "seed"], "not of the form key=value"),
        (["show", "nosuchrun"], "no run"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    out = platform(*args, cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert expected in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_vllm_missing_gives_the_pip_line(tmp_path: Path) -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here; the GPU check covers the backend")
    out = platform("run", "introspection", "model.backend=vllm", cwd=tmp_path)
    assert out.returncode == 2
    assert "pip install 'reflectlab-core[vllm]'" in out.stderr
    assert not (tmp_path / "reflectlab-results").exists()  # refused before any run was opened


def test_a_model_folder_without_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty-model").mkdir()
    out = platform("run", "introspection", f"model.name={tmp_path / 'empty-model'}", cwd=tmp_path)
    assert out.returncode == 2 and "has no config.json" in out.stderr


def test_help_and_models(tmp_path: Path) -> None:
    assert platform("--help", cwd=tmp_path).returncode == 0
    models = platform("models", cwd=tmp_path)
    assert models.returncode == 0
    assert "smollm2-135m-instruct" in models.stdout and "gemma3-270m" in models.stdout
