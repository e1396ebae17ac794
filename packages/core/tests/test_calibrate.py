"""The calibration machinery on a toy simulator: a pseudo-replicated analysis is caught, a clustered one passes,
a planted effect is found, and the smallest detectable effect is read off the power curve."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from reflectlab.core.calibrate import FALSE_PRESENT_BOUND, Simulator, calibrate_study, min_detectable, synthesis_null
from reflectlab.core.findings import Finding
from reflectlab.core.stats import cluster_mean_ci


class SeedNoise(Simulator):
    """3 fine-tune seeds x 5 paraphrases; the seeds differ, the paraphrases barely."""

    metric = "shift"
    planted_effect = 3.0
    unit = "seed"

    def __init__(self, *, clustered: bool) -> None:
        self.clustered = clustered

    def simulate(self, rng: np.random.Generator, effect: float) -> Any:
        seeds = rng.normal(effect, 1.0, size=3)
        return np.repeat(seeds, 5) + rng.normal(0, 0.1, size=15), np.repeat(np.arange(3), 5)

    def measure(self, data: Any, seed: int) -> list[Finding]:
        values, units = data
        est = cluster_mean_ci(values, units if self.clustered else None, unit="seed")
        return [Finding.from_estimate(est, metric="shift", control="no shift", control_value=0.0, primary=True)]


def test_pseudo_replication_is_caught_and_clustering_passes() -> None:
    naive = calibrate_study("toy/naive", SeedNoise(clustered=False), reps=200, mde=False)
    honest = calibrate_study("toy/honest", SeedNoise(clustered=True), reps=200, mde=False)
    assert naive.false_present_rate > 0.1
    assert honest.false_present_rate <= FALSE_PRESENT_BOUND
    assert honest.power > 0.5 and honest.power_ci[0] <= honest.power <= honest.power_ci[1]


def test_min_detectable_effect_interpolates_the_power_curve() -> None:
    assert min_detectable([(0.0, 0.02), (1.0, 0.6), (2.0, 1.0)]) == pytest.approx(1.5)
    assert min_detectable([(0.0, 0.02), (1.0, 0.5)]) is None
    c = calibrate_study("toy/honest", SeedNoise(clustered=True), reps=80)
    assert c.min_detectable_effect is not None and 0.5 < c.min_detectable_effect < 6.0


def test_synthesis_null_reads_each_side() -> None:
    a, b = SeedNoise(clustered=True), SeedNoise(clustered=True)
    a.side = b.side = "recognition"  # findings leave the side to the runner; calibration stamps it the same way
    rates = synthesis_null({"toy/a": a, "toy/b": b}, reps=100)
    assert rates["recognition"]["tested"] == 1.0 and rates["correction"]["tested"] == 0.0
    assert rates["recognition"]["false_present_rate"] <= rates["recognition"]["raw_false_present_rate"]
