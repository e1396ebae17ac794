"""Study ``emergence/on_policy_entropy`` (RESEARCH.md §1.3, after Asvin and Lindsey 2026): does a post-trained model
treat its own outputs as actions - lower next-token entropy on its own text in its own turn than on other text?

Pipeline: the subject and a reference model (its base model where one is known, else a model of similar size; the
findings name which and why, see :mod:`reflectlab.core.models.references`) each sample one response per prompt ->
the two responses of a prompt are cut to the same number of words (length- and prompt-matched pairs) -> every scorer
teacher-forces every author's text after the same context, the prompt, in three placements: the assistant turn, a
user turn, and raw text with no template -> mean next-token entropy (nats) over the text's tokens.

Primary (issue 20): the scorer x author interaction in the assistant turn, on the log scale, per prompt:
``[log H_s(ref text) - log H_s(own text)] + [log H_r(subject text) - log H_r(its own text)]`` - each model's
entropy on the other's text minus on its own, summed. Whose text is harder (an author effect, shared by both
scorers) and which scorer is more confident (a scorer effect) cancel in it; what is left is the two models' own-text
advantages added together. With a base reference (the anchor found the effect essentially absent in base models)
that is the subject's own advantage. The old headline, the subject's off/on log ratio minus the reference's, is a
diagnostic now: a two-model design cannot separate it from text difficulty (it reads twice the difficulty
difference with no self-preference at all). A second diagnostic contrast, turn x author within the subject, asks
whether the subject's own text gains more from its own turn than the other text does.

The independent unit is the prompt (one length-matched pair of texts per prompt): every finding is a mean over
prompts with a t-interval over prompts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import StudyConfig, option, require
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Placement, Prompt, SamplingParams, user
from reflectlab.core.models.references import Reference, pick_reference
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import UnitEstimate, cluster_diff_ci, cluster_mean_ci
from reflectlab.probes.topics import shipped_topics

PLACEMENTS: tuple[Placement, ...] = ("assistant", "user", "raw")
REQUESTS = (
    "Write two sentences about {t}.",
    "Explain {t} to a child in a few sentences.",
    "What is interesting about {t}?",
    "Describe {t} briefly.",
)
_FLOOR = 1e-6  # entropies are clipped here before taking logs
UNIT = "prompt"


def build_prompts(n: int) -> list[str]:
    """``n`` requests, cycling through the request wordings and the shipped topics together."""
    topics = shipped_topics()
    return [REQUESTS[i % len(REQUESTS)].format(t=topics[i % len(topics)]) for i in range(n)]


@dataclass
class OnPolicyEntropyConfig(StudyConfig):
    n_prompts: int = option(40, "Prompts; each model samples one response to each.")
    max_new_tokens: int = option(48, "Tokens sampled per response.")
    temperature: float = option(1.0, "Sampling temperature of the responses.")
    min_words: int = option(4, "Pairs whose shorter response has fewer words are dropped.")
    reference_model: str = option(
        "auto",
        "The reference model; 'auto' = model.base, else the subject's known base model, else (embedded subjects "
        "only) the other embedded model, named as a fallback in the findings.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        available = len(set(build_prompts(len(shipped_topics()) * len(REQUESTS))))
        distinct = len(set(build_prompts(self.n_prompts)))
        require(1 <= self.n_prompts == distinct, "n_prompts", f"must be between 1 and {available} (distinct prompts)")
        require(self.min_words >= 1, "min_words", "must be at least 1")


def chats(prompts: list[str]) -> list[Prompt]:
    """Each request as a one-turn chat."""
    return [user(p) for p in prompts]


def cut_words(text: str, k: int) -> str:
    """The first ``k`` whitespace-separated words of ``text``, with their original spacing."""
    matches = list(re.finditer(r"\S+", text))
    return text[: matches[k - 1].end()] if k <= len(matches) and k > 0 else text.strip()


def match_lengths(a: list[str], b: list[str], min_words: int) -> tuple[list[int], list[str], list[str]]:
    """Indices of the kept pairs, and both texts cut to the shorter one's word count."""
    keep, out_a, out_b = [], [], []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        k = min(len(x.split()), len(y.split()))
        if k >= min_words:
            keep.append(i)
            out_a.append(cut_words(x, k))
            out_b.append(cut_words(y, k))
    return keep, out_a, out_b


def sample(model: Model, prompts: list[str], cfg: OnPolicyEntropyConfig, seed: int) -> list[str]:
    params = SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, stop=("\nUser:", "\n\n\n"))
    return [g.text.strip() for g in model.generate(chats(prompts), params, seed=seed, desc="sample responses")]


def entropies(model: Model, texts: list[str], prompts: list[str], placement: Placement) -> np.ndarray:
    """Mean next-token entropy of each text after its prompt, placed in the assistant turn, in a user turn, or as raw
    text after the prompt's text: the same context in all three, so a turn ratio measures the turn alone."""
    contexts: list[Prompt | None] = list(prompts)
    scored = model.score(texts, contexts, placement=placement, desc=f"entropy ({placement})")
    return np.array([s.mean_entropy for s in scored])


def _log_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(np.maximum(num, _FLOOR)) - np.log(np.maximum(den, _FLOOR)))


def _ratio(est: UnitEstimate) -> UnitEstimate:
    """A mean log ratio as a geometric-mean ratio with its interval (the unit and p-value kept)."""
    return replace(est, value=float(np.exp(est.value)), ci_low=float(np.exp(est.ci_low)),
                   ci_high=float(np.exp(est.ci_high)))  # fmt: skip


def measure(
    h: dict[tuple[str, str, str], np.ndarray],
    *,
    subject: str,
    reference: str,
    margin: float,
    seed: int,
    n_bootstrap: int,
    prompts: Sequence[object] | None = None,
    choice: Reference | None = None,
) -> list[Finding]:
    """Findings from ``h[(scorer, author, placement)]``: per-pair mean entropies (scorer and author are "subject" or
    "reference"; the pairs are the same, in the same order, in every cell). ``subject`` and ``reference`` name the
    two models (``choice`` says how the reference was chosen); ``prompts`` gives each pair's prompt id (the unit;
    each pair its own prompt when None). Intervals are t-intervals over prompts (``seed`` and ``n_bootstrap`` are
    unused: nothing is resampled)."""
    s_on, s_off = h[("subject", "subject", "assistant")], h[("subject", "reference", "assistant")]
    r_on, r_off = h[("reference", "reference", "assistant")], h[("reference", "subject", "assistant")]
    subject_lr, reference_lr = _log_ratio(s_off, s_on), _log_ratio(r_off, r_on)
    # turn x author within the subject: own text's user/assistant log ratio minus the other text's
    turn_own = _log_ratio(h[("subject", "subject", "user")], s_on)
    turn_other = _log_ratio(h[("subject", "reference", "user")], s_off)
    matrix = {f"{scorer}|{author}|{placement}": float(np.nanmean(v)) for (scorer, author, placement), v in h.items()}
    names = {"subject": subject, "reference": reference}
    details: dict[str, object] = {"matrix_mean_entropy": matrix, "models": names,
                                  "ratio": "geometric mean over prompt pairs", **(choice.details() if choice else {})}  # fmt: skip

    def ratio_finding(num: np.ndarray, den: np.ndarray, metric: str, control: str, note: str) -> Finding:
        return Finding.from_estimate(
            _ratio(cluster_mean_ci(_log_ratio(num, den), prompts, unit=UNIT, null=0.0, alternative="greater")),
            metric=metric,
            control=control,
            control_value=1.0,
            margin=margin,
            details={
                "definition": note,
                "numerator_mean": float(np.mean(num)),
                "denominator_mean": float(np.mean(den)),
                **(choice.details() if choice else {}),
            },
        )

    return [
        ratio_finding(
            s_off,
            s_on,
            "off_on_ratio",
            "equal entropy on own and other text (ratio 1)",
            f"{subject}'s entropy on {reference}'s text / on its own, both in its assistant turn",
        ),
        ratio_finding(
            h[("subject", "subject", "user")],
            s_on,
            "user_assistant_ratio",
            "equal entropy in either turn (ratio 1)",
            f"{subject}'s entropy on its own text in the user turn / in the assistant turn",
        ),
        ratio_finding(
            h[("subject", "subject", "raw")],
            s_on,
            "raw_assistant_ratio",
            "equal entropy without the template (ratio 1)",
            f"{subject}'s entropy on its own text as raw text / in the assistant turn",
        ),
        ratio_finding(
            h[("subject", "reference", "user")],
            h[("subject", "reference", "assistant")],
            "user_assistant_ratio_other_text",
            "equal entropy in either turn (ratio 1)",
            f"{subject}'s entropy on {reference}'s text in the user turn / in the assistant turn",
        ),
        ratio_finding(
            r_off,
            r_on,
            "reference_off_on_ratio",
            "equal entropy on own and other text (ratio 1)",
            f"{reference}'s entropy on {subject}'s text / on its own text (its plain dialogue format)",
        ),
        Finding.from_estimate(
            cluster_diff_ci(subject_lr, reference_lr, prompts, unit=UNIT, null=0.0, alternative="greater"),
            metric="subject_minus_reference_log_ratio",
            control=f"the same off/on log ratio in {reference}",
            control_value=0.0,
            margin=margin,
            details={
                **details,
                "definition": "log(off/on) of the subject minus log(off/on) of the reference, paired per prompt: "
                "the chat-vs-base comparison of the anchor; a diagnostic, because it also reads twice the "
                "difference in how hard the two authors' texts are",
            },
        ),
        Finding.from_estimate(
            cluster_diff_ci(turn_own, turn_other, prompts, unit=UNIT, null=0.0, alternative="greater"),
            metric="own_turn_minus_other_turn_log_ratio",
            control="the same user/assistant log ratio on the reference's text",
            control_value=0.0,
            margin=margin,
            details={
                **details,
                "definition": "the subject's log(user/assistant) entropy ratio on its own text minus on the "
                "reference's, paired per prompt (turn x author; text difficulty cancels): above 0 = its own text "
                "gains more from its own turn",
            },
        ),
        Finding.from_estimate(
            cluster_mean_ci(subject_lr + reference_lr, prompts, unit=UNIT, null=0.0, alternative="greater"),
            metric="self_preference_interaction",
            control="no scorer x author interaction (whose text is harder and which scorer is surer both cancel)",
            control_value=0.0,
            margin=margin,
            primary=True,
            details={
                **details,
                "definition": "per prompt, [log H_subject(reference text) - log H_subject(own text)] + "
                "[log H_reference(subject text) - log H_reference(own text)] in the assistant turn: the two "
                "models' own-text advantages summed, free of text difficulty; present = lower entropy on one's "
                "own text than on the other's",
            },
        ),
    ]


class OnPolicyEntropySimulator(Simulator):
    """Per-prompt mean entropies of every cell (scorer x author x placement) for ``n_prompts`` matched pairs, with
    no model.

    On the log scale an entropy is ``the scorer's level (subject 2.6, reference 2.9 nats) + the prompt's effect
    (sd 0.2, every cell of the prompt) + the text's own difficulty (sd 0.15, shared by both scorers and all
    placements of that text) + the placement's effect (user turn +0.25, raw +0.3 for the subject; +0.1 each for the
    reference) + cell noise (sd 0.08)``. The confound: the reference model's text is harder for *both* scorers by
    ``difficulty`` (0.1 by default, a 10% entropy difference), which the old headline read as 0.2 of on-policy
    advantage with none planted. ``own_advantage`` (0 by default, as the anchor found for base models) makes every
    scorer surer on its own text in its assistant turn; the interaction counts it as self-preference by definition.
    The planted effect lowers the subject's entropy on its own text in its assistant turn by ``effect`` (log
    units): the on-policy advantage the study looks for."""

    metric = "self_preference_interaction"
    unit = UNIT
    planted_effect = 0.15

    def __init__(self, cfg: OnPolicyEntropyConfig, *, difficulty: float = 0.1, own_advantage: float = 0.0) -> None:
        self.cfg = cfg
        self.difficulty = difficulty
        self.own_advantage = own_advantage
        self.nuisance = (
            f"{cfg.n_prompts} prompts; prompt effect sd 0.2, text difficulty sd 0.15 shared by both scorers and all "
            f"placements; the reference's text harder for both scorers by {difficulty} (the confound of issue 20)"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> dict[tuple[str, str, str], np.ndarray]:
        n = self.cfg.n_prompts
        level = {"subject": np.log(2.6), "reference": np.log(2.9)}
        turn = {"subject": {"assistant": 0.0, "user": 0.25, "raw": 0.3},
                "reference": {"assistant": 0.0, "user": 0.1, "raw": 0.1}}  # fmt: skip
        prompt = rng.normal(0, 0.2, n)
        text = {author: rng.normal(0, 0.15, n) + (self.difficulty if author == "reference" else 0.0)
                for author in ("subject", "reference")}  # fmt: skip
        h: dict[tuple[str, str, str], np.ndarray] = {}
        for scorer in ("subject", "reference"):
            for author in ("subject", "reference"):
                for placement in PLACEMENTS:
                    log_h = level[scorer] + prompt + text[author] + turn[scorer][placement] + rng.normal(0, 0.08, n)
                    if scorer == author and placement == "assistant":
                        log_h = log_h - self.own_advantage - (effect if scorer == "subject" else 0.0)
                    h[(scorer, author, placement)] = np.exp(log_h)
        return h

    def measure(self, data: dict[tuple[str, str, str], np.ndarray], seed: int) -> list[Finding]:
        return measure(data, subject="subject", reference="reference", margin=self.cfg.margin, seed=seed,
                       n_bootstrap=self.cfg.n_bootstrap)  # fmt: skip


class OnPolicyEntropyStudy(Study[OnPolicyEntropyConfig]):
    side = "recognition"
    description = "next-token entropy on own vs other text, by turn; chat model vs base model"

    def simulator(self, cfg: OnPolicyEntropyConfig) -> OnPolicyEntropySimulator:
        return OnPolicyEntropySimulator(cfg)

    @staticmethod
    def _reference(cfg: OnPolicyEntropyConfig, subject: str, base: str | None) -> Reference:
        return pick_reference(subject, cfg.reference_model, base=base, key="studies.on_policy_entropy.reference_model")

    def plan(self, cfg: OnPolicyEntropyConfig, ctx: PlanContext) -> Work:
        prompts = build_prompts(cfg.n_prompts)
        work = Work()
        text_tokens = int(0.8 * cfg.max_new_tokens) * len(prompts)  # matched pairs are cut to the shorter text
        for name in (ctx.subject, self._reference(cfg, ctx.subject, ctx.spec.base).name):
            prompt_tokens = ctx.count(name, chats(prompts))
            work.generate(name, len(prompts), prompt_tokens, cfg.max_new_tokens)
            # 2 authors x (assistant turn after the prompt, user turn, raw)
            work.forward(name, 2 * (prompt_tokens + 3 * text_tokens + 20 * len(prompts)), scored=2 * 3 * text_tokens)
        return work

    def run(self, ctx: RunContext, cfg: OnPolicyEntropyConfig) -> list[Finding]:
        subject = ctx.model()
        choice = self._reference(cfg, subject.name, ctx.model_spec.base)
        ref_name = choice.name
        reference = ctx.model(ref_name)
        prompts = build_prompts(cfg.n_prompts)
        texts = {
            "subject": sample(subject, prompts, cfg, ctx.seed),
            "reference": sample(reference, prompts, cfg, ctx.seed),
        }
        keep, own, other = match_lengths(texts["subject"], texts["reference"], cfg.min_words)
        if len(keep) < 2:
            raise UserError(f"only {len(keep)} response pairs have {cfg.min_words}+ words; raise max_new_tokens")
        kept_prompts = [prompts[i] for i in keep]
        matched = {"subject": own, "reference": other}
        models = {"subject": subject, "reference": reference}
        h: dict[tuple[str, str, str], np.ndarray] = {}
        for scorer, model in models.items():
            for author, author_texts in matched.items():
                for placement in PLACEMENTS:
                    h[(scorer, author, placement)] = entropies(model, author_texts, kept_prompts, placement)
        own_h, other_h = h[("subject", "subject", "assistant")], h[("subject", "reference", "assistant")]
        ctx.log_samples(
            {"unit": keep[j], "prompt": p, "output": own[j], "score": float(own_h[j]),
             "verdict": "lower on own" if own_h[j] < other_h[j] else "not lower on own",
             "reference_output": other[j], **{f"H.{s}|{a}|{pl}": float(v[j]) for (s, a, pl), v in h.items()}}
            for j, p in enumerate(kept_prompts)
        )  # fmt: skip
        ctx.log_metrics({f"H.{s}.{a}.{pl}": float(np.mean(v)) for (s, a, pl), v in h.items()}
                        | {"pairs_kept": float(len(keep))})  # fmt: skip
        return measure(h, subject=subject.name, reference=ref_name, margin=cfg.margin, seed=ctx.seed,
                       n_bootstrap=cfg.n_bootstrap, prompts=keep, choice=choice)  # fmt: skip
