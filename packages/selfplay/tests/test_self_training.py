"""Self-training: the measurement on planted rounds that follow (or break) the recurrence, and the loop on a tiny
model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.config import ConfigValueError, FineTune
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.spec import ModelSpec
from reflectlab.selfplay.compounding.recurrence import trajectory
from reflectlab.selfplay.compounding.self_training import RoundRecord, SelfTrainingConfig, SelfTrainingStudy

N = 400


def _correct(acc: float, rng: np.random.Generator) -> list[bool]:
    """Held-out correctness with exactly round(acc * N) right answers, shuffled."""
    k = round(acc * N)
    return list(rng.permutation([True] * k + [False] * (N - k)))


def _records(follow: bool, rounds: int = 4) -> tuple[np.ndarray, list[RoundRecord]]:
    """Arms whose accuracy follows the recurrence with k = 0.9 (or drifts up 0.15 a round when ``follow`` is off)."""
    rng = np.random.default_rng(0)
    a0, k = 0.5, 0.9
    base = np.array(_correct(a0, rng), dtype=float)
    records = []
    for arm, (r, f) in {"none": (1.0, 1.0), "exact": (1.0, 0.0), "corrupted": (0.8, 0.3)}.items():
        traj = trajectory(a0, r, f, k, rounds)
        for t in range(1, rounds + 1):
            acc = traj[t] if follow else min(1.0, a0 + 0.15 * t)
            prev = traj[t - 1]
            precision = prev * r / (prev * r + (1 - prev) * f)
            records.append(RoundRecord(arm, t, 50, precision if follow else acc / k, r, f, prev, _correct(acc, rng)))
    return base, records


def _findings(follow: bool, tmp_path: Path) -> dict[str, Finding]:
    ctx = RunContext(model_spec=ModelSpec(), seed=0, out_dir=tmp_path)
    base, records = _records(follow)
    cfg = SelfTrainingConfig(rounds=4, n_bootstrap=300)
    return {f.metric: f for f in SelfTrainingStudy.measure(ctx, cfg, base, records)}


def test_rounds_that_follow_the_recurrence_match_its_prediction(tmp_path: Path) -> None:
    f = _findings(follow=True, tmp_path=tmp_path)
    fit = f["measured_minus_predicted"]
    assert fit.verdict == "absent", fit
    assert abs(fit.details["k_fitted"] - 0.9) < 0.02
    assert f["exact_minus_none"].verdict == "present"
    assert f["final_minus_initial.none"].verdict == "absent"  # 0.5 * 0.9^4 < 0.5
    assert (tmp_path / "measured_vs_predicted.png").stat().st_size > 1000


def test_rounds_that_break_it_are_flagged(tmp_path: Path) -> None:
    f = _findings(follow=False, tmp_path=tmp_path)
    assert f["measured_minus_predicted"].verdict == "present"
    assert f["final_minus_initial.none"].verdict == "present"


def test_an_unknown_verifier_arm_is_refused_by_the_config() -> None:
    with pytest.raises(ConfigValueError, match="verifiers"):
        SelfTrainingConfig(verifiers=["none", "oracle"])


def test_the_loop_runs_on_a_tiny_model(tmp_path: Path, tiny_dir: Path) -> None:
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path)
    cfg = SelfTrainingConfig(rounds=2, n_per_round=6, n_heldout=6, answer_tokens=4, train=FineTune(epochs=1.0),
                             n_bootstrap=50, verifiers=["none", "exact", "corrupted", "majority", "self-judge"],
                             majority_samples=3)  # fmt: skip
    findings = {f.metric: f for f in SelfTrainingStudy().run(ctx, cfg)}
    assert {f"final_minus_initial.{a}" for a in cfg.verifiers} <= set(findings)
    assert "measured_minus_predicted" in findings and "exact_minus_none" in findings
    rounds = (tmp_path / "rounds.jsonl").read_text().splitlines()
    assert len(rounds) == 5 * 2
    samples = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 5 * 2 * 6
