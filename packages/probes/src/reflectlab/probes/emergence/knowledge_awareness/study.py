"""The study class: its plan, and its run as the pipeline's steps in order (see the package's docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np

from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.evals.tasks.entities import EntitySet, load_entities
from reflectlab.probes.emergence.knowledge_awareness.activations import entity_states, resolve_layer
from reflectlab.probes.emergence.knowledge_awareness.config import KnowledgeAwarenessConfig
from reflectlab.probes.emergence.knowledge_awareness.directions import detection_findings
from reflectlab.probes.emergence.knowledge_awareness.entities import (
    Labels,
    attribute_questions,
    build_labels,
    mention,
    mention_prompt,
    select_entities,
    steer_question,
)
from reflectlab.probes.emergence.knowledge_awareness.sae_directions import configured_sae, sae_latents
from reflectlab.probes.emergence.knowledge_awareness.simulate import KnowledgeAwarenessSimulator
from reflectlab.probes.emergence.knowledge_awareness.steering import steer, steering_arms, steering_findings

#: SAE training vectors per second per teacher-forced token per second on a CPU (measured: ~1,500 vectors/s against
#: ~445 tokens/s forward for the embedded model); converts SAE training into forward-token equivalents for plans.
SAE_VECTORS_PER_FORWARD_TOKEN = 3.4


class KnowledgeAwarenessStudy(Study[KnowledgeAwarenessConfig]):
    side = "recognition"
    description = "an internal 'do I know this entity?' signal: directions, SAE latents, and steering to refusal"

    def simulator(self, cfg: KnowledgeAwarenessConfig) -> KnowledgeAwarenessSimulator:
        return KnowledgeAwarenessSimulator(cfg)

    def plan(self, cfg: KnowledgeAwarenessConfig, ctx: PlanContext) -> Work:
        m = ctx.subject
        es = load_entities()
        real = select_entities(es, cfg.entity_types, cfg.n_per_type)
        questions = [prompt for _, _, prompt in attribute_questions(es, real)]
        mentions = [mention_prompt(es, e) for e in real]
        work = Work(note="SAE training counted as forward-token equivalents")
        work.generate(m, len(questions), ctx.count(m, questions), cfg.answer_tokens)
        work.forward(m, 2 * 2 * ctx.count(m, mentions))  # real and (as long) fabricated mentions: states, surprisal
        n_steer = min(cfg.n_steer, len(real) // 4)
        steer_q = [user(steer_question(es, e)) for e in real[:n_steer]]
        arms = 1 + 1 + cfg.n_random + (1 if cfg.use_sae else 0)
        work.generate(m, n_steer * (arms + 2), (arms + 2) * ctx.count(m, steer_q), cfg.steer_tokens)
        corpus_pass = cfg.corpus_tokens * cfg.sae_layer  # the pass stops at the SAE's layer
        training = cfg.sae_epochs * (cfg.corpus_tokens + len(real)) / SAE_VECTORS_PER_FORWARD_TOKEN
        if cfg.use_sae:
            work.forward(m, int(corpus_pass))
        if cfg.use_sae and not (cfg.sae_path or cfg.sae_release):
            work.forward(m, int(training))
        return work

    def run(self, ctx: RunContext, cfg: KnowledgeAwarenessConfig) -> list[Finding]:
        model = ctx.model()
        es = load_entities()
        labels = build_labels(model, es, cfg, ctx.seed)
        layers = sorted({resolve_layer(f, model.num_layers) for f in cfg.layers})
        source = configured_sae(cfg, model.num_layers)
        states = entity_states(
            model, es, labels.entities, sorted(set(layers) | ({source.layer} if cfg.use_sae else set()))
        )
        findings, best, dirs = detection_findings(
            {k: v for k, v in states.items() if k in layers}, labels.unknown, labels.test, labels.lengths,
            margin=cfg.margin, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap, fabricated=labels.fabricated,
            familiarity=labels.familiarity,
        )  # fmt: skip
        latent: np.ndarray | None = None
        sae_info: dict[str, Any] = {}
        if cfg.use_sae:
            result = sae_latents(ctx, cfg, model, source, states[source.layer], labels)
            findings += result.findings
            sae_info = result.info
            latent = result.unknown_direction()
        arms = steering_arms(
            labels, dirs[best], n_steer=cfg.n_steer, n_random=cfg.n_random, seed=ctx.seed, latent=latent
        )
        refused, samples = steer(model, es, arms, best, scale=cfg.steer_scale, max_new_tokens=cfg.steer_tokens)
        findings += steering_findings(refused, margin=cfg.margin, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap)
        ctx.log_samples(samples, name="steering.jsonl")
        ctx.log_samples(self._label_records(es, labels))
        ctx.log_metrics(
            {"n_known": float((~labels.unknown).sum()), "n_unknown": float(labels.unknown.sum()),
             "n_real_unknown": float(sum(1 for lab in labels.entities if not lab.known and not lab.entity.fabricated)),
             "best_layer": float(best)} | {f"sae.{k}": float(v) for k, v in sae_info.get("quality", {}).items()}
        )  # fmt: skip
        return findings

    @staticmethod
    def _label_records(es: EntitySet, labels: Labels) -> list[dict[str, Any]]:
        """One ``samples.jsonl`` record per entity: its mention, label (the verdict), attributes right (the score),
        answers and split."""
        return [
            {"unit": lab.entity.name, "arm": "fabricated" if lab.entity.fabricated else "real",
             "prompt": mention(es, lab.entity), "score": lab.n_correct, "verdict": "known" if lab.known else "unknown",
             "type": lab.entity.type, "answers": lab.answers, "split": "test" if t else "train", "tokens": int(n),
             "name_surprisal": float(f)}
            for lab, t, n, f in zip(labels.entities, labels.test, labels.lengths, labels.familiarity, strict=True)
        ]  # fmt: skip
