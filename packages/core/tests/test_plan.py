"""The planner: what it measures on a model, what it caches, and how work turns into seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.plan import (
    MEASURE_VERSION,
    TRAIN_RUN_OVERHEAD_S,
    Throughput,
    Work,
    estimate_seconds,
    measure_throughput,
)


def test_estimate_prices_each_kind_of_work_at_its_own_rate() -> None:
    work = Work()
    work.generate("m", sequences=4, prompt_tokens=400, new_tokens_each=50)  # 400 prefill, 200 decoded
    work.forward("m", 300, scored=100)
    work.train("m", 120, runs=2)
    work.small_batch_decode("m", steps=10, prompt_tokens=100, batch=3)
    rates = {
        "m": Throughput(
            decode=100.0, prefill=250.0, forward=150.0, train=40.0, load_s=1.5, step_s=0.45, step1_s=0.1, project=50.0
        )
    }
    expected = (
        1.5 + 500 / 250 + 200 / 100 + 10 * (0.1 + 2 * 0.05) + 300 / 150 + 100 / 50 + 120 / 40 + 2 * TRAIN_RUN_OVERHEAD_S
    )
    assert estimate_seconds(work, rates) == pytest.approx(expected)
    assert work.per_model["m"].decode_steps == 10 and work.total_tokens() == 500 + 200 + 300 + 120


def test_throughput_is_measured_once_and_cached_under_the_measure_version(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLECTLAB_HOME", str(tmp_path))
    spec = ModelSpec(name=str(tiny_dir), batch_size=8)
    first = measure_throughput(spec)
    for rate in (first.decode, first.prefill, first.forward, first.project, first.train, first.step_s, first.step1_s):
        assert rate > 0
    cached = json.loads((tmp_path / "throughput.json").read_text())
    assert list(cached) == [first.key] and first.key.startswith(f"v{MEASURE_VERSION}|")
    # A second call reads the cache (a changed entry shows it was not measured again); refresh measures anew.
    cached[first.key]["train"] = 12345.0
    (tmp_path / "throughput.json").write_text(json.dumps(cached))
    assert measure_throughput(spec).train == 12345.0
    assert measure_throughput(spec, refresh=True).train != 12345.0
