"""An example inquiry from outside the monorepo.

Study ``example/greedy_vs_sampled``: is the model's own greedy answer more probable under it than a sampled one?
Study ``example/context_fit`` (off by default): is its greedy answer more probable after its own prompt than after another one?
Its ``gate`` option holds it between its two scoring passes until a file exists, so a test can interrupt a run at
a known point without timing. Study ``broken`` raises on purpose (off by default) so tests can check that one
failing study does not stop the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from reflectlab.core import Finding, Inquiry, RunContext, Study
from reflectlab.core.config import StudyConfig, option
from reflectlab.core.models import SamplingParams
from reflectlab.core.stats import paired_diff_ci

PROMPTS = ["The quick brown fox", "Write two sentences about the ocean.", "one two three", "Yes or no?"]


@dataclass
class GreedyConfig(StudyConfig):
    n_prompts: int = option(4, "Prompts answered.")
    max_new_tokens: int = option(6, "Longest answer, in tokens.")


@dataclass
class ContextFitConfig(StudyConfig):
    enabled: bool = option(False, "Run this study (off by default).")
    n_prompts: int = option(4, "Prompts answered.")
    max_new_tokens: int = option(6, "Longest answer, in tokens.")
    gate: str = option(
        "",
        "A file path: when set, the study writes <gate>.waiting after its first scoring pass and waits until <gate> "
        "exists (a test's deterministic interruption point).",
    )


@dataclass
class ExampleStudies:
    greedy_vs_sampled: GreedyConfig = field(default_factory=GreedyConfig)
    context_fit: ContextFitConfig = field(default_factory=ContextFitConfig)
    broken: StudyConfig = field(default_factory=lambda: StudyConfig(enabled=False))


class GreedyVsSampled(Study[GreedyConfig]):
    side = "recognition"
    description = "own greedy text is more probable than own sampled text"

    def run(self, ctx: RunContext, cfg: GreedyConfig) -> list[Finding]:
        model = ctx.model()
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(cfg.n_prompts)]
        greedy = model.generate(prompts, SamplingParams(max_new_tokens=cfg.max_new_tokens), seed=ctx.seed)
        hot = model.generate(prompts, SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=2.0), seed=ctx.seed)
        a = [sum(g.logprobs) / max(1, len(g.logprobs)) for g in greedy]
        b = [sum(g.logprobs) / max(1, len(g.logprobs)) for g in hot]
        ctx.log_samples(
            {"unit": i, "item": i, "arm": "greedy", "prompt": p, "output": g.text, "verdict": "greedy"}
            for i, (p, g) in enumerate(zip(prompts, greedy, strict=True))
        )
        ctx.log_metrics({"mean_logprob_greedy": sum(a) / len(a)})
        est = paired_diff_ci(a, b, seed=ctx.seed, n_resamples=cfg.n_bootstrap)
        return [
            Finding.from_estimate(
                est,
                metric="logprob_gap",
                control="sampled at T=2",
                control_value=0.0,
                primary=True,
            )
        ]


class ContextFit(Study[ContextFitConfig]):
    side = "recognition"
    description = "own greedy text is more probable after its own prompt than after another"

    def run(self, ctx: RunContext, cfg: ContextFitConfig) -> list[Finding]:
        model = ctx.model()
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(cfg.n_prompts)]
        greedy = model.generate(prompts, SamplingParams(max_new_tokens=cfg.max_new_tokens), seed=ctx.seed)
        texts = [g.text for g in greedy]
        own = model.score(texts, prompts)
        if cfg.gate:
            _wait_for(Path(cfg.gate))
        others = model.score(texts, prompts[1:] + prompts[:1])  # each answer after the next prompt: the control
        a = [s.sum_logprob for s in own]
        b = [s.sum_logprob for s in others]
        est = paired_diff_ci(a, b, seed=ctx.seed, n_resamples=cfg.n_bootstrap)
        return [
            Finding.from_estimate(
                est,
                metric="own_prompt_gap",
                control="the same text after another prompt",
                control_value=0.0,
            )
        ]


def _wait_for(gate: Path) -> None:
    """Announce that the gate is reached, then wait for it to open."""
    Path(f"{gate}.waiting").touch()
    while not gate.exists():
        time.sleep(0.05)


class Broken(Study[StudyConfig]):
    side = "recognition"
    description = "always fails (for tests)"

    def run(self, ctx: RunContext, cfg: StudyConfig) -> list[Finding]:
        raise RuntimeError("this study fails on purpose")


class ExampleInquiry(Inquiry):
    name = "example"
    description = "example third-party inquiry"
    studies: ClassVar[dict[str, type[Study]]] = {
        "greedy_vs_sampled": GreedyVsSampled,
        "context_fit": ContextFit,
        "broken": Broken,
    }
    studies_config = ExampleStudies
    presets_resource = ("reflectlab_example", "presets.yaml")
