"""Study ``self-play/skills`` (Ctx2Skill, RESEARCH.md §4.4): a frozen model improves only by editing the
natural-language skills it reads.

Task: the rulebook of invented string-transformation rules (:mod:`reflectlab.evals.tasks.rulebook`); easy tasks
apply one rule, hard tasks two. One frozen model plays every role, by prompt:

- challenger: writes the words the tasks are built on (the rules are drawn with the seed);
- reasoner: solves each task with the rulebook and the current skill list in context;
- judge: a binary verdict (P("yes") >= 0.5) on each answer - the only feedback the loop gets;
- proposer/generator: reads an answer the judge rejected and writes a one-sentence skill, appended to the list
  (the oldest dropped beyond ``max_skills``).

Replay across time: every iteration's skill set is tried on a fixed probe set of easy and hard tasks and the judge's
verdicts give its easy and hard solve rates; the set maximising easy x hard is selected. On held-out tasks the
programmatic judge (the truth, reporting only) compares no skills, the last iteration's skills and the
replay-selected skills; the model judge's verdicts are also put beside the truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import StudyConfig, option
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import cluster_auroc_ci, paired_rate_diff_ci
from reflectlab.evals.tasks.rulebook import WORDS, RulebookTask, check, generate_rulebook_tasks, make_task
from reflectlab.evals.verifiers.judge import ModelJudge
from reflectlab.selfplay.self_play.tournament import sigmoid
from reflectlab.selfplay.self_play.truth import GroundTruth

CHALLENGE = "Write one common English word of 5 to 7 letters, in lower case. Reply with the word only."
PROPOSE_SKILL = (
    "{task}\n\nA solver answered: {answer}\nA judge said the answer is wrong.\n\n"
    "Write one short tip, in one sentence, that would help apply these rules correctly. Reply with the tip only."
)
_WORD = re.compile(r"\b([a-z]{4,8})\b")
#: What ``n`` counts: the task (a probe task re-judged in every iteration is one unit).
UNIT = "task"
#: Margin of the diagnostics on a probability or AUROC scale, and of held-out solve-rate gains.
DIAGNOSTIC_MARGIN = 0.05
GAIN_MARGIN = 0.02


@dataclass
class SkillsConfig(StudyConfig):
    margin: float = option(
        GAIN_MARGIN,
        "Smallest held-out solve-rate gain that matters (the primary, replay_minus_none); inside: 'absent'.",
    )
    iterations: int = option(3, "Iterations of challenge, solve, judge and skill edit.")
    n_tasks: int = option(8, "Challenger tasks per iteration (half easy, half hard).")
    n_replay: int = option(12, "Tasks in the fixed probe set replay scores every skill set on.")
    n_heldout: int = option(36, "Held-out tasks the three skill arms are compared on.")
    answer_tokens: int = option(16, "Longest answer of the reasoner, in tokens.")
    skill_tokens: int = option(40, "Longest skill the proposer writes, in tokens.")
    max_skills: int = option(4, "Skills kept in the list (the oldest dropped beyond it).")


def challenge(model: Model, n: int, seed: int) -> list[RulebookTask]:
    """``n`` tasks on words the model writes (a seeded list word when its text holds none), half easy, half hard."""
    params = SamplingParams(max_new_tokens=8, temperature=1.0)
    texts = [g.text for g in model.generate([user(CHALLENGE)] * n, params,
                                            seeds=[seed * 1000 + i for i in range(n)], desc="challenger")]  # fmt: skip
    easy = generate_rulebook_tasks(n, seed=seed, n_rules=1)
    hard = generate_rulebook_tasks(n, seed=seed, n_rules=2)
    tasks = []
    for i, text in enumerate(texts):
        m = _WORD.search(text.lower())
        word = m.group(1) if m else WORDS[(seed + i) % len(WORDS)]
        tasks.append(make_task(word, (easy if i % 2 == 0 else hard)[i].rules))
    return tasks


def solve(model: Model, tasks: list[RulebookTask], skills: list[str], tokens: int) -> list[str]:
    gens = model.generate([t.messages(skills) for t in tasks], SamplingParams(max_new_tokens=tokens), desc="reasoner")
    return [" ".join(g.text.split()) for g in gens]


def judge(model: Model, tasks: list[RulebookTask], answers: list[str]) -> np.ndarray:
    """The model judge's P("yes") that each answer is right (it sees the rulebook and the task, not the truth)."""
    return ModelJudge(model).pointwise([t.messages()[0]["content"] for t in tasks], answers)


def propose_skill(model: Model, task: RulebookTask, answer: str, tokens: int) -> str:
    """A one-sentence skill written from a rejected answer (first line, first sentence)."""
    text = PROPOSE_SKILL.format(task=task.messages()[0]["content"], answer=answer)
    out = model.generate([user(text)], SamplingParams(max_new_tokens=tokens), desc="proposer")
    line = next((s for s in out[0].text.strip().splitlines() if s.strip()), "").strip()
    return re.split(r"(?<=[.!?])\s", line)[0][:200]


def edit_skills(skills: list[str], new: str, max_skills: int) -> list[str]:
    """The generator's edit: append a new, non-duplicate skill; keep the latest ``max_skills``."""
    if not new or new in skills:
        return list(skills)
    return [*skills, new][-max_skills:]


def replay_select(easy_rates: list[float], hard_rates: list[float]) -> int:
    """The index of the skill set with the largest easy x hard solve rate; ties go to the larger easy + hard (a
    product of 0 says nothing when no hard task is solved), then to the earliest."""
    easy, hard = np.asarray(easy_rates, dtype=float), np.asarray(hard_rates, dtype=float)
    order = np.lexsort((-np.arange(len(easy)), easy + hard, easy * hard))  # last key sorts first
    return int(order[-1])


@dataclass
class SkillsRecord:
    """Reporting-side record of the loop: judge scores beside the truth, and each skill set's solve rates."""

    p_yes: list[float] = field(default_factory=list)
    truth: list[bool] = field(default_factory=list)
    skill_sets: list[list[str]] = field(default_factory=list)
    judged_easy: list[float] = field(default_factory=list)
    judged_hard: list[float] = field(default_factory=list)
    true_easy: list[float] = field(default_factory=list)
    true_hard: list[float] = field(default_factory=list)
    task_ids: list[str] = field(default_factory=list)  # per judged answer: its task (the unit)


def measure(heldout: dict[str, np.ndarray], record: SkillsRecord, selected: int, *, seed: int, n_bootstrap: int,
            margin: float, units: list[str] | None = None) -> list[Finding]:  # fmt: skip
    """Findings from held-out truth per arm (none, last, replay) and the loop's record (planted-testable). The arms
    are paired over held-out tasks (``units``; each its own task when not given); the judge's findings are over the
    record's ``task_ids`` (a probe task re-judged every iteration is one unit). The one primary finding is
    ``replay_minus_none`` (margin ``margin``)."""
    curves = {"skill_sets": record.skill_sets, "judged_easy": record.judged_easy, "judged_hard": record.judged_hard,
              "true_easy": record.true_easy, "true_hard": record.true_hard, "replay_selected": selected + 1,
              "heldout_accuracy": {k: float(v.mean()) for k, v in heldout.items()}}  # fmt: skip
    findings = [
        Finding.from_estimate(
            paired_rate_diff_ci(heldout[a], heldout[c], units, unit=UNIT, null=0.0), metric=metric,
            control=control, control_value=0.0, primary=primary, details=curves if primary else {},
            margin=margin if primary else GAIN_MARGIN,
        )
        for metric, a, c, control, primary in (
            ("replay_minus_none", "replay", "none", "no skills", True),
            ("last_minus_none", "last", "none", "no skills", False),
            ("replay_minus_last", "replay", "last", "the last iteration's skills", False),
        )
    ]  # fmt: skip
    p, y = np.array(record.p_yes, dtype=float), np.array(record.truth, dtype=int)
    judged = record.task_ids or None
    findings += [
        Finding.from_estimate(
            cluster_auroc_ci(p, y, judged, unit=UNIT, null=0.5, seed=seed, n_resamples=n_bootstrap),
            metric="judge_auroc", control="chance", control_value=0.5, margin=DIAGNOSTIC_MARGIN,
            details={"definition": "AUROC of the model judge's P(yes) for the programmatic verdict, every judged answer",
                     "true_solve_rate": float(y.mean()) if len(y) else None},
        ),
        Finding.from_estimate(
            paired_rate_diff_ci((p >= 0.5).astype(float), y.astype(float), judged, unit=UNIT, null=0.0),
            metric="judge_overcredit", control="a judge as often right as the truth", control_value=0.0,
            margin=DIAGNOSTIC_MARGIN,
            details={"definition": "binary verdict (P(yes) >= 0.5) minus the truth, per judged answer, by task"},
        ),
    ]  # fmt: skip
    return findings


@dataclass
class SkillsData:
    """What :func:`measure` consumes: held-out correctness per arm, the loop's record, the replay-selected set."""

    heldout: dict[str, np.ndarray]
    record: SkillsRecord
    selected: int


class SkillsSimulator(Simulator):
    """The held-out arms and the loop's record at the config's sizes (``n_heldout`` tasks, half hard; ``iterations``
    x (``n_tasks`` fresh tasks + the ``n_replay`` probe tasks re-judged every iteration)), with no model.

    A run's base log-odds is drawn from U(-3, 0), hard tasks 1.5 lower, each task N(0, 1.5) (shared by the arms:
    the pairing); a quarter of runs are at the floor (a reasoner that solves nothing, as the embedded model). Each
    arm reads a different context, so each task's log-odds moves by N(0, 0.7) per arm; the replay-selected set is a
    random iteration's, identical to the last one when that iteration is the last. The planted effect: the
    replay-selected skills solve a share ``effect`` of the tasks the arm would otherwise fail (so a gain of about
    ``effect`` at the floor). The judge's P(yes) leans towards yes (+1 log-odds), with a per-task leaning (sd 1)
    that a re-judged probe keeps, and reads the truth with weight 1."""

    metric = "replay_minus_none"
    unit = UNIT
    planted_effect = 0.15

    def __init__(self, cfg: SkillsConfig) -> None:
        self.cfg = cfg
        self.nuisance = (
            f"{cfg.n_heldout} held-out tasks (half hard, task sd 1.5 log-odds, shared by the arms); a quarter of runs "
            f"at the floor (nothing solved); per-arm context noise sd 0.7; probe tasks re-judged every iteration keep "
            f"the judge's per-task leaning"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> SkillsData:
        cfg = self.cfg
        base = -20.0 if rng.random() < 0.25 else rng.uniform(-3, 0)
        n = cfg.n_heldout
        hard = np.arange(n) >= n // 2
        u = base - 1.5 * hard + rng.normal(0, 1.5, n)
        selected = int(rng.integers(0, max(1, cfg.iterations)))

        def arm() -> np.ndarray:
            return np.asarray(rng.random(n) < sigmoid(u + rng.normal(0, 0.7, n)), dtype=float)

        none, last = arm(), arm()
        replay = last.copy() if selected == cfg.iterations - 1 else arm()
        replay = np.maximum(replay, (rng.random(n) < effect).astype(float))
        record = SkillsRecord()
        probe_u = base + rng.normal(0, 1.5, cfg.n_replay)
        probe_lean = rng.normal(0, 1.0, cfg.n_replay)
        for t in range(cfg.iterations):
            fresh_u = base + rng.normal(0, 1.5, cfg.n_tasks)
            logits = np.r_[fresh_u, probe_u] + rng.normal(0, 0.7, cfg.n_tasks + cfg.n_replay)
            truth = rng.random(len(logits)) < sigmoid(logits)
            lean = np.r_[rng.normal(0, 1.0, cfg.n_tasks), probe_lean]
            p_yes = np.asarray(sigmoid(1.0 + lean + 1.0 * truth + rng.normal(0, 1.0, len(logits))), dtype=float)
            record.p_yes += [float(x) for x in p_yes]
            record.truth += [bool(x) for x in truth]
            record.task_ids += [f"it{t}/task{i}" for i in range(cfg.n_tasks)] + [
                f"probe{j}" for j in range(cfg.n_replay)
            ]
        return SkillsData({"none": none, "last": last, "replay": replay}, record, selected)

    def measure(self, data: SkillsData, seed: int) -> list[Finding]:
        # the primary's interval is a t over tasks (no resampling); the judge AUROC's bootstrap is kept small here
        return measure(data.heldout, data.record, data.selected, seed=seed,
                       n_bootstrap=min(self.cfg.n_bootstrap, 200), margin=self.cfg.margin)  # fmt: skip


class SkillsStudy(Study[SkillsConfig]):
    side = "self-signal"
    description = "Ctx2Skill: frozen roles edit natural-language skills; replay vs last vs none on held-out tasks"

    def simulator(self, cfg: SkillsConfig) -> SkillsSimulator:
        return SkillsSimulator(cfg)

    def plan(self, cfg: SkillsConfig, ctx: PlanContext) -> Work:
        m = ctx.subject
        sample = generate_rulebook_tasks(8, seed=ctx.seed, n_rules=2)
        skill = "Read each rule name in the rulebook and apply the rules in the order given."  # about one sentence

        def prompt(k: int) -> float:  # mean prompt tokens with k skills in context
            return ctx.count(m, [t.messages([skill] * k) for t in sample]) / len(sample)

        judge_prompt = ctx.count(m, [user(t.messages()[0]["content"] + " " * 60) for t in sample]) / len(sample)
        judge_prompt += cfg.answer_tokens
        work = Work()
        it, cap = cfg.iterations, cfg.max_skills
        challenge_prompt = ctx.count(m, [user(CHALLENGE)])
        work.generate(m, it * cfg.n_tasks, it * cfg.n_tasks * challenge_prompt, 8)
        # iteration t solves its tasks with the skills of t - 1 and the probe set with those of t
        solve = sum(
            cfg.n_tasks * prompt(min(t - 1, cap)) + cfg.n_replay * prompt(min(t, cap)) for t in range(1, it + 1)
        )
        solve += cfg.n_heldout * (prompt(0) + 2 * prompt(min(it, cap)))  # none, last, replay-selected
        n_solve = it * (cfg.n_tasks + cfg.n_replay) + 3 * cfg.n_heldout
        work.generate(m, n_solve, int(solve), cfg.answer_tokens)
        work.forward(m, int(it * (cfg.n_tasks + cfg.n_replay) * judge_prompt))
        work.generate(m, it, int(it * (judge_prompt + 40)), cfg.skill_tokens)
        return work

    def run(self, ctx: RunContext, cfg: SkillsConfig) -> list[Finding]:
        model = ctx.model()
        replay_tasks = generate_rulebook_tasks(cfg.n_replay // 2, seed=5_000 + ctx.seed, n_rules=1) + \
            generate_rulebook_tasks(cfg.n_replay - cfg.n_replay // 2, seed=5_000 + ctx.seed, n_rules=2)  # fmt: skip
        heldout = generate_rulebook_tasks(cfg.n_heldout // 2, seed=10_000 + ctx.seed, n_rules=1) + \
            generate_rulebook_tasks(cfg.n_heldout - cfg.n_heldout // 2, seed=10_000 + ctx.seed, n_rules=2)  # fmt: skip
        record = SkillsRecord()
        skills: list[str] = []
        samples: list[dict[str, Any]] = []
        for t in range(1, cfg.iterations + 1):
            tasks = challenge(model, cfg.n_tasks, seed=ctx.seed * 100 + t)
            answers = solve(model, tasks, skills, cfg.answer_tokens)
            p_yes = judge(model, tasks, answers)
            rejected = [i for i in np.argsort(p_yes) if p_yes[i] < 0.5] or [int(np.argmin(p_yes))]
            skills = edit_skills(skills, propose_skill(model, tasks[rejected[0]], answers[rejected[0]],
                                                       cfg.skill_tokens), cfg.max_skills)  # fmt: skip
            # replay: the new skill set on the fixed probe set, scored by the judge's verdicts
            probe_answers = solve(model, replay_tasks, skills, cfg.answer_tokens)
            probe_yes = judge(model, replay_tasks, probe_answers)
            easy = np.array([r.difficulty == 1 for r in replay_tasks])
            record.skill_sets.append(list(skills))
            record.judged_easy.append(float((probe_yes[easy] >= 0.5).mean()))
            record.judged_hard.append(float((probe_yes[~easy] >= 0.5).mean()))
            # --- reporting only: the programmatic judge
            truth = GroundTruth(tasks + replay_tasks, check)
            right = truth.correct([x.id for x in tasks + replay_tasks], answers + probe_answers)
            record.p_yes += [float(p) for p in (*p_yes, *probe_yes)]
            record.truth += right
            record.task_ids += [x.id for x in tasks + replay_tasks]
            probe_right = np.array(right[len(tasks) :])
            record.true_easy.append(float(probe_right[easy].mean()))
            record.true_hard.append(float(probe_right[~easy].mean()))
            ctx.log_metrics({"judged_easy": record.judged_easy[-1], "judged_hard": record.judged_hard[-1],
                             "true_easy": record.true_easy[-1], "true_hard": record.true_hard[-1],
                             "n_skills": float(len(skills)),
                             "task_true_solve_rate": float(np.mean(right[: len(tasks)]))}, step=t)  # fmt: skip
            samples += [{"unit": x.id, "prompt": x.question, "output": a, "score": float(p), "verdict": bool(c),
                         "iteration": t, "skills": list(skills)}
                        for x, a, p, c in zip(tasks, answers, p_yes, right[: len(tasks)], strict=True)]  # fmt: skip
        selected = replay_select(record.judged_easy, record.judged_hard)
        arms = {"none": [], "last": record.skill_sets[-1] if record.skill_sets else [],
                "replay": record.skill_sets[selected] if record.skill_sets else []}  # fmt: skip
        truth_heldout = GroundTruth(heldout, check)  # reporting only
        scores = {name: np.array(truth_heldout.correct([x.id for x in heldout],
                                                       solve(model, heldout, s, cfg.answer_tokens)), dtype=float)
                  for name, s in arms.items()}  # fmt: skip
        ctx.log_metrics({f"heldout_accuracy.{k}": float(v.mean()) for k, v in scores.items()})
        ctx.log_samples(samples)
        ctx.log_samples([{"iteration": i + 1, "skills": s, "judged_easy": e, "judged_hard": h, "true_easy": te,
                          "true_hard": th} for i, (s, e, h, te, th) in enumerate(zip(
                              record.skill_sets, record.judged_easy, record.judged_hard, record.true_easy,
                              record.true_hard, strict=True))], name="skill_sets.jsonl")  # fmt: skip
        return measure(
            scores,
            record,
            selected,
            seed=ctx.seed,
            n_bootstrap=cfg.n_bootstrap,
            margin=cfg.margin,
            units=[x.id for x in heldout],
        )
