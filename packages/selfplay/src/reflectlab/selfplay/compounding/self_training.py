"""Study ``compounding/self_training`` (RESEARCH.md line 5): a real learner trained in rounds on its own outputs,
filtered by verifiers of known or measured quality, measured against the truth on a fixed held-out set.

Each round and verifier arm: fresh arithmetic problems (the same for every arm) -> the current model samples an
answer to each -> the arm's verifier keeps some -> the base model is fine-tuned on the kept answers (STaR-style:
from the base each round, on data the previous round's model made) -> greedy accuracy on the held-out set.

Arms: ``none`` (keep everything), ``exact`` (ground truth), ``corrupted`` (ground truth through a channel with
recall r and false-accept rate f), ``majority`` (keep answers that agree with the majority of several samples) and
``self-judge`` (the model's own P("yes") to "is this correct?"). Kept-data precision, realised recall and
false-accept rate are measured against the truth every round; the truth never reaches training.

The recurrence of ``compounding/recurrence`` is then tested: the fidelity k is fitted from round 1 (pooled over
arms: k = sum a_1 / sum p_1), and each arm's later rounds are predicted from a_0 with its realised (r, f).

The independent unit is the fine-tuning seed: every held-out answer of one fine-tune shares that fine-tune's
seed-to-seed variation, so each contrast is averaged over the held-out problems within a seed and gets a t-interval
over seeds (``n`` = seeds, ``seeds`` in the config; fewer than three seeds is always inconclusive). The held-out set
is the same for every seed, arm and round; seed ``s`` > 0 draws its own training problems, samples and fine-tunes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import FineTune, StudyConfig, fine_tune, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, SamplingParams
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.plots import pyplot, save_figure
from reflectlab.core.stats import cluster_mean_ci, paired_rate_diff_ci
from reflectlab.evals.tasks.arithmetic import Problem, generate_problems
from reflectlab.evals.verifiers import CorruptedVerifier, ExactMatch, MajorityVote, ModelJudge
from reflectlab.selfplay.compounding.recurrence import trajectory

ARMS = ("none", "exact", "corrupted", "majority", "self-judge")
#: What ``n`` counts in every finding of this study.
UNIT = "seed"


@dataclass
class SelfTrainingConfig(StudyConfig):
    rounds: int = option(3, "Rounds of sample, verify and fine-tune per verifier arm.")
    n_per_round: int = option(64, "Fresh problems a round (the same for every arm).")
    n_heldout: int = option(64, "Fixed held-out problems, answered greedily after every round.")
    # 1-digit +, -, *: the embedded model is right about 60% of the time, greedy
    digits: int = option(1, "Digits per operand of the arithmetic problems.")
    ops: str = option("+-*", "Operators the arithmetic problems draw from.")
    steps: int = option(1, "Operations per arithmetic problem.")
    sample_temperature: float = option(0.7, "Sampling temperature of the training answers.")
    answer_tokens: int = option(24, "Longest answer, in tokens.")
    verifiers: list[str] = option(
        help=f"Verifier arms, each trained on its own kept data: any of {', '.join(ARMS)}.", factory=lambda: list(ARMS)
    )
    corrupted_recall: float = option(0.8, "Recall r of the corrupted verifier.")
    corrupted_false_accept: float = option(0.3, "False-accept rate f of the corrupted verifier.")
    majority_samples: int = option(4, "Samples per problem the majority arm votes over.")
    train: FineTune = fine_tune(epochs=2.0, lora_r=16, learning_rate=2e-4, batch_size=8)
    margin: float = option(
        0.02,
        "Smallest held-out accuracy difference that matters (an accuracy gain after training); inside it the "
        "verdict is 'absent'.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [a for a in self.verifiers if a not in ARMS]
        require(not unknown, "verifiers", f"unknown verifier arm(s) {unknown}; known: {', '.join(ARMS)}")


@dataclass
class RoundRecord:
    arm: str
    round: int
    n_kept: int
    precision: float  # kept-data precision, against the truth
    recall: float  # share of correct samples kept
    false_accept: float  # share of wrong samples kept
    sample_accuracy: float  # share of this round's samples that were correct
    heldout_correct: list[bool] = field(default_factory=list)
    seed: int = 0  # the fine-tuning seed (the independent unit)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.heldout_correct)) if self.heldout_correct else float("nan")


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _rate(num: int, den: int) -> float:
    return num / den if den else float("nan")


def heldout_problems(cfg: SelfTrainingConfig, seed: int) -> list[Problem]:
    """The fixed held-out set every arm is measured on after every round."""
    return generate_problems(cfg.n_heldout, seed=10_000 + seed, digits=cfg.digits, ops=cfg.ops, steps=cfg.steps)


def fresh_problems(cfg: SelfTrainingConfig, seed: int, exclude: set[str]) -> list[Problem]:
    """``n_per_round`` problems, none of them in the held-out set."""
    drawn = generate_problems(
        cfg.n_per_round + len(exclude), seed=seed, digits=cfg.digits, ops=cfg.ops, steps=cfg.steps
    )
    return [p for p in drawn if p.id not in exclude][: cfg.n_per_round]


def heldout_correct(model: Model, problems: list[Problem], tokens: int) -> list[bool]:
    gens = model.generate([p.messages() for p in problems], SamplingParams(max_new_tokens=tokens), desc="held-out")
    return ExactMatch().verify(problems, [g.text for g in gens])


def keep(
    arm: str, model: Model, problems: list[Problem], cfg: SelfTrainingConfig, seed: int
) -> tuple[list[str], list[bool], list[bool]]:
    """One sampled output per problem, whether the arm's verifier keeps it, and whether it is truly correct."""
    params = SamplingParams(max_new_tokens=cfg.answer_tokens, temperature=cfg.sample_temperature)
    n_samples = cfg.majority_samples if arm == "majority" else 1
    prompts = [p.messages() for p in problems for _ in range(n_samples)]
    seeds = [seed * 1000 + j for _ in problems for j in range(n_samples)]
    texts = [g.text for g in model.generate(prompts, params, seeds=seeds, desc=f"sample ({arm})")]
    if arm == "majority":
        items = [p for p in problems for _ in range(n_samples)]
        agree = MajorityVote().verify(items, texts)
        outputs, kept = [], []
        for i in range(len(problems)):
            block = range(i * n_samples, (i + 1) * n_samples)
            chosen = next((j for j in block if agree[j]), block.start)
            outputs.append(texts[chosen])
            kept.append(agree[chosen])
    else:
        outputs = texts
        if arm == "none":
            kept = [True] * len(outputs)
        elif arm == "exact":
            kept = ExactMatch().verify(problems, outputs)
        elif arm == "corrupted":
            kept = CorruptedVerifier(cfg.corrupted_recall, cfg.corrupted_false_accept, seed=seed).verify(
                problems, outputs
            )
        elif arm == "self-judge":
            kept = ModelJudge(model).verify(problems, outputs)
        else:
            raise ValueError(f"unknown verifier arm {arm!r}; known: {', '.join(ARMS)}")
    correct = ExactMatch().verify(problems, outputs)
    return outputs, kept, correct


#: What a plan assumes of the model's accuracy on sampled problems before it has run (the arms keep more or less
#: of a round's samples depending on it); planning for every sample kept overestimated the quick preset 1.8x.
PLANNED_ACCURACY = 0.5


def _expected_keep(arm: str, cfg: SelfTrainingConfig) -> float:
    """The share of a round's samples an arm is expected to keep, at :data:`PLANNED_ACCURACY`."""
    a = PLANNED_ACCURACY
    if arm == "none":
        return 1.0
    if arm == "corrupted":
        return cfg.corrupted_recall * a + cfg.corrupted_false_accept * (1 - a)
    return a  # exact, majority (agreement tracks accuracy) and self-judge (P(yes) near one half)


class SelfTrainingStudy(Study[SelfTrainingConfig]):
    side = "self-signal"
    description = "rounds of fine-tuning on own verified outputs: measured accuracy beside the recurrence"

    def plan(self, cfg: SelfTrainingConfig, ctx: PlanContext) -> Work:
        m = ctx.subject
        heldout = heldout_problems(cfg, ctx.seed)
        per_prompt = ctx.count(m, [p.messages() for p in heldout]) / max(1, len(heldout))
        work = Work()
        n_evals = 1 + len(cfg.verifiers) * cfg.rounds * cfg.seeds
        work.generate(m, n_evals * cfg.n_heldout, int(n_evals * cfg.n_heldout * per_prompt), cfg.answer_tokens)
        for arm in cfg.verifiers:
            k = cfg.majority_samples if arm == "majority" else 1
            n = cfg.rounds * cfg.n_per_round * cfg.seeds
            work.generate(m, n * k, int(n * k * per_prompt), cfg.answer_tokens)
            if arm == "self-judge":
                work.forward(m, int(n * (per_prompt + cfg.answer_tokens + 30)))
            # LoRA on the share of a round's samples the arm is expected to keep, each epoch
            kept = n * _expected_keep(arm, cfg)
            work.train(m, int(cfg.train.epochs * kept * (per_prompt + cfg.answer_tokens)), runs=cfg.rounds * cfg.seeds)
        return work

    def run(self, ctx: RunContext, cfg: SelfTrainingConfig) -> list[Finding]:
        base = ctx.model()
        heldout = heldout_problems(cfg, ctx.seed)
        base_correct = heldout_correct(base, heldout, cfg.answer_tokens)

        records: list[RoundRecord] = []
        samples: list[dict[str, Any]] = []
        for s, arm in ((s, arm) for s in range(cfg.seeds) for arm in cfg.verifiers):
            # seed 0 is the run's own seed (one seed is the design as it was); seed s > 0 its own problems,
            # samples and fine-tunes
            run_seed, suffix = (ctx.seed, "") if s == 0 else (ctx.seed * 1000 + s, f"-seed{s}")
            model = base
            for t in range(1, cfg.rounds + 1):
                problems = fresh_problems(cfg, seed=run_seed * 100 + t, exclude={p.id for p in heldout})
                outputs, kept, correct = keep(arm, model, problems, cfg, seed=run_seed * 100 + t)
                examples = [[*p.messages(), {"role": "assistant", "content": o}]
                            for p, o, k in zip(problems, outputs, kept, strict=True) if k]  # fmt: skip
                n_right = sum(c for c, k in zip(correct, kept, strict=True) if k)
                record = RoundRecord(
                    arm=arm, round=t, seed=s, n_kept=len(examples), precision=_rate(n_right, len(examples)),
                    recall=_rate(n_right, sum(correct)),
                    false_accept=_rate(len(examples) - n_right, len(correct) - sum(correct)),
                    sample_accuracy=float(np.mean(correct)),
                )  # fmt: skip
                if examples:
                    model = ctx.fine_tune(examples, cfg.train, f"{arm}-r{t}{suffix}", seed=None if s == 0 else run_seed)
                record.heldout_correct = heldout_correct(model, heldout, cfg.answer_tokens)
                records.append(record)
                ctx.log_metrics({f"{arm}{suffix}.accuracy": record.accuracy,
                                 f"{arm}{suffix}.kept_precision": record.precision,
                                 f"{arm}{suffix}.n_kept": float(record.n_kept)}, step=t)  # fmt: skip
                samples += [
                    {"unit": p.id, "arm": arm, "seed": s, "round": t, "prompt": p.question, "output": o, "gold": p.answer,
                     "verdict": ("kept" if k else "dropped") + (", correct" if c else ", wrong")}
                    for p, o, k, c in zip(problems, outputs, kept, correct, strict=True)
                ]  # fmt: skip
        ctx.log_samples(samples)
        ctx.log_samples([{k: v for k, v in r.__dict__.items() if k != "heldout_correct"} | {"accuracy": r.accuracy}
                         for r in records], name="rounds.jsonl")  # fmt: skip
        a0 = float(np.mean(base_correct))
        ctx.log_metrics({"base_accuracy": a0})
        findings = self.measure(cfg, np.array(base_correct, dtype=float), records, seed=ctx.seed)
        fit = next(f for f in findings if f.metric == "measured_minus_predicted")
        by_arm: dict[str, list[RoundRecord]] = {}
        for r in records:
            if r.seed == 0:
                by_arm.setdefault(r.arm, []).append(r)
        _plot(ctx.out_dir, by_arm, fit.details["predicted"], a0, cfg.rounds)
        return findings

    def simulator(self, cfg: SelfTrainingConfig) -> SelfTrainingSimulator:
        return SelfTrainingSimulator(cfg)

    @staticmethod
    def measure(
        cfg: SelfTrainingConfig, base_correct: np.ndarray, records: list[RoundRecord], *, seed: int = 0
    ) -> list[Finding]:
        """Findings from the base model's held-out answers and every round's record (of every seed and arm).

        The unit is the fine-tuning seed: each contrast takes, per seed, the held-out answers of that seed's final
        models side by side (paired by problem), averages them over the problems and gets the t-interval over seeds
        (:func:`~reflectlab.core.stats.paired_rate_diff_ci`, Newcombe's interval over seeds where every seed's
        difference is the same, so both arms at a floor do not read ``absent``)."""
        margin = cfg.margin
        base = np.asarray(base_correct, dtype=float)
        a0 = float(base.mean())
        by: dict[tuple[int, str], list[RoundRecord]] = {}
        for r in records:
            by.setdefault((r.seed, r.arm), []).append(r)
        for rs in by.values():
            rs.sort(key=lambda r: r.round)
        seeds = sorted({s for s, _ in by})
        arms = list(dict.fromkeys(r.arm for r in records))

        def finals(arm: str, ss: list[int]) -> np.ndarray:
            return np.concatenate([np.asarray(by[(s, arm)][-1].heldout_correct, dtype=float) for s in ss])

        def units(ss: list[int]) -> np.ndarray:
            return np.repeat(np.asarray(ss), len(base))

        findings: list[Finding] = []
        for arm in arms:
            ss = [s for s in seeds if (s, arm) in by]
            findings.append(
                Finding.from_estimate(
                    paired_rate_diff_ci(finals(arm, ss), np.tile(base, len(ss)), units(ss), unit=UNIT),
                    metric=f"final_minus_initial.{arm}", control="the base model (round 0)", control_value=0.0,
                    margin=margin,
                    details={"precision_per_round_by_seed": [[r.precision for r in by[(s, arm)]] for s in ss],
                             "accuracy_per_round_by_seed": [[r.accuracy for r in by[(s, arm)]] for s in ss],
                             "base_accuracy": a0,
                             "definition": "final held-out accuracy minus the base model's, paired by problem "
                                           "within each seed; t-interval over seeds"},
                )
            )  # fmt: skip
        if "exact" in arms and "none" in arms:
            ss = [s for s in seeds if (s, "exact") in by and (s, "none") in by]
            findings.append(
                Finding.from_estimate(
                    paired_rate_diff_ci(finals("exact", ss), finals("none", ss), units(ss), unit=UNIT),
                    metric="exact_minus_none", control="no verifier (keep everything)", control_value=0.0,
                    margin=margin, primary=True,
                    details={"definition": "final held-out accuracy, exact verifier minus none, paired by problem "
                                           "within each seed; t-interval over seeds",
                             "note": "two arms only: not the gain against verifier quality across every arm, which "
                                     "the self-signal clause reads (issue 21 adds that finding)"},
                )
            )  # fmt: skip
        # The recurrence, per seed: k from round 1 pooled over arms, later rounds predicted with each arm's
        # realised (r, f); the residuals of a seed are averaged over arms, rounds and problems.
        residuals, residual_units, k_per_seed, abs_errors = [], [], [], []
        predicted_by_seed: list[dict[str, list[float]]] = []
        by_arm_residual: dict[str, list[float]] = {}
        for s in seeds:
            seed_arms = {arm: by[(s, arm)] for arm in arms if (s, arm) in by}
            first = [rs[0] for rs in seed_arms.values() if not np.isnan(rs[0].precision)]
            kept_precision = sum(r.precision for r in first)
            # k cannot be fitted when no kept data was correct in round 1 (nothing to reproduce)
            k_hat = min(1.0, sum(r.accuracy for r in first) / kept_precision) if kept_precision > 0 else float("nan")
            k_per_seed.append(k_hat)
            predictions: dict[str, list[float]] = {}
            for arm, rs in seed_arms.items():
                r_arm, f_arm = _nanmean([r.recall for r in rs]), _nanmean([r.false_accept for r in rs])
                pred = (
                    trajectory(a0, r_arm, f_arm, k_hat, cfg.rounds)
                    if not np.isnan(k_hat)
                    else [float("nan")] * (cfg.rounds + 1)
                )
                predictions[arm] = pred
                for r in rs[1:]:
                    row = np.asarray(r.heldout_correct, dtype=float) - pred[r.round]
                    residuals.append(row)
                    residual_units.append(np.full(len(row), s))
                    abs_errors.append(abs(float(np.mean(row))))
                    by_arm_residual.setdefault(arm, []).append(float(np.mean(row)))
            predicted_by_seed.append(predictions)
        flat = np.concatenate(residuals) if residuals else np.array([])
        flat_units = np.concatenate(residual_units) if residual_units else np.array([])
        finite_k = [k for k in k_per_seed if not np.isnan(k)]
        findings.append(
            Finding.from_estimate(
                cluster_mean_ci(flat, flat_units, unit=UNIT), metric="measured_minus_predicted",
                control="the recurrence with k fitted on round 1", control_value=0.0, margin=margin,
                details={"k_fitted": float(np.mean(finite_k)) if finite_k else float("nan"),
                         "k_fitted_per_seed": k_per_seed, "rounds_compared": "2 and later",
                         "mean_abs_error": _nanmean(abs_errors) if abs_errors else None,
                         "signed_residual_per_arm": {a: _nanmean(v) for a, v in by_arm_residual.items()},
                         "predicted": predicted_by_seed[0] if predicted_by_seed else {},
                         "predicted_per_seed": predicted_by_seed,
                         "definition": "absent = the measured accuracies sit where the recurrence predicts; the "
                                       "signed residual, averaged over arms, rounds and problems within a seed, "
                                       "t-interval over seeds (arms that miss in opposite directions cancel)",
                         "claim": "equivalence"},
            )
        )  # fmt: skip
        return findings


@dataclass
class SimulatedRounds:
    """What :class:`SelfTrainingSimulator` writes: the base model's held-out answers and every round's record."""

    base_correct: np.ndarray
    records: list[RoundRecord]


#: The simulator's verifiers as (recall, false-accept rate) on a round's samples.
_SIM_VERIFIERS = {"none": (1.0, 1.0), "exact": (1.0, 0.0), "majority": (0.8, 0.2), "self-judge": (0.05, 0.1)}


class SelfTrainingSimulator(Simulator):
    """Rounds of every seed and arm at the config's sizes (seeds, rounds, problems a round, held-out problems),
    with no model.

    A held-out problem has a difficulty shared by every model that answers it (normal on the logit scale, sd 1), so
    the answers of one problem are clustered; the base model is right about 58% of the time. Each fine-tune moves
    the held-out logit by the arm's learning gain (+0.4 by the last round for every arm: the learner picks up the
    format whatever its data; the self-judge collapses, -1.5), plus a shift shared by one seed's arms (sd 0.2) and
    the fine-tune's own shift (sd 0.3): the seed-to-seed variation every held-out answer of one fine-tune shares.
    A round's samples are drawn at the current model's accuracy less 0.1 (sampling at temperature), and each arm's
    verifier keeps them through its recall and false-accept rate (the corrupted arm at the config's). The planted
    effect adds ``effect`` to the exact arm's final-round probability of a right answer (probability scale, clipped
    to [0, 1]; ``effect * t / rounds`` in round t): ``effect`` is ``exact_minus_none``. ``floor=True`` is a model
    that never answers right (every probability 0 before the plant): the exact verifier then keeps nothing."""

    metric = "exact_minus_none"
    unit = UNIT
    planted_effect = 0.2

    def __init__(self, cfg: SelfTrainingConfig, *, floor: bool = False) -> None:
        self.cfg = cfg
        self.floor = floor
        self.nuisance = (
            f"{cfg.seeds} seeds x {len(cfg.verifiers)} arms x {cfg.rounds} rounds, {cfg.n_heldout} held-out problems "
            "with a difficulty (logit sd 1) shared by every model; per-fine-tune shift sd 0.3 and per-seed shift sd "
            "0.2 (logit) shared by a fine-tune's answers; every arm gains +0.4 from fine-tuning, the self-judge "
            "collapses" + ("; a model at the floor (never right)" if floor else "")
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> SimulatedRounds:
        cfg = self.cfg
        n, n_pr = cfg.n_heldout, cfg.n_per_round
        difficulty = rng.normal(0.0, 1.0, n)
        mu0 = float(np.log(0.58 / 0.42))

        def p_right(shift: float, plant: float) -> np.ndarray:
            p = np.zeros(n) if self.floor else 1.0 / (1.0 + np.exp(-(mu0 + difficulty + shift)))
            return np.asarray(np.clip(p + plant, 0.0, 1.0))

        p0 = p_right(0.0, 0.0)
        base_correct = (rng.random(n) < p0).astype(float)
        verifiers = _SIM_VERIFIERS | {"corrupted": (cfg.corrupted_recall, cfg.corrupted_false_accept)}
        records: list[RoundRecord] = []
        for s in range(cfg.seeds):
            seed_shift = rng.normal(0.0, 0.2)
            for arm in cfg.verifiers:
                r, f = verifiers[arm]
                gain = -1.5 if arm == "self-judge" else 0.4
                p_model, answers = p0, base_correct
                for t in range(1, cfg.rounds + 1):
                    sample_acc = max(0.0, float(p_model.mean()) - 0.1)
                    n_right = int(rng.binomial(n_pr, sample_acc))
                    kept_right = int(rng.binomial(n_right, r))
                    kept_wrong = int(rng.binomial(n_pr - n_right, f))
                    kept = kept_right + kept_wrong
                    if kept:  # a fine-tune from the base on the kept data; nothing kept leaves the model as it was
                        plant = effect * t / cfg.rounds if arm == "exact" else 0.0
                        shift = gain * t / cfg.rounds + seed_shift + rng.normal(0.0, 0.3)
                        p_model = p_right(shift, plant)
                        answers = (rng.random(n) < p_model).astype(float)
                    records.append(
                        RoundRecord(
                            arm=arm, round=t, seed=s, n_kept=kept, precision=_rate(kept_right, kept),
                            recall=_rate(kept_right, n_right), false_accept=_rate(kept_wrong, n_pr - n_right),
                            sample_accuracy=n_right / n_pr, heldout_correct=list(answers.astype(bool)),
                        )
                    )  # fmt: skip
        return SimulatedRounds(base_correct, records)

    def measure(self, data: SimulatedRounds, seed: int) -> list[Finding]:
        return SelfTrainingStudy.measure(self.cfg, data.base_correct, data.records, seed=seed)


def _plot(
    out: Path, by_arm: dict[str, list[RoundRecord]], predictions: dict[str, list[float]], a0: float, rounds: int
) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    steps = np.arange(rounds + 1)
    cmap = plt.get_cmap("tab10")
    for i, (arm, rs) in enumerate(by_arm.items()):
        color = cmap(i % 10)
        measured = [a0] + [r.accuracy for r in rs]
        ns = [len(rs[0].heldout_correct)] * len(measured)
        se = [np.sqrt(max(m * (1 - m), 1e-9) / n) for m, n in zip(measured, ns, strict=True)]
        ax.errorbar(steps[: len(measured)], measured, yerr=[1.96 * s for s in se], color=color, marker="o",
                    capsize=3, label=f"{arm}: measured")  # fmt: skip
        ax.plot(steps, predictions[arm], color=color, linestyle="--", alpha=0.8, label=f"{arm}: predicted")
    ax.set_xlabel("round")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.set_xticks(steps)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("self-training: measured accuracy beside the recurrence's prediction")
    save_figure(fig, out / "measured_vs_predicted.png")
