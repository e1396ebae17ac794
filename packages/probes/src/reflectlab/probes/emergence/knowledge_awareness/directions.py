"""The difference-of-means "unknown" direction per layer and its held-out AUROC (testable on planted data).

The primary finding asks it of **real entities only** (known vs unknown real names), against the name's familiarity
to the model (the mean surprisal of the name's tokens after its mention): an obscure name is both rarer and less
known, so a direction that only reads "this name is rare" passes chance but not this control. Over real and
fabricated entities together, pseudo-words differ from real names in ways that are not knowledge, so that AUROC
and its length control are diagnostics. The unit is the entity: each held-out entity is one observation, and the
intervals are cluster bootstraps over entities."""

from __future__ import annotations

from typing import Any

import numpy as np

from reflectlab.core.findings import Finding
from reflectlab.core.stats import UnitEstimate, auroc, cluster_auroc_ci

UNIT = "entity"


def entity_auroc(
    scores: np.ndarray, unknown: np.ndarray, *, seed: int, n_bootstrap: int, scores_b: np.ndarray | None = None
) -> UnitEstimate:
    """AUROC for 'unknown' (or, with ``scores_b``, the paired AUROC difference), one entity per row, with a
    bootstrap over entities and a one-sided p-value against chance (0.5, or 0 for a difference)."""
    return cluster_auroc_ci(
        scores, unknown, None, scores_b=scores_b, unit=UNIT, alternative="greater", seed=seed, n_resamples=n_bootstrap
    )


def direction(x_train: np.ndarray, unknown_train: np.ndarray) -> np.ndarray:
    """Difference of means: mean state of unknown entities minus mean state of known ones."""
    y = np.asarray(unknown_train, dtype=bool)
    return np.asarray(x_train[y].mean(axis=0) - x_train[~y].mean(axis=0))


def detection_findings(
    states: dict[int, np.ndarray],
    unknown: np.ndarray,
    test: np.ndarray,
    lengths: np.ndarray,
    *,
    margin: float,
    seed: int,
    n_bootstrap: int,
    fabricated: np.ndarray | None = None,
    familiarity: np.ndarray | None = None,
) -> tuple[list[Finding], int, dict[int, np.ndarray]]:
    """Per-layer held-out AUROC of the difference-of-means direction; the best layer (by training AUROC) against
    chance and against token length; and, given which entities are ``fabricated`` and each name's ``familiarity``
    (mean surprisal of its tokens: higher = less familiar), the primary: on real entities alone, a direction fitted
    at the best layer against the familiarity of the name. Returns the findings, the best layer and the directions."""
    y = np.asarray(unknown, dtype=int)
    tr, te = ~np.asarray(test, dtype=bool), np.asarray(test, dtype=bool)
    findings, dirs, train_auc = [], {}, {}
    for layer, x in sorted(states.items()):
        d = direction(x[tr], y[tr])
        dirs[layer] = d
        train_auc[layer] = auroc(x[tr] @ d, y[tr])
        findings.append(
            Finding.from_estimate(
                entity_auroc(x[te] @ d, y[te], seed=seed, n_bootstrap=n_bootstrap),
                metric=f"direction_auroc.layer{layer}",
                control="chance (0.5)",
                control_value=0.5,
                margin=margin,
                details={
                    "definition": "AUROC for 'unknown' of the projection on the training half's difference "
                    "of means, on held-out entities",
                    "train_auroc": train_auc[layer],
                },
            )
        )
    best = max(train_auc, key=lambda k: (np.nan_to_num(train_auc[k]), -k))
    score = states[best][te] @ dirs[best]
    details: dict[str, Any] = {"layer": best, "chosen_by": "training-half AUROC", "n_unknown": int(y[te].sum())}
    findings += [
        Finding.from_estimate(
            entity_auroc(score, y[te], seed=seed, n_bootstrap=n_bootstrap),
            metric="direction_auroc",
            control="chance (0.5)",
            control_value=0.5,
            margin=margin,
            details=details,
        ),
        Finding.from_estimate(
            entity_auroc(lengths[te], y[te], seed=seed, n_bootstrap=n_bootstrap),
            metric="length_auroc",
            control="chance (0.5): names matched in token length",
            control_value=0.5,
            margin=margin,
            details={"definition": "AUROC for 'unknown' of the name's token count: the length confound"},
        ),
        Finding.from_estimate(
            entity_auroc(score, y[te], seed=seed, n_bootstrap=n_bootstrap, scores_b=lengths[te].astype(float)),
            metric="direction_minus_length_auroc",
            control="token length as the detector",
            control_value=0.0,
            margin=margin,
            details={
                "layer": best,
                "definition": "held-out AUROC of the direction minus that of the name's token count, paired on the "
                "same entities, real and fabricated together (a diagnostic: pseudo-words differ from real names in "
                "ways that are not knowledge)",
            },
        ),
    ]
    if fabricated is not None and familiarity is not None:
        findings += real_entity_findings(states[best], y, tr, te, np.asarray(fabricated, dtype=bool),
                                         np.asarray(familiarity, dtype=float), lengths, best=best, margin=margin,
                                         seed=seed, n_bootstrap=n_bootstrap)  # fmt: skip
    return findings, best, dirs


def real_entity_findings(
    x: np.ndarray,
    y: np.ndarray,
    tr: np.ndarray,
    te: np.ndarray,
    fabricated: np.ndarray,
    familiarity: np.ndarray,
    lengths: np.ndarray,
    *,
    best: int,
    margin: float,
    seed: int,
    n_bootstrap: int,
) -> list[Finding]:
    """Known vs unknown among real entities: a direction fitted on the real training entities, its held-out AUROC
    against chance, against a direction fitted on shuffled labels, and (the primary) against the name's
    familiarity; the familiarity and length AUROCs themselves."""
    real_tr, real_te = tr & ~fabricated, te & ~fabricated
    both = len(set(y[real_tr].tolist())) == 2 and len(set(y[real_te].tolist())) == 2
    nan = np.full(int(real_te.sum()), np.nan)
    d = direction(x[real_tr], y[real_tr]) if both else np.zeros(x.shape[1])
    shuffled_labels = np.random.default_rng(seed).permutation(y[real_tr])
    d_shuffled = direction(x[real_tr], shuffled_labels) if both else np.zeros(x.shape[1])
    score = x[real_te] @ d if both else nan
    counts = {"n_real_known": int((real_te & (y == 0)).sum()), "n_real_unknown": int((real_te & (y == 1)).sum()),
              "layer": best}  # fmt: skip

    def auc(s: np.ndarray, s_b: np.ndarray | None = None) -> UnitEstimate:
        return entity_auroc(s, y[real_te], seed=seed, n_bootstrap=n_bootstrap, scores_b=s_b)

    return [
        Finding.from_estimate(
            auc(score), metric="real_direction_auroc", control="chance (0.5)", control_value=0.5, margin=margin,
            details={**counts, "definition": "held-out AUROC for 'unknown' among real entities of a direction "
                     "fitted on the real training entities"},
        ),
        Finding.from_estimate(
            auc(familiarity[real_te]), metric="familiarity_auroc", control="chance (0.5)", control_value=0.5,
            margin=margin, details={**counts, "definition": "AUROC for 'unknown' among real held-out entities of "
                                    "the name's mean token surprisal under the model (how rare the name is to it)"},
        ),
        Finding.from_estimate(
            auc(lengths[real_te]), metric="real_length_auroc", control="chance (0.5)", control_value=0.5,
            margin=margin, details={**counts, "definition": "AUROC for 'unknown' among real held-out entities of "
                                    "the name's token count (real names are not length-matched among themselves)"},
        ),
        Finding.from_estimate(
            auc(score, x[real_te] @ d_shuffled if both else nan), metric="real_direction_minus_shuffled_auroc",
            control="a direction fitted on shuffled labels", control_value=0.0, margin=margin,
            details={**counts, "definition": "the real-entity direction's held-out AUROC minus that of a direction "
                     "fitted on the same training entities with their labels shuffled"},
        ),
        Finding.from_estimate(
            auc(score, familiarity[real_te]), metric="real_direction_minus_familiarity_auroc",
            control="the name's familiarity (mean token surprisal) as the detector", control_value=0.0,
            margin=margin, primary=True,
            details={**counts, "definition": "among real entities: held-out AUROC of the direction minus that of "
                     "the name's mean token surprisal, paired on the same entities; present = the model's state "
                     "says more about whether it knows the entity than how rare the name is does"},
        ),
    ]  # fmt: skip
