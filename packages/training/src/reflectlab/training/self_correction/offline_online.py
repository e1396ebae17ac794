"""Study ``self-correction/offline-vs-online`` (RESEARCH.md §3.3, after SCoRe): can a model learn to correct its own
first attempt, and does offline correction data teach it less than online RL on its own attempts?

Protocol: two attempts with a fixed instruction between them (:data:`INSTRUCTION`). Arms, all from the same base:

- ``base``: the prompted base model;
- ``pair_sft``: LoRA SFT on the base's wrong first attempts, each followed by the instruction and a correct answer to
  the same problem (a correct second attempt the base sampled for it, else the gold answer written as
  ``expression = answer``);
- ``star``: LoRA SFT on the base's own successful corrections (wrong first attempt, then a second attempt the
  verifier accepts);
- ``rl``: online GRPO (the ``rl`` trainer) on second attempts: the prompt is a problem, a first attempt the base
  sampled and the instruction; the reward is the verifier's verdict on the sampled second attempt plus SCoRe's bonus
  ``alpha * (r2 - r1)``. The first attempt is fixed in the prompt, so within a GRPO group r1 is a constant and the
  bonus only rescales the verdict (a second attempt that breaks a right first one earns ``-alpha``, one that fixes a
  wrong one ``1 + alpha``).

Every arm is evaluated greedily on the same held-out problems: Acc@t1, Acc@t2, delta = t2 - t1, delta(i->c) (share of
problems wrong at t1 and right at t2), delta(c->i), the share of second attempts that change the extracted answer and
the histogram of normalised edit distances between the attempts (the collapse diagnostic: offline SFT teaches the
model to repeat itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import FineTune, fine_tune, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.plots import pyplot, save_figure
from reflectlab.core.stats import UnitEstimate, cluster_diff_ci, paired_rate_diff_ci, rate_ci
from reflectlab.evals.extract import extract_answer, same_number
from reflectlab.evals.tasks.arithmetic import Problem
from reflectlab.evals.verifiers import ExactMatch
from reflectlab.training.result import TrainResult
from reflectlab.training.rl import RLSettings
from reflectlab.training.self_correction.common import TaskConfig, problems

INSTRUCTION = "There might be an error in your answer. Review it and give your final answer."
ARMS = ("base", "pair_sft", "star", "rl")
#: The independent unit: a held-out problem (one fine-tune seed per arm, so seeds cannot be the unit).
UNIT = "problem"
EDIT_BINS = (0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0001)

Chat = list[dict[str, str]]


@dataclass
class OfflineOnlineConfig(TaskConfig):
    n_train: int = option(64, "Training problems: the base's attempts on them are the offline data and RL prompts.")
    n_eval: int = option(80, "Held-out problems every arm is evaluated on, two greedy attempts each.")
    arms: list[str] = option(factory=lambda: list(ARMS), help="Arms to train and evaluate: base, pair_sft, star, rl.")
    attempt_tokens: int = option(24, "New tokens per attempt.")
    sample_temperature: float = option(0.8, "Temperature of the base's sampled attempts and of the RL rollouts.")
    second_samples: int = option(4, "Second attempts the base samples per training problem (the offline data).")
    train: FineTune = fine_tune(epochs=2.0, lora_r=16, learning_rate=2e-4, batch_size=8)
    rl_steps: int = option(24, "GRPO steps of the rl arm (its LoRA rank is train.lora_r).")
    rl_learning_rate: float = option(2e-4, "Learning rate of the rl arm.")
    rl_num_generations: int = option(4, "Second attempts sampled per prompt (a GRPO group).")
    rl_prompts_per_step: int = option(2, "Prompts (groups) per GRPO step.")
    alpha: float = option(10.0, "SCoRe's bonus weight: the rl reward is r2 + alpha * (r2 - r1).")

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [a for a in self.arms if a not in ARMS]
        require(bool(self.arms) and not unknown, "arms", f"unknown or empty {unknown}; known: {', '.join(ARMS)}")
        for key in ("n_train", "n_eval", "attempt_tokens", "second_samples", "rl_steps", "rl_prompts_per_step"):
            require(getattr(self, key) >= 1, key, "must be at least 1")
        require(self.rl_num_generations >= 2, "rl_num_generations", "must be at least 2 (a group needs a comparison)")
        require(self.sample_temperature > 0, "sample_temperature", "must be positive")
        require(self.rl_learning_rate > 0, "rl_learning_rate", "must be positive")


def second_chat(problem: Problem, first: str) -> Chat:
    """The second-attempt prompt: the problem, the first attempt, the fixed instruction."""
    return [*problem.messages(), {"role": "assistant", "content": first}, *user(INSTRUCTION)]


def edit_distance(a: str, b: str) -> float:
    """Levenshtein distance between two strings, over the longer one's length (0 = identical, 1 = nothing shared)."""
    if not a and not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / max(len(a), len(b))


def changed_answer(first: str, second: str) -> bool:
    """Whether the second attempt states a different answer (a missing answer differs from any number)."""
    a, b = extract_answer(first), extract_answer(second)
    if a is None or b is None:
        return (a is None) != (b is None)
    return not same_number(a, b)


@dataclass
class ArmResult:
    """One arm's two attempts on the evaluation problems."""

    arm: str
    first: list[str]
    second: list[str]
    r1: np.ndarray
    r2: np.ndarray
    n_train_examples: int = 0
    train: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> np.ndarray:
        return np.array([changed_answer(a, b) for a, b in zip(self.first, self.second, strict=True)], dtype=float)

    @property
    def edits(self) -> np.ndarray:
        return np.array([edit_distance(a, b) for a, b in zip(self.first, self.second, strict=True)])


def _interval(e: UnitEstimate) -> list[float]:
    return [e.value, e.ci_low, e.ci_high]


def _units(r: ArmResult) -> np.ndarray:
    """The unit of each evaluation outcome: its problem (every arm is evaluated on the same problems, in order)."""
    return np.arange(len(r.r1))


def arm_summary(r: ArmResult) -> dict[str, Any]:
    """The five SCoRe metrics with intervals ([value, low, high]; Wilson for rates, t over problems for the delta)
    and the collapse diagnostic."""
    hist, _ = np.histogram(r.edits, bins=EDIT_BINS)
    units = _units(r)

    def rate(x: np.ndarray) -> list[float]:
        return _interval(rate_ci(x, units, unit=UNIT))

    return {
        "acc_t1": rate(r.r1),
        "acc_t2": rate(r.r2),
        "delta": _interval(paired_rate_diff_ci(r.r2, r.r1, units, unit=UNIT)),
        "delta_i_to_c": rate((1 - r.r1) * r.r2),
        "delta_c_to_i": rate(r.r1 * (1 - r.r2)),
        "answer_changed_share": rate(r.changed),
        "edit_distance_histogram": {"bins": list(EDIT_BINS), "counts": hist.tolist()},
        "n_train_examples": r.n_train_examples,
        **r.train,
    }


def measure(results: dict[str, ArmResult], *, margin: float, seed: int, n_bootstrap: int) -> list[Finding]:
    """Findings from each arm's attempts; separate from the model work so planted attempts can test it.

    The study trains one fine-tune per arm (one seed), so the unit is the held-out problem (:data:`UNIT`): every
    interval is a t-interval over problems (``n`` = problems; ``seed`` and ``n_bootstrap`` are unused). Problems
    cannot carry the seed-to-seed variation of a fine-tune; comparisons of trained arms rest on one seed each
    (see the study's docs for what calibration shows). The primary finding is ``delta.rl``."""
    del seed, n_bootstrap
    common: dict[str, Any] = {"margin": margin}
    findings = []
    base = results.get("base")

    def diff(a: np.ndarray, b: np.ndarray, units: np.ndarray, alternative: str = "greater") -> UnitEstimate:
        return cluster_diff_ci(a, b, units, unit=UNIT, null=0.0, alternative=alternative)

    for arm, r in results.items():
        units = _units(r)
        findings.append(
            Finding.from_estimate(
                paired_rate_diff_ci(r.r2, r.r1, units, unit=UNIT, null=0.0, alternative="greater"),
                metric=f"delta.{arm}", control="the arm's own first attempt", control_value=0.0, primary=arm == "rl",
                details={"definition": "Acc@t2 - Acc@t1, paired by evaluation problem; t-interval over problems. "
                         "Present = the second attempt repairs the first: correction", **arm_summary(r)},
                **common,
            )
        )  # fmt: skip
        if base is None or arm == "base":
            continue
        findings.append(
            Finding.from_estimate(
                diff(r.r2 - r.r1, base.r2 - base.r1, units),
                metric=f"delta_minus_base.{arm}", control="the prompted base's delta", control_value=0.0,
                details={"definition": "the arm's self-correction gain minus the base's, paired by problem"},
                **common,
            )
        )  # fmt: skip
        findings.append(
            Finding.from_estimate(
                paired_rate_diff_ci(r.changed, base.changed, units, unit=UNIT, null=0.0, alternative="less"),
                metric=f"answer_change_minus_base.{arm}", control="the prompted base's share of changed answers",
                control_value=0.0, direction="less", bearing="opposes",
                details={"definition": "share of second attempts that change the answer, minus the base's, paired "
                         "by problem; present = training collapsed the second attempt toward repeating the first"},
                **common,
            )
        )  # fmt: skip
    if "rl" in results:
        for offline in ("pair_sft", "star"):
            if offline in results:
                rl, off = results["rl"], results[offline]
                findings.append(
                    Finding.from_estimate(
                        diff(rl.r2 - rl.r1, off.r2 - off.r1, _units(rl)),
                        metric=f"rl_minus_{offline}_delta", control=f"offline {offline} data", control_value=0.0,
                        details={"definition": "online RL's self-correction gain minus the offline arm's, paired "
                                 "by problem (one fine-tune of each)"},
                        **common,
                    )
                )  # fmt: skip
    return findings


@dataclass
class Collected:
    """The base's attempts on the training problems: one first attempt each, several second attempts each."""

    items: list[Problem]
    first: list[str]
    r1: list[bool]
    second: list[list[str]]
    r2: list[list[bool]]


def collect(model: Model, items: list[Problem], cfg: OfflineOnlineConfig, seed: int) -> Collected:
    params = SamplingParams(max_new_tokens=cfg.attempt_tokens, temperature=cfg.sample_temperature)
    first = [g.text for g in model.generate([p.messages() for p in items], params, seed=seed, desc="first attempts")]
    k = cfg.second_samples
    chats = [second_chat(p, a) for p, a in zip(items, first, strict=True) for _ in range(k)]
    seeds = [seed * 1000 + j for _ in items for j in range(k)]
    texts = [g.text for g in model.generate(chats, params, seeds=seeds, desc="second attempts")]
    exact = ExactMatch()
    second = [texts[i * k : (i + 1) * k] for i in range(len(items))]
    return Collected(
        items=items, first=first, r1=exact.verify(items, first), second=second,
        r2=[exact.verify([p] * k, s) for p, s in zip(items, second, strict=True)],
    )  # fmt: skip


def pair_sft_examples(data: Collected) -> list[Chat]:
    """Wrong first attempts, each followed by a correct answer to the same problem (sampled, else the gold)."""
    out = []
    for p, a1, ok1, seconds, oks in zip(data.items, data.first, data.r1, data.second, data.r2, strict=True):
        if ok1:
            continue
        target = next((s for s, ok in zip(seconds, oks, strict=True) if ok), f"{p.expression} = {p.answer}")
        out.append([*second_chat(p, a1), {"role": "assistant", "content": target}])
    return out


def star_examples(data: Collected) -> list[Chat]:
    """The base's own successful corrections: a wrong first attempt and a second attempt the verifier accepts."""
    out = []
    for p, a1, ok1, seconds, oks in zip(data.items, data.first, data.r1, data.second, data.r2, strict=True):
        if ok1:
            continue
        out += [[*second_chat(p, a1), {"role": "assistant", "content": s}]
                for s, ok in zip(seconds, oks, strict=True) if ok]  # fmt: skip
    return out


def evaluate(model: Model, items: list[Problem], cfg: OfflineOnlineConfig, arm: str) -> ArmResult:
    """Two greedy attempts on each evaluation problem."""
    params = SamplingParams(max_new_tokens=cfg.attempt_tokens)
    first = [g.text for g in model.generate([p.messages() for p in items], params, desc=f"{arm}: attempt 1")]
    chats = [second_chat(p, a) for p, a in zip(items, first, strict=True)]
    second = [g.text for g in model.generate(chats, params, desc=f"{arm}: attempt 2")]
    exact = ExactMatch()
    return ArmResult(arm, first, second, np.array(exact.verify(items, first), dtype=float),
                     np.array(exact.verify(items, second), dtype=float))  # fmt: skip


def trained(
    ctx: RunContext, data: Any, settings: Any, tag: str, base: Model, trainer: str = "sft", **kwargs: Any
) -> tuple[Model, TrainResult]:
    """The model trained from ``base`` under ``tag`` (:meth:`RunContext.train`), and how training went."""
    result = ctx.train(data, settings, tag, trainer=trainer, base=base.spec, **kwargs)
    if not isinstance(result, TrainResult):
        raise TypeError(f"the {trainer} trainer returned {type(result).__name__}, not a TrainResult")
    return ctx.model(result.spec), result


#: Simulated per arm: how far training moves the first attempt (logit), and the share of second attempts that re-solve
#: the problem (the quick run: Acc@t1 0.58 base, 0.78 Pair-SFT and RL, 0.63 STaR; 8-16% of answers changed).
_SIM_ARMS = {"base": (0.0, 0.08), "pair_sft": (0.9, 0.08), "star": (0.2, 0.15), "rl": (0.9, 0.16)}


class OfflineOnlineSimulator(Simulator):
    """Two greedy attempts of every configured arm on ``n_eval`` held-out problems, with no model.

    Problems are clustered and shared by the arms: a problem's difficulty ``u`` (sd 1.5 on the logit) sets its
    first-attempt accuracy ``sigmoid(logit(accuracy) + arm shift + fine-tune shift + u)`` in every arm (floors and
    ceilings by problem); a trained arm's first attempt moves by a fixed shift (:data:`_SIM_ARMS`) plus its
    fine-tune's own (sd 0.3). The second attempt re-solves the problem with the arm's share (else repeats the
    first): an independent attempt at the same accuracy, the problem's dominant wrong answer when wrong. Under the
    null this leaves every arm's expected delta at 0, but each trained arm is one fine-tune, whose own delta
    varies from seed to seed (sd ``seed_sd``, 0.03: it fixes wrong first attempts or breaks right ones at that
    rate), which problems as the unit cannot see. The planted effect fixes a wrong first attempt of the rl arm
    with probability ``effect / (1 - Acc@t1)``: an expected delta of ``effect``."""

    metric = "delta.rl"
    unit = UNIT
    planted_effect = 0.1

    def __init__(self, cfg: OfflineOnlineConfig, *, accuracy: float = 0.58, seed_sd: float = 0.03) -> None:
        self.cfg = cfg
        self.accuracy = accuracy
        self.seed_sd = seed_sd
        self.nuisance = (
            f"{cfg.n_eval} held-out problems shared by {len(cfg.arms)} arms, difficulty sd 1.5 (logit) around "
            f"{accuracy}; one fine-tune per trained arm with its own first-attempt shift (sd 0.3) and its own "
            f"delta (sd {seed_sd}); second attempts re-solve 8-16% of problems"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> dict[str, ArmResult]:
        n = self.cfg.n_eval
        gold = 100 + np.arange(n)
        u = rng.normal(0.0, 1.5, n)
        level = np.log(self.accuracy / (1 - self.accuracy))
        out = {}
        for arm in self.cfg.arms:
            shift, resolve = _SIM_ARMS[arm]
            trained = arm != "base"
            p = 1.0 / (1.0 + np.exp(-(level + shift + u + (rng.normal(0.0, 0.3) if trained else 0.0))))

            def attempt(p: np.ndarray = p) -> np.ndarray:
                right = rng.random(n) < p
                wrong = gold + np.where(rng.random(n) < 0.6, 1, rng.integers(2, 6, n))
                return np.where(right, gold, wrong)

            a1 = attempt()
            a2 = np.where(rng.random(n) < resolve, attempt(), a1)
            tilt = rng.normal(0.0, self.seed_sd) if trained else 0.0
            plant = effect if arm == "rl" else 0.0
            acc1 = float(np.mean(a1 == gold))
            fix = max(tilt, 0.0) / max(1 - acc1, 1e-9) + plant / max(1 - acc1, 1e-9)
            brk = max(-tilt, 0.0) / max(acc1, 1e-9)
            u2 = rng.random(n)
            a2 = np.where((a2 != gold) & (u2 < fix), gold, a2)
            a2 = np.where((a1 == gold) & (a2 == gold) & (u2 < brk), gold + 1, a2)
            first = [f"The answer is {v}." for v in a1]
            second = [f"The answer is {v}." for v in a2]
            out[arm] = ArmResult(arm, first, second, (a1 == gold).astype(float), (a2 == gold).astype(float))
        return out

    def measure(self, data: dict[str, ArmResult], seed: int) -> list[Finding]:
        return measure(data, margin=self.cfg.margin, seed=seed, n_bootstrap=self.cfg.n_bootstrap)


class OfflineOnlineStudy(Study[OfflineOnlineConfig]):
    side = "correction"
    description = "two attempts: prompted base vs Pair-SFT vs STaR vs online RL (GRPO) on its own attempts"

    def plan(self, cfg: OfflineOnlineConfig, ctx: PlanContext) -> Work:
        work = Work()
        m = ctx.subject
        train = problems(cfg, cfg.n_train, ctx.seed)
        first = ctx.count(m, [p.messages() for p in train]) / max(1, len(train))
        second = ctx.count(m, [second_chat(p, f"{p.expression} = {p.answer}") for p in train]) / max(1, len(train))
        second += cfg.attempt_tokens - 6  # a sampled first attempt is longer than the placeholder
        t = cfg.attempt_tokens
        n_arms = len(cfg.arms)
        work.generate(m, n_arms * cfg.n_eval, int(n_arms * cfg.n_eval * first), t)
        work.generate(m, n_arms * cfg.n_eval, int(n_arms * cfg.n_eval * second), t)
        if {"pair_sft", "star", "rl"} & set(cfg.arms):
            work.generate(m, cfg.n_train, int(cfg.n_train * first), t)
            k = cfg.n_train * cfg.second_samples
            work.generate(m, k, int(k * second), t)
        # Offline data: about half the training problems start wrong (Pair-SFT); a fifth of those get corrected.
        share = {"pair_sft": 0.5, "star": 0.5 * 0.2 * cfg.second_samples}
        for arm in ("pair_sft", "star"):
            if arm in cfg.arms:
                work.train(m, int(cfg.train.epochs * share[arm] * cfg.n_train * (second + t)))
        if "rl" in cfg.arms:
            rollouts = cfg.rl_steps * cfg.rl_num_generations * cfg.rl_prompts_per_step
            # A GRPO step samples its rollouts inside TRL at a batch far below the planner's, so each of its t
            # decoding steps is priced at that batch's step latency; then a LoRA forward and backward over prompt
            # and completion.
            batch = cfg.rl_num_generations * cfg.rl_prompts_per_step
            work.small_batch_decode(m, steps=cfg.rl_steps * t, prompt_tokens=int(rollouts * second), batch=batch)
            work.train(m, int(rollouts * (second + t)))
        return work

    def simulator(self, cfg: OfflineOnlineConfig) -> OfflineOnlineSimulator:
        return OfflineOnlineSimulator(cfg)

    def run(self, ctx: RunContext, cfg: OfflineOnlineConfig) -> list[Finding]:
        base = ctx.model()
        train_items = problems(cfg, cfg.n_train, ctx.seed)
        eval_items = problems(cfg, cfg.n_eval, 10_000 + ctx.seed, exclude={p.id for p in train_items})
        results: dict[str, ArmResult] = {}
        data = collect(base, train_items, cfg, ctx.seed) if set(cfg.arms) - {"base"} else None
        for arm in cfg.arms:
            model, n_examples, train_info = base, 0, {}
            if arm in ("pair_sft", "star") and data is not None:
                examples = pair_sft_examples(data) if arm == "pair_sft" else star_examples(data)
                n_examples = len(examples)
                if examples:
                    model, result = trained(ctx, examples, cfg.train.settings(ctx.seed), arm, base)
                    train_info = {"train_loss": result.train_loss, "train_steps": result.steps}
            elif arm == "rl" and data is not None:
                model, n_examples, train_info = self._rl(ctx, cfg, base, data)
            results[arm] = evaluate(model, eval_items, cfg, arm)
            results[arm].n_train_examples = n_examples
            results[arm].train = train_info
            r = results[arm]
            ctx.log_metrics({f"{arm}.acc_t1": float(r.r1.mean()), f"{arm}.acc_t2": float(r.r2.mean()),
                             f"{arm}.answer_changed": float(r.changed.mean())})  # fmt: skip
        ctx.log_samples(
            {"unit": p.id, "item": "two attempts", "arm": arm, "prompt": p.question,
             "output": f"{a}\n--- {INSTRUCTION}\n{b}", "score": float(r2 - r1),
             "verdict": f"t1 {'right' if r1 else 'wrong'}, t2 {'right' if r2 else 'wrong'}", "gold": p.answer}
            for arm, r in results.items()
            for p, a, b, r1, r2 in zip(eval_items, r.first, r.second, r.r1, r.r2, strict=True)
        )  # fmt: skip
        _plot(ctx, results)
        return measure(results, margin=cfg.margin, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap)

    @staticmethod
    def _rl(
        ctx: RunContext, cfg: OfflineOnlineConfig, base: Model, data: Collected
    ) -> tuple[Model, int, dict[str, Any]]:
        """Online GRPO on second attempts after the base's own first attempts."""
        chats = [second_chat(p, a) for p, a in zip(data.items, data.first, strict=True)]
        # Each prompt is known by its question and first attempt.
        gold = {
            (c[0]["content"], c[1]["content"]): (p, ok) for c, p, ok in zip(chats, data.items, data.r1, strict=True)
        }
        exact, alpha = ExactMatch(), cfg.alpha

        def reward(prompts: list[Chat], texts: list[str]) -> list[float]:
            out = []
            for chat, text in zip(prompts, texts, strict=True):
                problem, r1 = gold[(chat[0]["content"], chat[1]["content"])]
                r2 = float(exact.check(problem.answer, text))
                out.append(r2 + alpha * (r2 - float(r1)))
            return out

        settings = RLSettings(
            steps=cfg.rl_steps, learning_rate=cfg.rl_learning_rate, num_generations=cfg.rl_num_generations,
            prompts_per_step=cfg.rl_prompts_per_step, max_completion_length=cfg.attempt_tokens,
            temperature=cfg.sample_temperature, lora_r=cfg.train.lora_r, seed=ctx.seed,
        )  # fmt: skip
        reward_key = f"exact-two-attempt-alpha{alpha}"
        model, result = trained(ctx, (chats, reward), settings, "rl", base, "rl", reward_key=reward_key)
        info = {"train_steps": result.steps, "train_loss": result.train_loss, "rl_runtime_s": result.runtime_s}
        return model, len(chats), info


def _plot(ctx: RunContext, results: dict[str, ArmResult]) -> None:
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(10, 4))
    names = list(results)
    x = np.arange(len(names))
    left.bar(x - 0.2, [results[a].r1.mean() for a in names], 0.4, label="Acc@t1")
    left.bar(x + 0.2, [results[a].r2.mean() for a in names], 0.4, label="Acc@t2")
    left.set_xticks(x, names)
    left.set_ylim(0, 1)
    left.set_ylabel("accuracy")
    left.legend()
    left.set_title("two attempts per arm")
    for arm in names:
        hist, _ = np.histogram(results[arm].edits, bins=EDIT_BINS)
        right.plot(range(len(hist)), hist / max(1, hist.sum()), marker="o", label=arm)
    right.set_xticks(range(len(EDIT_BINS) - 1), [f"<{b:.1f}" for b in EDIT_BINS[1:]])
    right.set_xlabel("normalised edit distance between attempts")
    right.set_ylabel("share of problems")
    right.legend()
    right.set_title("collapse diagnostic")
    save_figure(fig, ctx.out_dir / "attempts.png")
