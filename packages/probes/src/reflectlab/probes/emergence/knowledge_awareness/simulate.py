"""The study's findings from its raw arrays (:func:`measure`: detection, then steering), and a simulator that writes
those arrays with no model, for ``platform calibrate``. The SAE step is not simulated: its latents are diagnostics,
and an SAE is not cheap enough to train 400 times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.findings import Finding
from reflectlab.evals.tasks.entities import load_entities
from reflectlab.probes.emergence.knowledge_awareness.config import KnowledgeAwarenessConfig
from reflectlab.probes.emergence.knowledge_awareness.directions import UNIT, detection_findings
from reflectlab.probes.emergence.knowledge_awareness.entities import select_entities, split
from reflectlab.probes.emergence.knowledge_awareness.steering import steering_findings

#: Chance that the model knows a real entity of each type (the embedded model knew no song at all).
KNOWN_RATE = {"city": 0.7, "person": 0.5, "film": 0.4, "song": 0.05}
#: Dimensions of the simulated residual states.
WIDTH = 16


@dataclass
class EntityArrays:
    """What the detection and steering steps consume: residual states per layer (one row per entity), the labels,
    the held-out mask, the names' token counts, and refusal indicators per steering arm (one per steered entity)."""

    states: dict[int, np.ndarray]
    unknown: np.ndarray
    test: np.ndarray
    lengths: np.ndarray
    refused: dict[str, np.ndarray]
    fabricated: np.ndarray | None = None
    familiarity: np.ndarray | None = None


def measure(data: EntityArrays, *, margin: float, seed: int, n_bootstrap: int) -> list[Finding]:
    """Detection findings (the primary among them) and steering findings, as the study's run computes them."""
    findings, _, _ = detection_findings(
        data.states, data.unknown, data.test, data.lengths, margin=margin, seed=seed, n_bootstrap=n_bootstrap,
        fabricated=data.fabricated, familiarity=data.familiarity,
    )  # fmt: skip
    return findings + steering_findings(data.refused, margin=margin, seed=seed, n_bootstrap=n_bootstrap)


class KnowledgeAwarenessSimulator(Simulator):
    """Entities, labels, states and refusals at the config's sizes (the shipped real entities of the configured
    types, capped at ``n_per_type`` each, and one fabricated twin per real one), with no model.

    Labels: a real entity is known with a chance that depends on its type (:data:`KNOWN_RATE`: cities 0.7 ... songs
    0.05), so entity type predicts the label, as on real data; fabricated ones are unknown. Lengths: a real name
    has ``2 + Poisson(1.5)`` tokens, ``2 + Poisson(1.0)`` when known (known names are shorter, as on real data), its
    fabricated twin the same count. States at each of the config's layers: a per-type offset (sd ``type_sd`` per
    dimension, the entity-type cluster every entity of a type shares), the name's length along one axis (0.5 per
    token), unit noise, and the planted effect: ``effect`` (in noise sd) along an "unknown" axis for unknown
    entities, at the middle layer (half of it at the others). The split is the study's own (stratified, half held
    out). Refusals: a model that never refuses (``refusal_rate`` 0, the floor) in every steering arm.

    The two confounds of issue 20 are in the null: a fabricated name is a pseudo-word, offset along its own axis
    (``pseudo_word`` in noise sd) whether or not anything is known; and a real name's familiarity (its mean token
    surprisal, sd 1 around 4 nats, 1.2 nats higher when unknown: obscure names are rarer) is written into the
    states along a third axis (0.8 per nat), so a direction can read "rare name" without any knowledge signal. The
    surprisal the study measures is that familiarity itself."""

    metric = "real_direction_minus_familiarity_auroc"
    unit = UNIT
    planted_effect = 3.0  # about 90% power with 32 entities a type (quick and full hold the same 128 real names)

    def __init__(
        self,
        cfg: KnowledgeAwarenessConfig,
        *,
        type_sd: float = 0.3,
        refusal_rate: float = 0.0,
        pseudo_word: float = 2.0,
    ) -> None:
        self.cfg = cfg
        self.type_sd = type_sd
        self.refusal_rate = refusal_rate
        self.pseudo_word = pseudo_word
        real = select_entities(load_entities(), cfg.entity_types, cfg.n_per_type)
        self.types = np.array([e.type for e in real] * 2)
        self.fabricated = np.repeat([False, True], len(real))
        self.nuisance = (
            f"{len(real)} real + {len(real)} fabricated entities; known rate by type (songs 0.05 ... cities 0.7); "
            f"per-type offset in the states (sd {type_sd}); known names shorter and length in the states; "
            f"refusals at a floor of {refusal_rate}; fabricated names offset as pseudo-words ({pseudo_word} sd); "
            f"obscure real names rarer (familiarity in the states)"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> EntityArrays:
        cfg = self.cfg
        n_real = int((~self.fabricated).sum())
        real_types = self.types[:n_real]
        known_real = rng.random(n_real) < np.array([KNOWN_RATE.get(str(t), 0.5) for t in real_types])
        unknown = np.concatenate([~known_real, np.ones(n_real, dtype=bool)])
        real_len = 2.0 + rng.poisson(np.where(known_real, 1.0, 1.5))
        lengths = np.concatenate([real_len, real_len])
        familiarity = 4.0 + 1.2 * unknown + rng.normal(0, 1.0, len(unknown))
        test = split(list(unknown), cfg.test_fraction, int(rng.integers(1 << 31)))
        kinds = sorted(set(self.types.tolist()))
        type_code = np.array([kinds.index(t) for t in self.types])
        layers = list(range(1, len(cfg.layers) + 1))
        axes = rng.normal(size=(4, WIDTH)) / np.sqrt(WIDTH)
        states = {}
        for layer in layers:
            offsets = rng.normal(0, self.type_sd, (len(kinds), WIDTH))
            strength = effect if layer == layers[len(layers) // 2] else effect / 2
            x = offsets[type_code] + rng.normal(size=(len(unknown), WIDTH))
            x += np.outer(0.5 * (lengths - lengths.mean()), axes[0]) / np.linalg.norm(axes[0])
            x += np.outer(strength * unknown, axes[1]) / np.linalg.norm(axes[1])
            x += np.outer(self.pseudo_word * self.fabricated, axes[2]) / np.linalg.norm(axes[2])
            x += np.outer(0.8 * (familiarity - familiarity.mean()), axes[3]) / np.linalg.norm(axes[3])
            states[layer] = x
        held_known = int((test & ~unknown).sum())
        held_fake = int((test & self.fabricated).sum())
        n_known, n_fake = min(cfg.n_steer, held_known), min(cfg.n_steer, held_fake)

        def refusals(n: int) -> np.ndarray:
            return np.asarray(rng.random(n) < self.refusal_rate, dtype=float)

        randoms = [refusals(n_known) for _ in range(cfg.n_random)]
        refused = {
            "known/none": refusals(n_known),
            "known/unknown_dir": refusals(n_known),
            "known/random": np.mean(randoms, axis=0),
            "fabricated/none": refusals(n_fake),
            "fabricated/known_dir": refusals(n_fake),
        }
        return EntityArrays(states, unknown, test, lengths, refused, self.fabricated, familiarity)

    def measure(self, data: EntityArrays, seed: int) -> list[Finding]:
        return measure(data, margin=self.cfg.margin, seed=seed, n_bootstrap=self.cfg.n_bootstrap)
