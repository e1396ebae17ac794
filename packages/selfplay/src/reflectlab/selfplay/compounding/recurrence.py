"""Study ``compounding/recurrence`` (RESEARCH.md line 5): the closed form of self-training through a verifier.

Generator accuracy ``a_t``; the verifier accepts correct outputs with probability ``r`` (recall) and wrong ones
with probability ``f`` (false accepts); the next model reproduces its kept data with fidelity ``k``::

    p_t     = a_t r / (a_t r + (1 - a_t) f)        kept-data precision
    a_{t+1} = k p_t
    a*      = (k r - f) / (r - f)   when k r > f    fixed point; error floor 1 - a* = r (1 - k) / (r - f)

Without a verifier (r = f = 1) ``a_t = k^t a_0``: a geometric avalanche. The study evaluates the closed form over a
grid, and simulates the same process with finite data (``n_per_round`` problems a round, binomial draws, several
replicates) so the predictions come with sampling intervals. No model is needed.

Its unit is the simulation replicate: each replicate is an independent run of the finite-data process, so the
replicates are independent by construction and every interval is a t-interval over replicates (``n`` =
``replicates``). The interval is the Monte-Carlo uncertainty of the simulated process at the config's sizes; it says
nothing about any model (the findings carry the model ``closed form``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import StudyConfig, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.plots import pyplot, save_figure
from reflectlab.core.stats import cluster_diff_ci, cluster_mean_ci


def kept_precision(a: float, r: float, f: float) -> float:
    """Share of kept (accepted) outputs that are correct; ``nan`` when nothing is kept."""
    kept = a * r + (1 - a) * f
    return a * r / kept if kept > 0 else math.nan


def next_accuracy(a: float, r: float, f: float, k: float) -> float:
    p = kept_precision(a, r, f)
    return k * p if not math.isnan(p) else 0.0


def trajectory(a0: float, r: float, f: float, k: float, rounds: int) -> list[float]:
    """``[a_0, a_1, ..., a_rounds]`` under the closed form."""
    out = [a0]
    for _ in range(rounds):
        out.append(next_accuracy(out[-1], r, f, k))
    return out


def fixed_point(r: float, f: float, k: float) -> float:
    """The stable accuracy the recurrence converges to from any a_0 > 0 (0 when k r <= f)."""
    if r <= f:
        return 0.0 if k < 1 else math.nan  # no verifier signal: a_t = k^t a_0 (f = r) or worse
    return max(0.0, (k * r - f) / (r - f))


def error_floor(r: float, f: float, k: float) -> float:
    return 1.0 - fixed_point(r, f, k)


def simulate(a0: float, r: float, f: float, k: float, rounds: int, n: int, rng: np.random.Generator) -> list[float]:
    """The same process with ``n`` problems a round: binomial correct counts and verifier draws."""
    a, out = a0, [a0]
    for _ in range(rounds):
        correct = rng.binomial(n, a)
        kept_right = rng.binomial(correct, r)
        kept_wrong = rng.binomial(n - correct, f)
        kept = kept_right + kept_wrong
        a = k * (kept_right / kept) if kept else 0.0
        out.append(a)
    return out


def simulate_replicates(
    a0: float, r: float, f: float, k: float, rounds: int, n: int, replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """:func:`simulate` for many replicates at once, shape ``(replicates, rounds + 1)`` (the same process, drawn
    as arrays: what calibration uses, where thousands of runs must be cheap)."""
    out = np.empty((replicates, rounds + 1))
    a = np.full(replicates, float(a0))
    out[:, 0] = a
    for t in range(1, rounds + 1):
        correct = rng.binomial(n, a)
        kept_right = rng.binomial(correct, r)
        kept_wrong = rng.binomial(n - correct, f)
        kept = kept_right + kept_wrong
        a = np.where(kept > 0, k * kept_right / np.maximum(kept, 1), 0.0)
        out[:, t] = a
    return out


#: What ``n`` counts in this study's findings: independent runs of the finite-data simulation.
UNIT = "replicate"

#: The ``model`` of this study's findings: it evaluates a formula and simulates it, with no model under study.
MODEL = "closed form"


@dataclass
class RecurrenceConfig(StudyConfig):
    a0: float = option(0.5, "Starting accuracy a_0 of the generator.")
    rounds: int = option(10, "Rounds of self-training.")
    recalls: list[float] = option(help="Verifier recalls r of the grid.", factory=lambda: [0.5, 0.7, 0.9, 1.0])
    false_accepts: list[float] = option(
        help="Verifier false-accept rates f of the grid.", factory=lambda: [0.0, 0.1, 0.3, 0.5, 1.0]
    )
    fidelities: list[float] = option(help="Fidelities k of the grid.", factory=lambda: [0.9, 0.95, 0.99])
    reference: list[float] = option(
        help="The reference verifier (r, f, k) the findings are about.", factory=lambda: [0.9, 0.1, 0.95]
    )
    n_per_round: int = option(500, "Problems a round in the finite-data simulation.")
    replicates: int = option(200, "Independent runs of the finite-data simulation.")
    margin: float = option(0.02, "Smallest accuracy difference that matters; inside it the verdict is 'absent'.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(len(self.reference) == 3, "reference", "must be three numbers: [r, f, k]")


class RecurrenceStudy(Study[RecurrenceConfig]):
    side = "self-signal"
    description = "closed form of verified self-training: avalanche without a verifier, floor with one"

    def plan(self, cfg: RecurrenceConfig, ctx: PlanContext) -> Work:
        return Work(note="closed form and simulation: no model work")

    def run(self, ctx: RunContext, cfg: RecurrenceConfig) -> list[Finding]:
        r_ref, f_ref, k_ref = cfg.reference
        grid = [(r, f, k) for r in cfg.recalls for f in cfg.false_accepts for k in cfg.fidelities]
        rows = []
        for r, f, k in grid:
            traj = trajectory(cfg.a0, r, f, k, cfg.rounds)
            rows.append({"r": r, "f": f, "k": k, "a_final": traj[-1], "fixed_point": fixed_point(r, f, k),
                         "error_floor": error_floor(r, f, k), "trajectory": traj})  # fmt: skip
        ctx.log_samples(rows, name="grid.jsonl")

        rng = np.random.default_rng(ctx.seed)
        sims = {
            name: np.array([simulate(cfg.a0, r, f, k, cfg.rounds, cfg.n_per_round, rng) for _ in range(cfg.replicates)])
            for name, (r, f, k) in {"none": (1.0, 1.0, k_ref), "reference": (r_ref, f_ref, k_ref)}.items()
        }
        predicted = {
            "none": trajectory(cfg.a0, 1.0, 1.0, k_ref, cfg.rounds),
            "reference": trajectory(cfg.a0, r_ref, f_ref, k_ref, cfg.rounds),
        }
        for name, sim in sims.items():
            for t in range(cfg.rounds + 1):
                ctx.log_metrics(
                    {f"{name}.simulated": float(sim[:, t].mean()), f"{name}.predicted": predicted[name][t]}, step=t
                )
        _plot(ctx.out_dir, cfg, grid, predicted, sims, k_ref)

        return self.measure(cfg, sims)

    def simulator(self, cfg: RecurrenceConfig) -> RecurrenceSimulator:
        return RecurrenceSimulator(cfg)

    @staticmethod
    def measure(
        cfg: RecurrenceConfig, sims: dict[str, np.ndarray], *, reference: Sequence[float] | None = None
    ) -> list[Finding]:
        """Findings from the simulated replicates (``sims[name]``: one row per replicate, one column per round) of
        no verifier (``none``) and the reference verifier (``reference``, default ``cfg.reference``). The unit is
        the replicate: a t-interval over independent replicates."""
        r_ref, f_ref, k_ref = reference if reference is not None else cfg.reference
        a_star = fixed_point(r_ref, f_ref, k_ref)
        setting = {"r": r_ref, "f": f_ref, "k": k_ref, "a0": cfg.a0, "rounds": cfg.rounds,
                   "n_per_round": cfg.n_per_round}  # fmt: skip
        common: dict[str, Any] = {"model": MODEL, "margin": cfg.margin}
        none, ref = sims["none"][:, -1], sims["reference"][:, -1]
        return [
            Finding.from_estimate(
                cluster_mean_ci(none, unit=UNIT, null=cfg.a0, alternative="less"),
                metric="no_verifier_final_accuracy",
                control="starting accuracy a_0",
                control_value=cfg.a0,
                direction="less",
                details={
                    **setting,
                    "r": 1.0,
                    "f": 1.0,
                    "predicted": trajectory(cfg.a0, 1.0, 1.0, k_ref, cfg.rounds)[-1],
                    "definition": "accuracy after the last round with every output kept (simulated replicates)",
                },
                **common,
            ),
            Finding.from_estimate(
                cluster_diff_ci(ref, none, unit=UNIT, null=0.0, alternative="greater"),
                metric="verifier_gain",
                control="no verifier (keep everything)",
                control_value=0.0,
                primary=True,
                details={
                    **setting,
                    "definition": "final accuracy with the reference verifier minus without one; replicate i of "
                    "each arm side by side (independent runs), t-interval over replicates",
                },
                **common,
            ),
            Finding.from_estimate(
                cluster_mean_ci(ref - a_star, unit=UNIT, null=0.0, alternative="greater"),
                metric="simulated_minus_predicted_floor",
                control="closed-form fixed point a*",
                control_value=0.0,
                details={
                    **setting,
                    "fixed_point": a_star,
                    "definition": "absent = the finite-data process settles where the closed form says",
                    "claim": "equivalence",
                },
                **common,
            ),
        ]


def _gain(cfg: RecurrenceConfig, r: float, f: float, k: float) -> float:
    """The closed form's final accuracy with verifier (r, f) minus without one."""
    return trajectory(cfg.a0, r, f, k, cfg.rounds)[-1] - trajectory(cfg.a0, 1.0, 1.0, k, cfg.rounds)[-1]


class RecurrenceSimulator(Simulator):
    """The study's own finite-data process at the config's sizes (``replicates`` runs of ``rounds`` rounds of
    ``n_per_round`` problems, binomial draws), for no verifier and for a reference verifier whose false-accept rate
    is set so that the closed form's final gain is ``effect``: under the null (``effect`` 0) the reference verifier
    accepts wrong outputs as often as right ones (f = r), so it keeps data no better than keeping everything.

    There is no model and so no seed-to-seed or item clustering to simulate: the only nuisance is the binomial
    noise of finite data, and the replicates are independent by construction. Calibration checks that the
    t-interval over replicates and the margin do not read ``present`` without a gain."""

    metric = "verifier_gain"
    unit = UNIT
    planted_effect = 0.05

    def __init__(self, cfg: RecurrenceConfig) -> None:
        self.cfg = cfg
        self.nuisance = (
            f"{cfg.replicates} independent replicates x {cfg.rounds} rounds x {cfg.n_per_round} problems, binomial "
            "draws; no model, so no clustering"
        )
        self._f: dict[float, float] = {}
        self._last = list(cfg.reference)

    def false_accept_for(self, effect: float) -> float:
        """The reference's f at which the closed form's final gain is ``effect`` (bisection; f = r at 0)."""
        if effect not in self._f:
            r, _, k = self.cfg.reference
            low, high = 0.0, r  # the gain falls from its largest at f = 0 to 0 at f = r
            for _ in range(50):
                mid = (low + high) / 2
                low, high = (mid, high) if _gain(self.cfg, r, mid, k) > effect else (low, mid)
            self._f[effect] = high if effect > 0 else r
        return self._f[effect]

    def simulate(self, rng: np.random.Generator, effect: float) -> dict[str, np.ndarray]:
        cfg = self.cfg
        r, _, k = cfg.reference
        f = self.false_accept_for(effect)
        self._last = [r, f, k]
        size = (cfg.a0, cfg.rounds, cfg.n_per_round, cfg.replicates)
        return {
            "none": simulate_replicates(size[0], 1.0, 1.0, k, *size[1:], rng),
            "reference": simulate_replicates(size[0], r, f, k, *size[1:], rng),
        }

    def measure(self, data: dict[str, np.ndarray], seed: int) -> list[Finding]:
        return RecurrenceStudy.measure(self.cfg, data, reference=self._last)


def _plot(
    out: Path,
    cfg: RecurrenceConfig,
    grid: list[tuple[float, float, float]],
    predicted: dict[str, list[float]],
    sims: dict[str, np.ndarray],
    k_ref: float,
) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = np.arange(cfg.rounds + 1)
    for name, color in (("none", "tab:red"), ("reference", "tab:blue")):
        sim = sims[name]
        ax.fill_between(
            steps, np.percentile(sim, 2.5, axis=0), np.percentile(sim, 97.5, axis=0), color=color, alpha=0.2
        )
        ax.plot(steps, predicted[name], color=color, label=f"{name}: closed form")
        ax.plot(steps, sim.mean(axis=0), color=color, linestyle="--", label=f"{name}: simulated mean")
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("self-training: no verifier vs the reference verifier")
    save_figure(fig, out / "accuracy_per_round.png")

    rs, fs = sorted({g[0] for g in grid}), sorted({g[1] for g in grid})
    floor = np.array([[error_floor(r, f, k_ref) for f in fs] for r in rs])
    fig, ax = plt.subplots(figsize=(5, 4))
    im = ax.imshow(floor, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(fs)), [f"{f:g}" for f in fs])
    ax.set_yticks(range(len(rs)), [f"{r:g}" for r in rs])
    ax.set_xlabel("false-accept rate f")
    ax.set_ylabel("recall r")
    ax.set_title(f"predicted error floor 1 - a* (k = {k_ref:g})")
    fig.colorbar(im, ax=ax)
    save_figure(fig, out / "predicted_floor.png")
