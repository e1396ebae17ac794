"""Study ``emergence/on-policy-entropy`` (RESEARCH.md §1.3, after Asvin and Lindsey 2026): does a post-trained model
treat its own outputs as actions - lower next-token entropy on its own text in its own turn than on other text?

Pipeline: the subject (a chat model) and a reference model (by default the other embedded model, ``gemma3-270m``,
a base model with no chat template) each sample one response per prompt -> the two responses of a prompt are cut
to the same number of words (length- and prompt-matched pairs) -> every scorer teacher-forces every author's text
in the assistant turn (after the prompt), in the user turn, and as raw text with no template -> mean next-token
entropy (nats) over the text's tokens.

Controls: on-policy text visits confident states by construction, so the raw off/on ratio is not enough; the
informative numbers are the *difference between the chat model's ratio and the base model's ratio* on the same
prompt pairs, and the cross-model matrix (each scorer on each author's text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from reflectlab.core.config import StudyConfig
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Placement, Prompt, SamplingParams
from reflectlab.core.models.embedded import other_embedded
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import Estimate, mean_ci, paired_diff_ci

STUDY = "emergence/on-policy-entropy"
PLACEMENTS: tuple[Placement, ...] = ("assistant", "user", "raw")
REQUESTS = (
    "Write two sentences about {t}.",
    "Explain {t} to a child in a few sentences.",
    "What is interesting about {t}?",
    "Describe {t} briefly.",
)
_FLOOR = 1e-6  # entropies are clipped here before taking logs


@dataclass
class OnPolicyEntropyConfig(StudyConfig):
    n_prompts: int = 40
    max_new_tokens: int = 48
    temperature: float = 1.0
    min_words: int = 4  # pairs whose shorter response has fewer words are dropped
    reference_model: str = "auto"  # "auto" = the other embedded model (a base model for the default subject)
    margin: float = 0.05


def build_prompts(n: int) -> list[str]:
    topics = [
        line.strip()
        for line in resources.files("reflectlab.probes.introspection").joinpath("topics.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    prompts = [REQUESTS[i % len(REQUESTS)].format(t=topics[i % len(topics)]) for i in range(n)]
    if len(set(prompts)) < n:
        raise UserError(f"n_prompts={n} is more than the {len(topics) * len(REQUESTS)} distinct prompts available")
    return prompts


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


def sample(model: Model, prompts: list[str], cfg: Any, seed: int) -> list[str]:
    chats: list[Prompt] = [[{"role": "user", "content": p}] for p in prompts]
    params = SamplingParams(
        max_new_tokens=int(cfg.max_new_tokens), temperature=float(cfg.temperature), stop=("\nUser:", "\n\n\n")
    )
    return [g.text.strip() for g in model.generate(chats, params, seed=seed, desc="sample responses")]


def entropies(model: Model, texts: list[str], prompts: list[str], placement: Placement) -> np.ndarray:
    """Mean next-token entropy of each text: after its prompt in the assistant turn, alone in the user turn, or raw."""
    contexts: list[Prompt | None] = list(prompts) if placement == "assistant" else [None] * len(texts)
    scored = model.score(texts, contexts, placement=placement, desc=f"entropy ({placement})")
    return np.array([s.mean_entropy for s in scored])


def _log_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(np.maximum(num, _FLOOR)) - np.log(np.maximum(den, _FLOOR)))


def _ratio(est: Estimate) -> Estimate:
    """A mean log ratio as a geometric-mean ratio with its interval."""
    return Estimate(float(np.exp(est.value)), float(np.exp(est.ci_low)), float(np.exp(est.ci_high)), est.n)


def measure(
    h: dict[tuple[str, str, str], np.ndarray],
    *,
    subject: str,
    reference: str,
    margin: float,
    seed: int,
    n_bootstrap: int,
) -> list[Finding]:
    """Findings from ``h[(scorer, author, placement)]``: per-pair mean entropies (scorer and author are "subject" or
    "reference"; the pairs are the same, in the same order, in every cell)."""
    common: dict[str, Any] = {"study": STUDY, "side": "recognition", "model": subject}
    b = n_bootstrap
    s_on, s_off = h[("subject", "subject", "assistant")], h[("subject", "reference", "assistant")]
    r_on, r_off = h[("reference", "reference", "assistant")], h[("reference", "subject", "assistant")]
    subject_lr, reference_lr = _log_ratio(s_off, s_on), _log_ratio(r_off, r_on)
    matrix = {f"{scorer}|{author}|{placement}": float(np.nanmean(v)) for (scorer, author, placement), v in h.items()}
    names = {"subject": subject, "reference": reference}
    details = {"matrix_mean_entropy": matrix, "models": names, "ratio": "geometric mean over prompt pairs"}

    def ratio_finding(num: np.ndarray, den: np.ndarray, metric: str, control: str, note: str) -> Finding:
        return Finding.from_estimate(
            _ratio(mean_ci(_log_ratio(num, den), seed=seed, n_resamples=b)),
            metric=metric,
            control=control,
            control_value=1.0,
            margin=margin,
            details={
                "definition": note,
                "numerator_mean": float(np.mean(num)),
                "denominator_mean": float(np.mean(den)),
            },
            **common,
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
            paired_diff_ci(subject_lr, reference_lr, seed=seed, n_resamples=b),
            metric="subject_minus_reference_log_ratio",
            control=f"the same off/on log ratio in {reference}",
            control_value=0.0,
            margin=margin,
            primary=True,
            details={
                **details,
                "definition": "log(off/on) of the subject minus log(off/on) of the reference, "
                "paired per prompt: present = the subject favours its own text more than the reference "
                "favours its own",
            },
            **common,
        ),
    ]


class OnPolicyEntropyStudy(Study):
    name = "on-policy-entropy"
    side = "recognition"
    description = "next-token entropy on own vs other text, by turn; chat model vs base model"

    @staticmethod
    def _reference(cfg: Any, subject: str) -> str:
        return other_embedded(subject) if cfg.reference_model == "auto" else str(cfg.reference_model)

    def plan(self, cfg: Any, ctx: PlanContext) -> Work:
        prompts = build_prompts(int(cfg.n_prompts))
        chats: list[Any] = [[{"role": "user", "content": p}] for p in prompts]
        work = Work()
        text_tokens = int(0.8 * cfg.max_new_tokens) * len(prompts)  # matched pairs are cut to the shorter text
        for name in (ctx.subject, self._reference(cfg, ctx.subject)):
            prompt_tokens = ctx.count(name, chats)
            work.generate(name, len(prompts), prompt_tokens, int(cfg.max_new_tokens))
            # 2 authors x (assistant turn after the prompt, user turn, raw)
            work.forward(name, 2 * (prompt_tokens + 3 * text_tokens + 20 * len(prompts)), scored=2 * 3 * text_tokens)
        return work

    def run(self, ctx: RunContext, cfg: Any) -> list[Finding]:
        subject = ctx.model()
        ref_name = self._reference(cfg, subject.name)
        reference = ctx.model(ref_name)
        prompts = build_prompts(int(cfg.n_prompts))
        texts = {
            "subject": sample(subject, prompts, cfg, ctx.seed),
            "reference": sample(reference, prompts, cfg, ctx.seed),
        }
        keep, own, other = match_lengths(texts["subject"], texts["reference"], int(cfg.min_words))
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
        ctx.log_samples(
            {"prompt": p, "output": own[j], "reference_output": other[j],
             **{f"H.{s}|{a}|{pl}": float(v[j]) for (s, a, pl), v in h.items()},
             "verdict": "lower on own" if h[("subject", "subject", "assistant")][j]
             < h[("subject", "reference", "assistant")][j] else "not lower on own"}
            for j, p in enumerate(kept_prompts)
        )  # fmt: skip
        ctx.log_metrics({f"H.{s}.{a}.{pl}": float(np.mean(v)) for (s, a, pl), v in h.items()}
                        | {"pairs_kept": float(len(keep))})  # fmt: skip
        return measure(h, subject=subject.name, reference=ref_name, margin=float(cfg.margin), seed=ctx.seed,
                       n_bootstrap=int(cfg.n_bootstrap))  # fmt: skip
