"""An example inquiry from outside the monorepo.

Study ``greedy-vs-sampled``: is the model's own greedy answer more probable under it than a sampled one? Study
``broken`` raises on purpose (off by default) so tests can check that one failing study does not stop the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from reflectlab.core import Finding, Inquiry, RunContext, Study
from reflectlab.core.config import StudyConfig
from reflectlab.core.models import SamplingParams
from reflectlab.core.stats import paired_diff_ci

PROMPTS = ["The quick brown fox", "Write two sentences about the ocean.", "one two three", "Yes or no?"]


@dataclass
class GreedyConfig(StudyConfig):
    n_prompts: int = 4
    max_new_tokens: int = 6


@dataclass
class ExampleStudies:
    greedy_vs_sampled: GreedyConfig = field(default_factory=GreedyConfig)
    broken: StudyConfig = field(default_factory=lambda: StudyConfig(enabled=False))


class GreedyVsSampled(Study):
    name = "greedy-vs-sampled"
    side = "recognition"
    description = "own greedy text is more probable than own sampled text"

    def run(self, ctx: RunContext, cfg: Any) -> list[Finding]:
        model = ctx.model()
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(cfg.n_prompts)]
        greedy = model.generate(prompts, SamplingParams(max_new_tokens=cfg.max_new_tokens), seed=ctx.seed)
        hot = model.generate(prompts, SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=2.0), seed=ctx.seed)
        a = [sum(g.logprobs) / max(1, len(g.logprobs)) for g in greedy]
        b = [sum(g.logprobs) / max(1, len(g.logprobs)) for g in hot]
        ctx.log_samples(
            {"prompt": p, "output": g.text, "verdict": "greedy"} for p, g in zip(prompts, greedy, strict=True)
        )
        ctx.log_metrics({"mean_logprob_greedy": sum(a) / len(a)})
        est = paired_diff_ci(a, b, seed=ctx.seed, n_resamples=cfg.n_bootstrap)
        return [
            Finding.from_estimate(
                est,
                study="example/greedy-vs-sampled",
                metric="logprob_gap",
                control="sampled at T=2",
                control_value=0.0,
                side="recognition",
                model=model.name,
                primary=True,
            )
        ]


class Broken(Study):
    name = "broken"
    side = "recognition"
    description = "always fails (for tests)"

    def run(self, ctx: RunContext, cfg: Any) -> list[Finding]:
        raise RuntimeError("this study fails on purpose")


class ExampleInquiry(Inquiry):
    name = "example"
    description = "example third-party inquiry"
    studies: ClassVar[dict[str, type[Study]]] = {"greedy_vs_sampled": GreedyVsSampled, "broken": Broken}
    studies_config = ExampleStudies
    presets_resource = ("reflectlab_example", "presets.yaml")
