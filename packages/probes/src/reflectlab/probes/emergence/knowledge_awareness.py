"""Study ``emergence/knowledge-awareness`` (RESEARCH.md §1.2, after Ferrando et al. 2025): does the model carry an
internal signal of whether it knows an entity, and does that signal steer it towards refusing?

Pipeline:
1. entities: the shipped set (``reflectlab.evals.tasks.entities``; cities, people, films, songs) and as many
   fabricated names, matched one-to-one in token length under the model's tokenizer;
2. labels from the model's own answers: it answers two attribute questions per real entity (greedy); *known* = at
   least ``known_min_correct`` right, *unknown* = a fabricated entity or a real one it gets all wrong; entities are
   split, stratified by label, into a training and a held-out half;
3. residual states at the last entity token of "Tell me about the city of <name>" over a sweep of layers;
4. a difference-of-means "unknown" direction per layer (training half) and its AUROC on the held-out half, against
   chance and against the name's token length (the length confound);
5. an SAE (sae-lens TopK) trained on activations of a generic text corpus plus the training entities, or loaded
   (``sae_path``, or ``sae_release``/``sae_id``); latents scored as in the paper - activation frequency on unknown
   minus on known entities, latents active on more than ``generic_max_freq`` of generic tokens excluded - and the
   best one, chosen on the training half, evaluated on the held-out half;
6. steering: the unknown direction added to the residual stream while the model answers attribute questions about
   held-out *known* entities; refusals counted by the ``refusal`` verifier, against random directions of equal norm
   and against no steering. The opposite ("known") direction on fabricated entities should make refusals rarer.

The generic corpus is the English prose of Python's own documentation (``pydoc_data``, part of every CPython): text
that is about nothing in the entity set, so latents that fire on it are generic rather than about entities.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reflectlab.core.cache import content_key
from reflectlab.core.config import StudyConfig
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Prompt, SamplingParams
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import auroc, auroc_ci, paired_auroc_diff_ci, paired_diff_ci
from reflectlab.evals.tasks.entities import ENTITY_TYPES, Entity, EntitySet, check_answer, fabricate, load_entities

STUDY = "emergence/knowledge-awareness"
#: SAE training vectors per second per teacher-forced token per second on a CPU (measured: ~1,500 vectors/s against
#: ~445 tokens/s forward for the embedded model); converts SAE training into forward-token equivalents for plans.
SAE_VECTORS_PER_FORWARD_TOKEN = 3.4


@dataclass
class KnowledgeAwarenessConfig(StudyConfig):
    entity_types: list[str] = field(default_factory=lambda: list(ENTITY_TYPES))
    n_per_type: int = 32  # real entities per type (as many fabricated ones are added)
    answer_tokens: int = 12
    known_min_correct: int = 1  # of 2 attributes (the paper used 2 of 3 or more on larger models)
    test_fraction: float = 0.5
    layers: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75])  # fractions of depth
    use_sae: bool = True
    sae_layer: float = 0.5  # fraction of depth for the trained SAE (ignored for a loaded one with a hook name)
    sae_width: int = 1536
    sae_k: int = 16
    sae_epochs: float = 3.0
    sae_lr: float = 1e-3
    sae_batch_size: int = 128
    corpus_tokens: int = 12000  # generic-text tokens collected for the SAE and the generic frequency
    corpus_chunk: int = 64
    generic_max_freq: float = 0.02
    sae_path: str = ""  # a saved SAE (sae-lens format) instead of training one
    sae_release: str = ""  # a released SAE (with sae_id), e.g. gemma-scope-2b-pt-res-canonical
    sae_id: str = ""
    steer_scale: float = 1.0  # multiples of the difference-of-means direction (1 = move by the gap between means)
    n_random: int = 2  # random directions of equal norm
    n_steer: int = 24  # held-out entities steered, per kind (known, fabricated)
    steer_tokens: int = 24
    margin: float = 0.05


# ----------------------------------------------------------------------------- entities and labels
@dataclass
class Labelled:
    entity: Entity
    known: bool
    n_correct: int
    answers: dict[str, str]
    test: bool = False


def select_entities(es: EntitySet, types: list[str], n_per_type: int) -> list[Entity]:
    unknown = [t for t in types if t not in es.questions]
    if unknown:
        raise UserError(f"unknown entity type(s) {', '.join(unknown)}; the entity set has {', '.join(es.questions)}")
    return [e for t in types for e in es.of_type([t])[:n_per_type]]


def mention_prompt(es: EntitySet, e: Entity) -> Prompt:
    """A user turn that ends with the entity's name, so its last token is a fixed distance from the prompt's end."""
    return [{"role": "user", "content": "Tell me about " + es.mentions[e.type].format(name=e.name)}]


def last_token_position(model: Model, prompt: Prompt, name: str) -> int:
    """Index (negative, from the end of the encoded prompt) of the last token of ``name``."""
    text, templated = model.render(prompt)
    end = text.rindex(name) + len(name)
    n_prefix = len(model.tokenizer(text[:end], add_special_tokens=not templated)["input_ids"])
    return n_prefix - 1 - len(model.encode(prompt))


def label_entities(model: Model, es: EntitySet, real: list[Entity], fake: list[Entity], cfg: Any) -> list[Labelled]:
    """Known/unknown from the model's own greedy answers; real entities with partial knowledge are left out."""
    items = [(e, attr) for e in real for attr in e.attributes]
    gens = model.generate(
        [[{"role": "user", "content": es.question(e, attr)}] for e, attr in items],
        SamplingParams(max_new_tokens=int(cfg.answer_tokens)),
        desc="attribute answers",
    )
    answers: dict[str, dict[str, str]] = {}
    correct: dict[str, int] = {}
    for (e, attr), g in zip(items, gens, strict=True):
        answers.setdefault(e.name, {})[attr] = g.text
        correct[e.name] = correct.get(e.name, 0) + int(check_answer(g.text, e.attributes[attr]))
    out = []
    for e in real:
        n = correct.get(e.name, 0)
        if n >= cfg.known_min_correct:
            out.append(Labelled(e, True, n, answers[e.name]))
        elif n == 0:
            out.append(Labelled(e, False, 0, answers[e.name]))
    out += [Labelled(e, False, 0, {}) for e in fake]
    return out


def split(labels: list[bool], test_fraction: float, seed: int) -> np.ndarray:
    """Held-out mask, stratified by label."""
    y = np.asarray(labels, dtype=bool)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for cls in (True, False):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        test[idx[: round(len(idx) * test_fraction)]] = True
    return test


# ----------------------------------------------------------------------------- activations
def token_states(model: Model, rows: list[list[int]], layer: int, skip_first: int = 1) -> np.ndarray:
    """Residual states at ``layer`` for every token of every row (token ids), except the first ``skip_first`` of a
    row (the first position's attention-sink state has an outsized norm). The forward pass stops at ``layer``."""
    import torch

    hf: Any = getattr(model, "hf_model", None)
    if hf is None:
        raise UserError(f"the {model.backend_name} backend gives no internals; use model.backend=hf")
    layers = hf.get_decoder().layers
    if not 1 <= layer <= len(layers):
        raise UserError(f"layer {layer} is out of range: {model.name} has blocks 1..{len(layers)}")
    pad = int(model.tokenizer.pad_token_id)
    out: list[np.ndarray] = []

    class _Stop(Exception):
        pass

    captured: dict[str, Any] = {}

    def hook(_m: Any, _inp: Any, output: Any) -> None:
        captured["h"] = (output[0] if isinstance(output, tuple) else output).detach()
        raise _Stop

    handle = layers[layer - 1].register_forward_hook(hook)
    try:
        bs = max(1, model.spec.batch_size)
        for start in range(0, len(rows), bs):
            batch = rows[start : start + bs]
            width = max(len(r) for r in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, r in enumerate(batch):
                ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
                mask[i, : len(r)] = 1
            with torch.inference_mode(), contextlib.suppress(_Stop):
                hf.get_decoder()(input_ids=ids.to(hf.device), attention_mask=mask.to(hf.device))
            h = captured["h"].float().cpu().numpy()
            for i, r in enumerate(batch):
                out.append(h[i, skip_first : len(r)])
            model.work_tokens += int(mask.sum())
    finally:
        handle.remove()
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def corpus_rows(model: Model, n_tokens: int, chunk: int, seed: int) -> list[list[int]]:
    """``n_tokens`` of generic English (Python's documentation prose) in rows of ``chunk`` tokens."""
    from pydoc_data.topics import topics

    keys = sorted(topics)
    np.random.default_rng(seed).shuffle(keys)
    rows: list[list[int]] = []
    total = 0
    bos = [model.tokenizer.bos_token_id] if model.tokenizer.bos_token_id is not None else []
    for key in keys:
        ids = model.tokenizer(topics[key], add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids) - chunk + 1, chunk):
            rows.append(bos + list(ids[start : start + chunk]))
            total += chunk
            if total >= n_tokens:
                return rows
    return rows


# ----------------------------------------------------------------------------- scoring (testable on planted data)
def direction(x_train: np.ndarray, unknown_train: np.ndarray) -> np.ndarray:
    """Difference of means: mean state of unknown entities minus mean state of known ones."""
    y = np.asarray(unknown_train, dtype=bool)
    return np.asarray(x_train[y].mean(axis=0) - x_train[~y].mean(axis=0))


def score_latents(
    acts: np.ndarray, unknown: np.ndarray, generic_freq: np.ndarray, max_generic: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per latent: activation frequency on unknown minus on known entities, and whether it is eligible (active on
    at most ``max_generic`` of generic tokens)."""
    y = np.asarray(unknown, dtype=bool)
    active = np.asarray(acts) > 0
    diff = active[y].mean(axis=0) - active[~y].mean(axis=0)
    return diff, np.asarray(generic_freq) <= max_generic


def detection_findings(
    states: dict[int, np.ndarray],
    unknown: np.ndarray,
    test: np.ndarray,
    lengths: np.ndarray,
    *,
    model: str,
    margin: float,
    seed: int,
    n_bootstrap: int,
) -> tuple[list[Finding], int, dict[int, np.ndarray]]:
    """Per-layer held-out AUROC of the difference-of-means direction; the best layer (by training AUROC) against
    chance and against token length. Returns the findings, the best layer and the directions."""
    common: dict[str, Any] = {"study": STUDY, "side": "recognition", "model": model}
    y = np.asarray(unknown, dtype=int)
    tr, te = ~np.asarray(test, dtype=bool), np.asarray(test, dtype=bool)
    findings, dirs, train_auc = [], {}, {}
    for layer, x in sorted(states.items()):
        d = direction(x[tr], y[tr])
        dirs[layer] = d
        train_auc[layer] = auroc(x[tr] @ d, y[tr])
        findings.append(
            Finding.from_estimate(
                auroc_ci(x[te] @ d, y[te], seed=seed, n_resamples=n_bootstrap),
                metric=f"direction_auroc.layer{layer}",
                control="chance (0.5)",
                control_value=0.5,
                margin=margin,
                details={
                    "definition": "AUROC for 'unknown' of the projection on the training half's difference "
                    "of means, on held-out entities",
                    "train_auroc": train_auc[layer],
                },
                **common,
            )
        )
    best = max(train_auc, key=lambda k: (np.nan_to_num(train_auc[k]), -k))
    score = states[best][te] @ dirs[best]
    findings.append(
        Finding.from_estimate(
            auroc_ci(score, y[te], seed=seed, n_resamples=n_bootstrap),
            metric="direction_auroc",
            control="chance (0.5)",
            control_value=0.5,
            margin=margin,
            details={"layer": best, "chosen_by": "training-half AUROC", "n_unknown": int(y[te].sum())},
            **common,
        )
    )
    findings.append(
        Finding.from_estimate(
            auroc_ci(lengths[te], y[te], seed=seed, n_resamples=n_bootstrap),
            metric="length_auroc",
            control="chance (0.5): names matched in token length",
            control_value=0.5,
            margin=margin,
            details={"definition": "AUROC for 'unknown' of the name's token count: the length confound"},
            **common,
        )
    )
    findings.append(
        Finding.from_estimate(
            paired_auroc_diff_ci(score, lengths[te].astype(float), y[te], seed=seed, n_resamples=n_bootstrap),
            metric="direction_minus_length_auroc",
            control="token length as the detector",
            control_value=0.0,
            margin=margin,
            primary=True,
            details={"layer": best},
            **common,
        )
    )
    return findings, best, dirs


def latent_findings(
    acts: np.ndarray,
    unknown: np.ndarray,
    test: np.ndarray,
    generic_freq: np.ndarray,
    *,
    max_generic: float,
    model: str,
    margin: float,
    seed: int,
    n_bootstrap: int,
    details: dict[str, Any] | None = None,
) -> tuple[list[Finding], int, int]:
    """The best unknown and known latents, chosen on the training half; their held-out AUROCs.
    Returns the findings and the two latents' indices (-1 when no latent is eligible)."""
    common: dict[str, Any] = {"study": STUDY, "side": "recognition", "model": model}
    y = np.asarray(unknown, dtype=int)
    tr, te = ~np.asarray(test, dtype=bool), np.asarray(test, dtype=bool)
    diff, eligible = score_latents(acts[tr], y[tr], generic_freq, max_generic)
    if not eligible.any():
        return [], -1, -1
    masked = np.where(eligible, diff, np.nan)
    u_latent, k_latent = int(np.nanargmax(masked)), int(np.nanargmin(masked))
    info = {**(details or {}), "eligible_latents": int(eligible.sum()), "chosen_by": "training-half frequency "
            "difference, latents active on more than generic_max_freq of generic tokens excluded"}  # fmt: skip
    out = []
    for metric, latent, sign in (("unknown_latent_auroc", u_latent, 1.0), ("known_latent_auroc", k_latent, -1.0)):
        out.append(
            Finding.from_estimate(
                auroc_ci(sign * acts[te, latent], y[te], seed=seed, n_resamples=n_bootstrap),
                metric=metric,
                control="chance (0.5)",
                control_value=0.5,
                margin=margin,
                details={
                    **info,
                    "latent": latent,
                    "train_frequency_difference": float(diff[latent]),
                    "generic_frequency": float(generic_freq[latent]),
                },
                **common,
            )
        )
    return out, u_latent, k_latent


def steering_findings(
    refused: dict[str, np.ndarray], *, model: str, margin: float, seed: int, n_bootstrap: int
) -> list[Finding]:
    """From per-entity refusal indicators under each arm: ``known/none``, ``known/unknown_dir``,
    ``known/random`` (mean over random directions), optionally ``known/sae_latent``, ``fabricated/none`` and
    ``fabricated/known_dir``."""
    common: dict[str, Any] = {"study": STUDY, "side": "recognition", "model": model}
    b = n_bootstrap
    rates = {k: float(np.mean(v)) for k, v in refused.items()}
    out = [
        Finding.from_estimate(
            paired_diff_ci(refused["known/unknown_dir"], refused["known/random"], seed=seed, n_resamples=b),
            metric="steer_refusal_vs_random",
            control="random directions of equal norm",
            control_value=0.0,
            margin=margin,
            primary=True,
            details={
                "definition": "refusal rate on known entities with the unknown direction added minus with "
                "random directions of equal norm",
                "refusal_rates": rates,
            },
            **common,
        ),
        Finding.from_estimate(
            paired_diff_ci(refused["known/unknown_dir"], refused["known/none"], seed=seed, n_resamples=b),
            metric="steer_refusal_vs_none",
            control="no steering",
            control_value=0.0,
            margin=margin,
            details={"refusal_rates": rates},
            **common,
        ),
    ]
    if "known/sae_latent" in refused:
        out.append(
            Finding.from_estimate(
                paired_diff_ci(refused["known/sae_latent"], refused["known/random"], seed=seed, n_resamples=b),
                metric="steer_latent_refusal_vs_random",
                control="random directions of equal norm",
                control_value=0.0,
                margin=margin,
                details={"definition": "the SAE's unknown latent's decoder direction, at the same norm"},
                **common,
            )
        )
    if "fabricated/known_dir" in refused:
        out.append(
            Finding.from_estimate(
                paired_diff_ci(refused["fabricated/none"], refused["fabricated/known_dir"], seed=seed, n_resamples=b),
                metric="known_direction_cuts_refusal",
                control="no steering",
                control_value=0.0,
                margin=margin,
                details={
                    "definition": "refusal rate on fabricated entities without steering minus with the "
                    "opposite (known) direction: present = the model answers made-up entities more"
                },
                **common,
            )
        )
    return out


# ----------------------------------------------------------------------------- the study
def resolve_layer(fraction: float, n_layers: int) -> int:
    return min(n_layers, max(1, round(fraction * n_layers)))


class KnowledgeAwarenessStudy(Study):
    name = "knowledge-awareness"
    side = "recognition"
    description = "an internal 'do I know this entity?' signal: directions, SAE latents, and steering to refusal"

    def plan(self, cfg: Any, ctx: PlanContext) -> Work:
        m = ctx.subject
        es = load_entities()
        real = select_entities(es, list(cfg.entity_types), int(cfg.n_per_type))
        questions: list[Any] = [[{"role": "user", "content": es.question(e, a)}] for e in real for a in e.attributes]
        mentions = [mention_prompt(es, e) for e in real]
        work = Work(note="SAE training counted as forward-token equivalents")
        work.generate(m, len(questions), ctx.count(m, questions), int(cfg.answer_tokens))
        work.forward(m, 2 * ctx.count(m, mentions))  # real and (as long) fabricated mentions
        n_steer = min(int(cfg.n_steer), len(real) // 4)
        steer_q = questions[: 2 * n_steer : 2]
        arms = 1 + 1 + int(cfg.n_random) + (1 if cfg.use_sae else 0)
        work.generate(m, n_steer * (arms + 2), (arms + 2) * ctx.count(m, steer_q), int(cfg.steer_tokens))
        if cfg.use_sae and not (cfg.sae_path or cfg.sae_release):
            work.forward(m, int(cfg.corpus_tokens * float(cfg.sae_layer)))  # the pass stops at the SAE's layer
            vectors = cfg.corpus_tokens + len(real)
            work.forward(m, int(cfg.sae_epochs * vectors / SAE_VECTORS_PER_FORWARD_TOKEN))
        elif cfg.use_sae:
            work.forward(m, int(cfg.corpus_tokens * float(cfg.sae_layer)))
        return work

    def run(self, ctx: RunContext, cfg: Any) -> list[Finding]:
        from reflectlab.core.registry import verifiers

        model = ctx.model()
        if not 0 < cfg.test_fraction < 1:
            raise UserError("test_fraction must be between 0 and 1")
        if cfg.n_random < 1:
            raise UserError("n_random must be at least 1")
        es = load_entities()
        real = select_entities(es, list(cfg.entity_types), int(cfg.n_per_type))
        tok = model.tokenizer

        def n_tokens(name: str) -> int:
            return len(tok(" " + name, add_special_tokens=False)["input_ids"])

        fake = fabricate(real, n_tokens, seed=ctx.seed)
        labelled = label_entities(model, es, real, fake, cfg)
        unknown = np.array([not lab.known for lab in labelled], dtype=bool)
        if unknown.all() or not unknown.any():
            raise UserError("every entity got the same label; use more entities or lower known_min_correct")
        test = split(list(unknown), float(cfg.test_fraction), ctx.seed)
        lengths = np.array([n_tokens(lab.entity.name) for lab in labelled], dtype=float)

        n_layers = model.num_layers
        layers = sorted({resolve_layer(float(f), n_layers) for f in cfg.layers})
        sae: Any = None
        sae_info: dict[str, Any] = {}
        if cfg.use_sae and (cfg.sae_path or cfg.sae_release):
            from reflectlab.probes.emergence.sae import hook_layer, load_sae

            sae = load_sae(path=str(cfg.sae_path), release=str(cfg.sae_release), sae_id=str(cfg.sae_id))
            sae_layer = hook_layer(sae) or resolve_layer(float(cfg.sae_layer), n_layers)
            sae_info = {"source": str(cfg.sae_path or f"{cfg.sae_release}/{cfg.sae_id}")}
        else:
            sae_layer = resolve_layer(float(cfg.sae_layer), n_layers)
        all_layers = sorted(set(layers) | ({sae_layer} if cfg.use_sae else set()))
        prompts = [mention_prompt(es, lab.entity) for lab in labelled]
        positions = [last_token_position(model, p, lab.entity.name) for p, lab in zip(prompts, labelled, strict=True)]
        hs = model.hidden_states(prompts, all_layers, positions)
        states = {layer: hs[:, i, :] for i, layer in enumerate(all_layers)}

        common: dict[str, Any] = {"model": model.name, "margin": float(cfg.margin), "seed": ctx.seed,
                  "n_bootstrap": int(cfg.n_bootstrap)}  # fmt: skip
        findings, best, dirs = detection_findings(
            {k: v for k, v in states.items() if k in layers}, unknown, test, lengths, **common
        )
        u_latent = -1
        if cfg.use_sae:
            sae, u_latent, sae_findings, sae_info = self._sae(ctx, cfg, model, sae, sae_layer, states, unknown, test,
                                                              sae_info)  # fmt: skip
            findings += sae_findings

        refused, samples = self._steer(ctx, cfg, model, es, labelled, unknown, test, dirs[best], best, sae, u_latent,
                                       verifiers.get("refusal")())  # fmt: skip
        findings += steering_findings(refused, **common)
        ctx.log_samples(samples, name="steering.jsonl")
        ctx.log_samples(
            {"entity": lab.entity.name, "type": lab.entity.type, "fabricated": lab.entity.fabricated,
             "label": "known" if lab.known else "unknown", "n_correct": lab.n_correct, "answers": lab.answers,
             "split": "test" if t else "train", "tokens": int(n), "verdict": "known" if lab.known else "unknown"}
            for lab, t, n in zip(labelled, test, lengths, strict=True)
        )  # fmt: skip
        ctx.log_metrics(
            {"n_known": float((~unknown).sum()), "n_unknown": float(unknown.sum()),
             "n_real_unknown": float(sum(1 for lab in labelled if not lab.known and not lab.entity.fabricated)),
             "best_layer": float(best)} | {f"sae.{k}": float(v) for k, v in sae_info.get("quality", {}).items()}
        )  # fmt: skip
        return findings

    @staticmethod
    def _sae(
        ctx: RunContext,
        cfg: Any,
        model: Model,
        sae: Any,
        layer: int,
        states: dict[int, np.ndarray],
        unknown: np.ndarray,
        test: np.ndarray,
        info: dict[str, Any],
    ) -> tuple[Any, int, list[Finding], dict[str, Any]]:
        import shutil

        from reflectlab.probes.emergence.sae import encode, quality, require_sae_lens, train_topk_sae

        require_sae_lens()
        corpus = token_states(model, corpus_rows(model, int(cfg.corpus_tokens), int(cfg.corpus_chunk), ctx.seed),
                              layer)  # fmt: skip
        if sae is None:
            n_hold = max(1, len(corpus) // 10)  # the last tenth of the corpus measures quality
            vectors = np.concatenate([corpus[:-n_hold], states[layer][~test]])
            settings: dict[str, Any] = {"d_sae": int(cfg.sae_width), "k": int(cfg.sae_k), "epochs": float(cfg.sae_epochs),
                        "lr": float(cfg.sae_lr), "batch_size": int(cfg.sae_batch_size), "seed": ctx.seed}  # fmt: skip
            key = content_key("sae", model.fingerprint, layer, cfg.corpus_tokens, cfg.corpus_chunk,
                              vectors.shape, float(vectors.sum()), settings)[:16]  # fmt: skip
            folder = ctx.persistent_dir(f"sae-layer{layer}-{key}")
            if (folder / "cfg.json").is_file():
                sae = require_sae_lens().SAE.load_from_disk(str(folder))
            else:
                sae = train_topk_sae(vectors, folder, metadata={"model_name": model.name,
                                     "hook_name": f"blocks.{layer - 1}.hook_resid_post"}, **settings)  # fmt: skip
            shutil.copytree(folder, ctx.out_dir / "sae", dirs_exist_ok=True)  # the artifact: SAE.load_from_disk
            q = quality(sae, corpus[-n_hold:])
            info = {"source": "trained", "layer": layer, "quality": q.to_dict()}
        else:
            q = quality(sae, corpus)
            info = {**info, "layer": layer, "quality": q.to_dict()}
        if int(sae.cfg.d_in) != states[layer].shape[1]:
            raise UserError(f"the SAE reads {sae.cfg.d_in}-dim vectors but {model.name} has {states[layer].shape[1]}")
        (ctx.out_dir / "sae_quality.json").write_text(json.dumps(info, indent=2))
        generic_freq = (encode(sae, corpus) > 0).mean(axis=0)
        acts = encode(sae, states[layer])
        found, u_latent, _ = latent_findings(
            acts, unknown, test, generic_freq, max_generic=float(cfg.generic_max_freq), model=model.name,
            margin=float(cfg.margin), seed=ctx.seed, n_bootstrap=int(cfg.n_bootstrap), details=info,
        )  # fmt: skip
        return sae, u_latent, found, info

    @staticmethod
    def _steer(
        ctx: RunContext,
        cfg: Any,
        model: Model,
        es: EntitySet,
        labelled: list[Labelled],
        unknown: np.ndarray,
        test: np.ndarray,
        d: np.ndarray,
        layer: int,
        sae: Any,
        u_latent: int,
        detector: Any,
    ) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
        from reflectlab.evals.verifiers import QAItem

        n = int(cfg.n_steer)
        known = [lab for lab, u, t in zip(labelled, unknown, test, strict=True) if t and not u][:n]
        fabricated = [lab for lab, t in zip(labelled, test, strict=True) if t and lab.entity.fabricated][:n]
        if not known:
            raise UserError("no held-out known entities to steer on; use more entities")
        params = SamplingParams(max_new_tokens=int(cfg.steer_tokens))
        rng = np.random.default_rng(ctx.seed)
        norm = float(np.linalg.norm(d))
        randoms = []
        for _ in range(int(cfg.n_random)):
            r = rng.normal(size=d.shape)
            randoms.append(r * norm / np.linalg.norm(r))
        arms: dict[str, tuple[list[Labelled], np.ndarray | None]] = {"known/none": (known, None),
                                                                    "known/unknown_dir": (known, d)}  # fmt: skip
        for i, r in enumerate(randoms):
            arms[f"known/random{i}"] = (known, r)
        if sae is not None and u_latent >= 0:
            from reflectlab.probes.emergence.sae import decoder_direction

            v = decoder_direction(sae, u_latent)
            arms["known/sae_latent"] = (known, v * norm / max(float(np.linalg.norm(v)), 1e-12))
        if fabricated:
            arms["fabricated/none"] = (fabricated, None)
            arms["fabricated/known_dir"] = (fabricated, -d)
        refused: dict[str, np.ndarray] = {}
        samples: list[dict[str, Any]] = []
        for arm, (group, vec) in arms.items():
            qs = [es.question(lab.entity, next(iter(lab.entity.attributes), "")) if lab.entity.attributes
                  else "Tell me about " + es.mentions[lab.entity.type].format(name=lab.entity.name) + "."
                  for lab in group]  # fmt: skip
            chats: list[Prompt] = [[{"role": "user", "content": q}] for q in qs]
            if vec is None:
                gens = model.generate(chats, params, desc=f"steer {arm}")
            else:
                with model.steer({layer: vec}, scale=float(cfg.steer_scale)):
                    gens = model.generate(chats, params, desc=f"steer {arm}")
            texts = [g.text for g in gens]
            verdicts = detector.verify([QAItem(lab.entity.name, q, 0) for lab, q in zip(group, qs, strict=True)],
                                       texts)  # fmt: skip
            refused[arm] = np.array(verdicts, dtype=float)
            samples += [{"arm": arm, "entity": lab.entity.name, "prompt": q, "output": t,
                         "verdict": "refusal" if v else "answer"}
                        for lab, q, t, v in zip(group, qs, texts, verdicts, strict=True)]  # fmt: skip
        refused["known/random"] = np.mean([refused[f"known/random{i}"] for i in range(len(randoms))], axis=0)
        return refused, samples
