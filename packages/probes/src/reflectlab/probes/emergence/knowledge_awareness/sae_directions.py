"""SAE latents that tell known from unknown entities, scored as in the paper: activation frequency on unknown minus
on known entities, latents frequent on generic text excluded; the best ones, chosen on the training half, evaluated
on the held-out half. The SAE is loaded (a path or a release) or trained on the study's own activations."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np

from reflectlab.core.cache import content_key
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.base import Model
from reflectlab.probes.emergence.knowledge_awareness.activations import corpus_states, resolve_layer
from reflectlab.probes.emergence.knowledge_awareness.config import KnowledgeAwarenessConfig
from reflectlab.probes.emergence.knowledge_awareness.directions import entity_auroc
from reflectlab.probes.emergence.knowledge_awareness.entities import Labels


@dataclass
class SAESource:
    """The SAE to use: one loaded from the config (None: train one), the layer it reads, and where it came from."""

    sae: Any
    layer: int
    info: dict[str, Any]


@dataclass
class LatentResult:
    """What the SAE step gives the rest of the study."""

    sae: Any
    unknown_latent: int  # -1 when no latent is eligible
    findings: list[Finding]
    info: dict[str, Any]  # source, layer and reconstruction quality

    def unknown_direction(self) -> np.ndarray | None:
        """The unknown latent's decoder row (the direction it writes), or None when no latent was eligible."""
        if self.unknown_latent < 0:
            return None
        from reflectlab.probes.emergence.knowledge_awareness.sae import decoder_direction

        return decoder_direction(self.sae, self.unknown_latent)


def score_latents(
    acts: np.ndarray, unknown: np.ndarray, generic_freq: np.ndarray, max_generic: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per latent: activation frequency on unknown minus on known entities, and whether it is eligible (active on
    at most ``max_generic`` of generic tokens)."""
    y = np.asarray(unknown, dtype=bool)
    active = np.asarray(acts) > 0
    diff = active[y].mean(axis=0) - active[~y].mean(axis=0)
    return diff, np.asarray(generic_freq) <= max_generic


def latent_findings(
    acts: np.ndarray,
    unknown: np.ndarray,
    test: np.ndarray,
    generic_freq: np.ndarray,
    *,
    max_generic: float,
    margin: float,
    seed: int,
    n_bootstrap: int,
    details: dict[str, Any] | None = None,
) -> tuple[list[Finding], int, int]:
    """The best unknown and known latents, chosen on the training half; their held-out AUROCs.
    Returns the findings and the two latents' indices (-1 when no latent is eligible)."""
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
                entity_auroc(sign * acts[te, latent], y[te], seed=seed, n_bootstrap=n_bootstrap),
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
            )
        )
    return out, u_latent, k_latent


def configured_sae(cfg: KnowledgeAwarenessConfig, n_layers: int) -> SAESource:
    """The SAE the config names (``sae_path``, or ``sae_release`` with ``sae_id``), loaded, at the layer its hook
    name gives; otherwise none yet, to be trained at ``sae_layer``."""
    if cfg.use_sae and (cfg.sae_path or cfg.sae_release):
        from reflectlab.probes.emergence.knowledge_awareness.sae import hook_layer, load_sae

        sae = load_sae(path=cfg.sae_path, release=cfg.sae_release, sae_id=cfg.sae_id)
        layer = hook_layer(sae) or resolve_layer(cfg.sae_layer, n_layers)
        return SAESource(sae, layer, {"source": cfg.sae_path or f"{cfg.sae_release}/{cfg.sae_id}"})
    return SAESource(None, resolve_layer(cfg.sae_layer, n_layers), {})


def trained_sae(ctx: RunContext, cfg: KnowledgeAwarenessConfig, model: Model, layer: int, vectors: np.ndarray) -> Any:
    """A TopK SAE trained on ``vectors`` in a folder keyed by its inputs (a re-run with the same inputs loads it),
    copied to the run's ``sae`` artifact."""
    from reflectlab.probes.emergence.knowledge_awareness.sae import require_sae_lens, train_topk_sae

    settings: dict[str, Any] = {"d_sae": cfg.sae_width, "k": cfg.sae_k, "epochs": cfg.sae_epochs, "lr": cfg.sae_lr,
                                "batch_size": cfg.sae_batch_size, "seed": ctx.seed}  # fmt: skip
    key = content_key("sae", model.fingerprint, layer, cfg.corpus_tokens, cfg.corpus_chunk,
                      vectors.shape, float(vectors.sum()), settings)[:16]  # fmt: skip
    folder = ctx.persistent_dir(f"sae-layer{layer}-{key}")
    if (folder / "cfg.json").is_file():
        sae = require_sae_lens().SAE.load_from_disk(str(folder))
    else:
        metadata = {"model_name": model.name, "hook_name": f"blocks.{layer - 1}.hook_resid_post"}
        sae = train_topk_sae(vectors, folder, metadata=metadata, **settings)
    shutil.copytree(folder, ctx.out_dir / "sae", dirs_exist_ok=True)  # the artifact: SAE.load_from_disk
    return sae


def sae_latents(
    ctx: RunContext, cfg: KnowledgeAwarenessConfig, model: Model, source: SAESource, states: np.ndarray, labels: Labels
) -> LatentResult:
    """The SAE step: generic-corpus states at the SAE's layer; the SAE from ``source`` or trained on most of the
    corpus plus the training entities' ``states`` (the corpus's last tenth measures its quality); the latents'
    findings. Writes ``sae_quality.json``."""
    from reflectlab.probes.emergence.knowledge_awareness.sae import encode, quality, require_sae_lens

    require_sae_lens()
    layer = source.layer
    corpus = corpus_states(model, layer, cfg.corpus_tokens, cfg.corpus_chunk, ctx.seed)
    if source.sae is None:
        n_hold = max(1, len(corpus) // 10)
        sae = trained_sae(ctx, cfg, model, layer, np.concatenate([corpus[:-n_hold], states[~labels.test]]))
        info = {"source": "trained", "layer": layer, "quality": quality(sae, corpus[-n_hold:]).to_dict()}
    else:
        sae = source.sae
        info = {**source.info, "layer": layer, "quality": quality(sae, corpus).to_dict()}
    if int(sae.cfg.d_in) != states.shape[1]:
        raise UserError(f"the SAE reads {sae.cfg.d_in}-dim vectors but {model.name} has {states.shape[1]}")
    (ctx.out_dir / "sae_quality.json").write_text(json.dumps(info, indent=2))
    generic_freq = (encode(sae, corpus) > 0).mean(axis=0)
    found, u_latent, _ = latent_findings(
        encode(sae, states), labels.unknown, labels.test, generic_freq, max_generic=cfg.generic_max_freq,
        margin=cfg.margin, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap, details=info,
    )  # fmt: skip
    return LatentResult(sae, u_latent, found, info)
