"""Tests of the template study: ``measure`` on planted numbers (a case it must find, one it must not), and the
whole study through ``platform run`` on a tiny random model (seconds, no download)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from my_study.answer_fit import build_questions, measure

from reflectlab.core.testing import run_platform, tiny_model_dir
from reflectlab.core.tracking import Tracker


def _noise(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0.0, 0.3) for _ in range(n)]


def test_a_planted_preference_is_found() -> None:
    other = [-3.0 + x for x in _noise(40, 1)]
    own = [o + 0.5 + x for o, x in zip(other, _noise(40, 2), strict=True)]
    finding = measure(own, other, seed=0, n_bootstrap=1000)
    assert finding.verdict == "present" and finding.value == pytest.approx(0.5, abs=0.15) and finding.n == 40


def test_no_preference_is_not_called_present() -> None:
    other = [-3.0 + x for x in _noise(40, 1)]
    own = [o + x for o, x in zip(other, _noise(40, 3), strict=True)]
    assert measure(own, other, seed=0, n_bootstrap=1000).verdict != "present"


def test_missing_scores_are_left_out() -> None:
    finding = measure([1.0, float("nan"), 2.0], [0.0, 0.0, float("nan")], seed=0, n_bootstrap=100)
    assert finding.n == 1 and finding.verdict == "inconclusive"  # fewer than 10 items is never a verdict


def test_questions_are_seeded() -> None:
    assert build_questions(5, seed=1) == build_questions(5, seed=1) != build_questions(5, seed=2)


def test_the_study_runs_through_the_platform(tmp_path: Path) -> None:
    model = tiny_model_dir(tmp_path / "tiny")
    out = run_platform("run", "my-inquiry", "preset=smoke", f"model.name={model}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    tracker = Tracker(tmp_path / "reflectlab-results")
    (child,) = tracker.children(tracker.get_run("latest").info.run_id)
    (finding,) = tracker.read_json_artifact(child.info.run_id, "findings.json")
    assert finding["metric"] == "own_question_gap" and finding["verdict"] in ("present", "absent", "inconclusive")
