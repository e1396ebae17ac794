"""The closed form against hand-computed values, its fixed point, and the simulated process."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.findings import stamp
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.spec import ModelSpec
from reflectlab.selfplay.compounding.recurrence import (
    RecurrenceConfig,
    RecurrenceStudy,
    error_floor,
    fixed_point,
    kept_precision,
    next_accuracy,
    simulate,
    simulate_replicates,
    trajectory,
)


def test_hand_computed_steps() -> None:
    # a=0.5, r=0.9, f=0.1: kept precision 0.45 / (0.45 + 0.05) = 0.9; with k=0.95 the next accuracy is 0.855
    assert kept_precision(0.5, 0.9, 0.1) == pytest.approx(0.9)
    assert next_accuracy(0.5, 0.9, 0.1, 0.95) == pytest.approx(0.855)
    # a=0.855: 0.7695 / (0.7695 + 0.0145) = 0.981505..., times 0.95
    assert next_accuracy(0.855, 0.9, 0.1, 0.95) == pytest.approx(0.95 * 0.7695 / 0.784)
    assert math.isnan(kept_precision(0.5, 0.0, 0.0))  # nothing kept


def test_no_verifier_is_a_geometric_avalanche() -> None:
    traj = trajectory(0.6, 1.0, 1.0, 0.9, 5)
    assert traj == pytest.approx([0.6 * 0.9**t for t in range(6)])
    assert fixed_point(1.0, 1.0, 0.9) == 0.0


def test_fixed_point_and_floor() -> None:
    r, f, k = 0.9, 0.1, 0.95
    a_star = (k * r - f) / (r - f)
    assert fixed_point(r, f, k) == pytest.approx(a_star)
    assert error_floor(r, f, k) == pytest.approx(r * (1 - k) / (r - f))
    assert next_accuracy(a_star, r, f, k) == pytest.approx(a_star)  # it is a fixed point
    for a0 in (0.05, 0.5, 0.99):  # and it attracts from anywhere above 0
        assert trajectory(a0, r, f, k, 200)[-1] == pytest.approx(a_star, abs=1e-9)
    assert fixed_point(0.5, 0.6, 0.9) == 0.0  # a verifier worse than chance drives accuracy to 0
    assert fixed_point(0.2, 0.1, 0.4) == 0.0  # k r <= f: no positive fixed point
    assert fixed_point(1.0, 0.0, 0.9) == pytest.approx(0.9)  # a perfect verifier: the floor is 1 - k


def test_simulation_tracks_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    sims = np.array([simulate(0.5, 0.8, 0.2, 0.9, 8, 2000, rng) for _ in range(100)])
    np.testing.assert_allclose(sims.mean(axis=0), trajectory(0.5, 0.8, 0.2, 0.9, 8), atol=0.01)


def test_the_study_reports_collapse_gain_and_floor(tmp_path: Path) -> None:
    ctx = RunContext(model_spec=ModelSpec(), seed=0, out_dir=tmp_path)
    cfg = RecurrenceConfig(rounds=8, replicates=60, n_bootstrap=200, recalls=[0.5, 1.0], false_accepts=[0.0, 0.5])
    findings = stamp(
        RecurrenceStudy().run(ctx, cfg),
        study="compounding/recurrence",
        side=RecurrenceStudy.side,
        model="smollm2-135m-instruct",
    )  # as the runner stamps them
    f = {x.metric: x for x in findings}
    assert f["no_verifier_final_accuracy"].verdict == "present"
    assert f["verifier_gain"].verdict == "present" and f["verifier_gain"].primary
    assert f["simulated_minus_predicted_floor"].verdict == "absent"
    assert {(x.side, x.model) for x in f.values()} == {("self-signal", "closed form")}  # model-independent
    assert {(x.unit, x.n) for x in f.values()} == {("replicate", 60)}  # independent runs of the simulation
    assert [x.metric for x in f.values() if x.primary] == ["verifier_gain"]
    assert f["verifier_gain"].p_value < 0.001 and f["verifier_gain"].margin == cfg.margin
    assert (tmp_path / "accuracy_per_round.png").stat().st_size > 1000
    assert (tmp_path / "predicted_floor.png").exists()
    assert len((tmp_path / "grid.jsonl").read_text().splitlines()) == 2 * 2 * 3


def test_the_array_simulation_is_the_same_process() -> None:
    sims = simulate_replicates(0.5, 0.8, 0.2, 0.9, 8, 2000, 100, np.random.default_rng(0))
    assert sims.shape == (100, 9)
    np.testing.assert_allclose(sims.mean(axis=0), trajectory(0.5, 0.8, 0.2, 0.9, 8), atol=0.01)


def test_the_simulator_under_the_null_and_planted() -> None:
    cfg = RecurrenceConfig(replicates=100)
    sim = RecurrenceStudy().simulator(cfg)
    r, _, k = cfg.reference
    assert sim.false_accept_for(0.0) == r  # no discrimination: the verifier keeps data no better than none
    f = sim.false_accept_for(0.05)
    assert trajectory(cfg.a0, r, f, k, cfg.rounds)[-1] - trajectory(cfg.a0, 1, 1, k, cfg.rounds)[-1] == pytest.approx(
        0.05, abs=1e-6
    )
    null = calibrate_study("compounding/recurrence", sim, reps=100, mde=False)
    assert null.false_present_rate <= 0.1
    assert calibrate_study("compounding/recurrence", sim, reps=100, mde=False, seed=1).power >= 0.9
