"""``platform calibrate``: how often each study's primary finding reads ``present`` when nothing is there, and how
often it finds an effect that is.

Every study that can be calibrated offers a :class:`Simulator` (``Study.simulator(cfg)``): it writes the raw data
the study's ``measure()`` consumes - under the null (``effect = 0``) or with a planted effect of a stated size - with
the nuisance structure real data has (seed-to-seed variation of fine-tunes, items clustered in topics or problems,
floors and ceilings, the confound the study's design must cancel), and measures it with the study's own code. No
model is loaded; the numbers are as cheap as the study's statistics.

For each primary finding calibration reports the false-``present`` rate under the null, the power at the planted
effect (each with a Wilson interval over the repetitions) and the smallest effect detectable with 80% power at the
chosen preset (interpolated on a grid of planted sizes). ``--synthesis`` simulates every study of an inquiry under
the null at once and reports how often each side reads ``present`` after the synthesis's multiplicity correction.
"""

from __future__ import annotations

import itertools
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from reflectlab.core.findings import SIDES, Finding
from reflectlab.core.stats import wilson_ci

#: Power the smallest detectable effect is defined at.
TARGET_POWER = 0.8
#: Multiples of the planted effect at which power is estimated to find the smallest detectable effect.
MDE_GRID = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
#: The false-present rate a primary finding may show at 400 repetitions: 0.05 plus two Monte-Carlo errors.
FALSE_PRESENT_BOUND = 0.05 + 2 * math.sqrt(0.05 * 0.95 / 400)


class Simulator(ABC):
    """Simulated raw data for one study's ``measure()``, with the nuisance structure real data has.

    ``metric`` names the primary finding; ``planted_effect`` is the stated effect size (on the metric's scale, or
    the simulator's own parameter where it says so) at which power is reported; ``nuisance`` says in words what
    structure the simulation carries, for the report."""

    metric: str = ""
    planted_effect: float = 0.0
    unit: str = ""
    nuisance: str = ""
    side: str = ""  # the study's side; set from the Study class when the simulator is collected

    @abstractmethod
    def simulate(self, rng: np.random.Generator, effect: float) -> Any:
        """Raw data under ``effect`` (0 is the null)."""

    @abstractmethod
    def measure(self, data: Any, seed: int) -> list[Finding]:
        """The study's findings from the simulated data (through the study's own ``measure()``)."""

    def primary(self, findings: Sequence[Finding]) -> Finding:
        """The finding calibration judges: the one named ``metric`` (else the one marked primary)."""
        named = [f for f in findings if f.metric == self.metric]
        if named:
            return named[0]
        primary = [f for f in findings if f.primary]
        if len(primary) != 1:
            raise ValueError(f"expected one primary finding, got {len(primary)}")
        return primary[0]


@dataclass
class Calibration:
    """One primary finding's calibration."""

    study: str
    metric: str
    reps: int
    false_present_rate: float
    false_present_ci: tuple[float, float]
    planted_effect: float
    power: float
    power_ci: tuple[float, float]
    min_detectable_effect: float | None
    unit: str = ""
    nuisance: str = ""
    seconds: float = 0.0
    power_curve: list[tuple[float, float]] = field(default_factory=list)

    @property
    def within_bound(self) -> bool:
        return self.false_present_rate <= FALSE_PRESENT_BOUND

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _present_rate(sim: Simulator, effect: float, reps: int, seed: int) -> tuple[int, int]:
    hits = 0
    for r in range(reps):
        rng = np.random.default_rng([seed, r, round(abs(effect) * 1e6), int(effect < 0)])
        finding = sim.primary(sim.measure(sim.simulate(rng, effect), seed=seed + r))
        hits += finding.verdict == "present"
    return hits, reps


def min_detectable(curve: Sequence[tuple[float, float]], target: float = TARGET_POWER) -> float | None:
    """The smallest effect at which the (effect, power) curve reaches ``target``, linearly interpolated; None when
    it never does on the grid."""
    points = sorted(curve)
    for (e0, p0), (e1, p1) in itertools.pairwise(points):
        if p0 >= target:
            return e0
        if p1 >= target:
            return e0 + (target - p0) / (p1 - p0) * (e1 - e0)
    if points and points[-1][1] >= target:
        return points[-1][0]
    return None


def calibrate_study(study: str, sim: Simulator, *, reps: int, seed: int = 0, mde: bool = True) -> Calibration:
    """The false-present rate and power of one study's primary finding over ``reps`` simulated repetitions."""
    t0 = time.time()
    k0, n0 = _present_rate(sim, 0.0, reps, seed)
    k1, n1 = _present_rate(sim, sim.planted_effect, reps, seed + 1)
    curve: list[tuple[float, float]] = [(0.0, k0 / n0), (sim.planted_effect, k1 / n1)]
    if mde and sim.planted_effect != 0:
        grid_reps = max(20, reps // 4)
        for m in MDE_GRID:
            if m == 1.0:
                continue
            k, n = _present_rate(sim, m * sim.planted_effect, grid_reps, seed + 2)
            curve.append((m * sim.planted_effect, k / n))
    curve.sort(key=lambda p: abs(p[0]))
    signed = [(abs(e), p) for e, p in curve]
    found = min_detectable(signed)
    if found is not None and sim.planted_effect < 0:
        found = -found
    return Calibration(
        study=study,
        metric=sim.metric,
        reps=reps,
        false_present_rate=k0 / n0,
        false_present_ci=wilson_ci(k0, n0),
        planted_effect=sim.planted_effect,
        power=k1 / n1,
        power_ci=wilson_ci(k1, n1),
        min_detectable_effect=found,
        unit=sim.unit,
        nuisance=sim.nuisance,
        seconds=time.time() - t0,
        power_curve=curve,
    )


def synthesis_null(
    sims: dict[str, Simulator], *, reps: int, seed: int = 0, model: str = "simulated"
) -> dict[str, dict[str, float]]:
    """Every study simulated under the null at once, ``reps`` times: how often each side reads present, after
    Holm's correction and raw. Findings get the study name and side of their simulator's study."""
    from reflectlab.core.synthesis import Synthesis

    counts = {side: {"present": 0, "present_raw": 0, "tested": 0} for side in SIDES}
    for r in range(reps):
        findings: list[Finding] = []
        for i, (study, sim) in enumerate(sorted(sims.items())):
            rng = np.random.default_rng([seed, r, i])
            for f in sim.measure(sim.simulate(rng, 0.0), seed=seed + r):
                f.study, f.model, f.side = study, model, f.side or sim.side  # as the runner stamps them
                findings.append(f)
        m = Synthesis.from_findings(findings).models[model]
        for side in SIDES:
            state, raw = m.side_state(side), m.side_state(side, adjusted=False)
            counts[side]["tested"] += state != "untested"
            counts[side]["present"] += state == "present"
            counts[side]["present_raw"] += raw == "present"
    return {
        side: {
            "false_present_rate": c["present"] / reps,
            "false_present_ci_low": wilson_ci(c["present"], reps)[0],
            "false_present_ci_high": wilson_ci(c["present"], reps)[1],
            "raw_false_present_rate": c["present_raw"] / reps,
            "tested": float(c["tested"] > 0),
        }
        for side, c in counts.items()
    }


def format_report(results: Sequence[Calibration], out: Callable[[str], None] = print) -> None:
    """The calibration table for the terminal."""
    out(f"{'study':<34} {'metric':<24} {'reps':>5} {'false present':>21} {'planted':>8} {'power':>21} {'MDE(80%)':>9}")
    for c in results:
        fp = f"{c.false_present_rate:.3f} [{c.false_present_ci[0]:.3f}, {c.false_present_ci[1]:.3f}]"
        pw = f"{c.power:.3f} [{c.power_ci[0]:.3f}, {c.power_ci[1]:.3f}]"
        mde = "n/a" if c.min_detectable_effect is None else f"{c.min_detectable_effect:.3g}"
        flag = "" if c.within_bound else "  <- above the bound"
        out(f"{c.study:<34} {c.metric:<24} {c.reps:>5} {fp:>21} {c.planted_effect:>8.3g} {pw:>21} {mde:>9}{flag}")
    out(f"(bound on the false-present rate at 400 reps: {FALSE_PRESENT_BOUND:.3f})")


def simulators(target: str, overrides: list[str]) -> tuple[str, dict[str, Simulator], Any]:
    """The inquiry name, a simulator per enabled study that has one (``<inquiry>/<key>`` -> simulator), and the
    resolved config, from the same target and overrides as ``platform run``."""
    from reflectlab.core.config import build_config, typed
    from reflectlab.core.runner import get_inquiry

    inquiry_name, _, study_name = target.partition("/")
    inquiry = get_inquiry(inquiry_name)
    cfg = build_config(inquiry.config_class(), inquiry.presets(), overrides, only_study=study_name or None)
    out: dict[str, Simulator] = {}
    for key, study_cls in inquiry.studies.items():
        section = cfg.studies.get(key)
        if section is None or not section.enabled:
            continue
        sim = study_cls().simulator(typed(section, f"studies.{key}"))
        if sim is not None:
            sim.side = sim.side or study_cls.side
            out[f"{inquiry.name}/{key}"] = sim
    return inquiry.name, out, cfg


def calibrate(
    target: str, overrides: list[str], *, reps: int = 400, synthesis: bool = False, echo: Callable[[str], None] = print
) -> tuple[list[Calibration], dict[str, dict[str, float]] | None, str | None]:
    """Calibrate every enabled study of ``target`` (or one study) and log the figures to MLflow like a run.

    Returns the per-study calibrations, the synthesis-level null rates (with ``synthesis``) and the run id."""
    import json
    from pathlib import Path

    from reflectlab.core.config import flatten
    from reflectlab.core.errors import UserError
    from reflectlab.core.tracking import TAG_INQUIRY, TAG_KIND, TAG_PRESET, Tracker

    if reps < 1:
        raise UserError("reps must be at least 1")
    inquiry, sims, cfg = simulators(target, overrides)
    if not sims:
        raise UserError(f"{target}: no study here has a simulator yet, so it cannot be calibrated")
    seed = int(cfg.seed)
    results = []
    if not synthesis:
        for study, sim in sims.items():
            echo(f"  calibrating {study} ({reps} reps) ...")
            results.append(calibrate_study(study, sim, reps=reps, seed=seed))
    sides = synthesis_null(sims, reps=reps, seed=seed) if synthesis else None
    run_id = None
    try:
        tracker = Tracker(Path(cfg.results_dir).expanduser().resolve())
        run_id = tracker.start(
            f"reflectlab/{inquiry}",
            f"calibrate {target} · {cfg.preset}" + (" · synthesis" if synthesis else ""),
            {TAG_KIND: "calibration", TAG_INQUIRY: inquiry, TAG_PRESET: str(cfg.preset)},
        )
        tracker.log_params(run_id, {**flatten(cfg, exclude=("resume",)), "reps": str(reps)})
        metrics: dict[str, float] = {}
        for c in results:
            key = c.study.split("/", 1)[1]
            metrics[f"{key}.false_present_rate"] = c.false_present_rate
            metrics[f"{key}.power"] = c.power
            if c.min_detectable_effect is not None:
                metrics[f"{key}.min_detectable_effect"] = c.min_detectable_effect
        for side, rates in (sides or {}).items():
            metrics[f"synthesis.{side}.false_present_rate"] = rates["false_present_rate"]
        if metrics:
            tracker.log_metrics(run_id, metrics)
        with tracker.staging() as stage:
            payload = {"studies": [c.to_dict() for c in results], "synthesis": sides}
            (stage / "calibration.json").write_text(json.dumps(payload, indent=2) + "\n")
            tracker.log_artifacts(run_id, stage)
        tracker.end(run_id, "FINISHED")
    except UserError:
        raise
    except OSError as exc:  # the figures are printed even when the store cannot take them
        echo(f"  (not logged to MLflow: {exc})")
    return results, sides, run_id
