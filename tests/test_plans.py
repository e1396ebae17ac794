"""Every built-in study's plan runs on its smoke and quick presets and counts work of the right kinds."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from reflectlab.core.plan import Throughput, estimate_seconds
from reflectlab.core.runner import plan

pytestmark = pytest.mark.slow  # every inquiry and preset planned with real tokenizers: about 20 s

INQUIRIES = ["introspection", "self-correction", "self-play", "compounding", "emergence"]
#: Studies whose model work is numpy only (closed forms and simulations).
NO_MODEL_WORK = {"compounding/recurrence"}
#: Rates for turning work into seconds (any positive figures do).
RATES = Throughput(decode=100.0, prefill=200.0, forward=200.0, train=50.0, load_s=1.0, step_s=0.3, step1_s=0.1,
                   project=1000.0)  # fmt: skip


@pytest.mark.parametrize("preset", ["smoke", "quick"])
@pytest.mark.parametrize("inquiry", INQUIRIES)
def test_each_study_plans_its_model_work(inquiry: str, preset: str) -> None:
    plans = plan(inquiry, [f"preset={preset}"], measure=False)
    assert plans, f"{inquiry} planned no study"
    for p in plans:
        assert p.work is not None, f"{p.study} has no plan"
        for name, w in p.work.per_model.items():
            counts = asdict(w)
            assert all(isinstance(v, int) and v >= 0 for v in counts.values()), (p.study, name, counts)
            assert w.scored_tokens <= w.forward_tokens, (p.study, name)
            assert w.decode_step_rows >= w.decode_steps, (p.study, name)
        if p.study in NO_MODEL_WORK:
            assert p.work.total_tokens() == 0
            continue
        assert p.work.total_tokens() > 0, p.study
        seconds = estimate_seconds(p.work, {name: RATES for name in p.work.per_model})
        assert seconds > 0, p.study


def test_more_work_plans_longer() -> None:
    """A size the study scales with moves its estimate: twice the GRPO steps, more small-batch decoding."""
    (few,) = plan("self-correction/offline_vs_online", ["studies.offline_vs_online.rl_steps=4"], measure=False)
    (many,) = plan("self-correction/offline_vs_online", ["studies.offline_vs_online.rl_steps=8"], measure=False)
    assert few.work is not None and many.work is not None
    m = next(iter(few.work.per_model))
    assert many.work.per_model[m].decode_steps == 2 * few.work.per_model[m].decode_steps > 0
    assert estimate_seconds(many.work, {m: RATES}) > estimate_seconds(few.work, {m: RATES})


def test_plan_shows_each_primary_findings_smallest_detectable_effect(capsys: pytest.CaptureFixture[str]) -> None:
    from reflectlab.core.cli import main

    # the recurrence study has no model work (no throughput to measure) and a simulator of its own
    assert main(["plan", "compounding/recurrence", "preset=quick", "--mde", "40"]) == 0
    header, row, _ = capsys.readouterr().out.splitlines()
    assert header.split()[-2:] == ["MDE(80%)", "primary"]
    assert row.startswith("compounding/recurrence") and row.endswith("verifier_gain (replicate)")
    assert 0 < float(row.split()[-3]) < 0.05  # its calibration finds about 0.02 at the quick preset
