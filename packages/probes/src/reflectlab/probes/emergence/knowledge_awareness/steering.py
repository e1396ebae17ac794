"""Steering: the unknown direction added to the residual stream while the model answers about held-out *known*
entities, refusals counted by the ``refusal`` verifier, against random directions of the same norm and against no
steering; the opposite ("known") direction while it answers about fabricated entities. The unit is the entity (one
answer per entity and arm; the random arms' answers on one entity are averaged). Rates are honest at floors: a
model that never refuses in either arm gets at least Newcombe's interval of 0/n against 0/n, which is wider than
the default margin at the quick preset's 24 entities, so it reads inconclusive, not absent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.models.base import Model, SamplingParams, user
from reflectlab.core.stats import paired_rate_diff_ci
from reflectlab.evals.tasks.entities import EntitySet
from reflectlab.probes.emergence.knowledge_awareness.entities import Labelled, Labels, steer_question


@dataclass
class Arm:
    """One steering condition: the entities asked about and the vector added (None: no steering)."""

    entities: list[Labelled]
    vector: np.ndarray | None


def random_directions(d: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """``n`` Gaussian directions scaled to the norm of ``d``."""
    rng = np.random.default_rng(seed)
    norm = float(np.linalg.norm(d))
    out = []
    for _ in range(n):
        r = rng.normal(size=d.shape)
        out.append(r * norm / np.linalg.norm(r))
    return out


def by_type(entities: list[Labelled]) -> list[Labelled]:
    """``entities`` taking each type in turn (city, person, film, song, city, ...), so that the first ``n`` of them
    are stratified by type rather than mostly of the first type."""
    queues: dict[str, list[Labelled]] = {}
    for lab in entities:
        queues.setdefault(lab.entity.type, []).append(lab)
    out: list[Labelled] = []
    while any(queues.values()):
        for queue in queues.values():
            if queue:
                out.append(queue.pop(0))
    return out


def steering_arms(
    labels: Labels, d: np.ndarray, *, n_steer: int, n_random: int, seed: int, latent: np.ndarray | None = None
) -> dict[str, Arm]:
    """The arms on up to ``n_steer`` held-out known entities, stratified by type (none, the unknown direction ``d``, each random
    direction, the SAE latent's decoder direction ``latent`` at the norm of ``d``) and on as many held-out
    fabricated ones (none, the known direction ``-d``)."""
    rows = list(zip(labels.entities, labels.unknown, labels.test, strict=True))
    known = by_type([lab for lab, u, t in rows if t and not u])[:n_steer]
    fabricated = by_type([lab for lab, _, t in rows if t and lab.entity.fabricated])[:n_steer]
    if not known:
        raise UserError("no held-out known entities to steer on; use more entities")
    arms = {"known/none": Arm(known, None), "known/unknown_dir": Arm(known, d)}
    for i, r in enumerate(random_directions(d, n_random, seed)):
        arms[f"known/random{i}"] = Arm(known, r)
    if latent is not None:
        norm = float(np.linalg.norm(d))
        arms["known/sae_latent"] = Arm(known, latent * norm / max(float(np.linalg.norm(latent)), 1e-12))
    if fabricated:
        arms["fabricated/none"] = Arm(fabricated, None)
        arms["fabricated/known_dir"] = Arm(fabricated, -d)
    return arms


def steer(
    model: Model, es: EntitySet, arms: dict[str, Arm], layer: int, *, scale: float, max_new_tokens: int
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Per arm, refusal indicators (1 = the ``refusal`` verifier flags the answer) of the answers with the arm's
    vector added at ``layer``; ``known/random`` is their mean over the random arms. Also every answer as a record."""
    from reflectlab.core.registry import verifiers
    from reflectlab.evals.verifiers import QAItem

    detector = verifiers.get("refusal")()
    params = SamplingParams(max_new_tokens=max_new_tokens)
    refused: dict[str, np.ndarray] = {}
    samples: list[dict[str, Any]] = []
    for name, arm in arms.items():
        qs = [steer_question(es, lab.entity) for lab in arm.entities]
        chats = [user(q) for q in qs]
        if arm.vector is None:
            gens = model.generate(chats, params, desc=f"steer {name}")
        else:
            with model.steer({layer: arm.vector}, scale=scale):
                gens = model.generate(chats, params, desc=f"steer {name}")
        texts = [g.text for g in gens]
        items = [QAItem(lab.entity.name, q, 0) for lab, q in zip(arm.entities, qs, strict=True)]
        verdicts = detector.verify(items, texts)
        refused[name] = np.array(verdicts, dtype=float)
        samples += [{"unit": lab.entity.name, "arm": name, "prompt": q, "output": t,
                     "verdict": "refusal" if v else "answer"}
                    for lab, q, t, v in zip(arm.entities, qs, texts, verdicts, strict=True)]  # fmt: skip
    refused["known/random"] = np.mean([v for k, v in refused.items() if k.startswith("known/random")], axis=0)
    return refused, samples


def steering_findings(refused: dict[str, np.ndarray], *, margin: float, seed: int, n_bootstrap: int) -> list[Finding]:
    """From per-entity refusal indicators under each arm: ``known/none``, ``known/unknown_dir``,
    ``known/random`` (mean over random directions), optionally ``known/sae_latent``, ``fabricated/none`` and
    ``fabricated/known_dir``. Each finding is a paired difference of refusal rates between two arms, by entity;
    all of them are diagnostics (the study's primary finding is the detection's)."""
    rates = {k: float(np.mean(v)) for k, v in refused.items()}
    random = "random directions of equal norm"
    # metric, arm, control arm, control, primary, details
    comparisons: list[tuple[str, str, str, str, bool, dict[str, Any]]] = [
        ("steer_refusal_vs_random", "known/unknown_dir", "known/random", random, False,
         {"definition": "refusal rate on known entities with the unknown direction added minus with random "
                        "directions of equal norm", "refusal_rates": rates}),
        ("steer_refusal_vs_none", "known/unknown_dir", "known/none", "no steering", False, {"refusal_rates": rates}),
        ("steer_latent_refusal_vs_random", "known/sae_latent", "known/random", random, False,
         {"definition": "the SAE's unknown latent's decoder direction, at the same norm"}),
        ("known_direction_cuts_refusal", "fabricated/none", "fabricated/known_dir", "no steering", False,
         {"definition": "refusal rate on fabricated entities without steering minus with the opposite (known) "
                        "direction: present = the model answers made-up entities more"}),
    ]  # fmt: skip
    return [
        Finding.from_estimate(
            paired_rate_diff_ci(refused[arm], refused[base], unit="entity", null=0.0, alternative="greater"),
            metric=metric,
            control=control,
            control_value=0.0,
            margin=margin,
            primary=primary,
            details=details,
        )
        for metric, arm, base, control, primary, details in comparisons
        if arm in refused and base in refused
    ]
