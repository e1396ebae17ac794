"""The knowledge-awareness study's settings (``studies.knowledge_awareness.*``), range-checked on creation."""

from __future__ import annotations

from dataclasses import dataclass

from reflectlab.core.config import StudyConfig, option, require
from reflectlab.evals.tasks.entities import ENTITY_TYPES, load_entities


@dataclass
class KnowledgeAwarenessConfig(StudyConfig):
    entity_types: list[str] = option(
        help="Entity types drawn from the shipped set: city, person, film, song.", factory=lambda: list(ENTITY_TYPES)
    )
    n_per_type: int = option(32, "Real entities per type; as many fabricated ones are added.")
    answer_tokens: int = option(12, "New tokens of each greedy answer to an attribute question (the labels).")
    known_min_correct: int = option(
        1, "Attributes (of 2) a real entity must be answered right on to count as known; the paper used 2 of 3 or more."
    )
    test_fraction: float = option(0.5, "Share of the entities held out, stratified by label, for every AUROC.")
    layers: list[float] = option(
        help="Layers swept for the difference-of-means direction, as fractions of depth.",
        factory=lambda: [0.25, 0.5, 0.75],
    )
    use_sae: bool = option(True, "Run the SAE step (needs sae-lens).")
    sae_layer: float = option(
        0.5, "Layer of the trained SAE as a fraction of depth (a loaded SAE with a hook name brings its own)."
    )
    sae_width: int = option(1536, "Latents of the trained TopK SAE.")
    sae_k: int = option(16, "Latents active per vector (the TopK k) of the trained SAE.")
    sae_epochs: float = option(3.0, "Passes over the activation vectors when training the SAE.")
    sae_lr: float = option(1e-3, "Learning rate of the SAE training (constant).")
    sae_batch_size: int = option(128, "Activation vectors per SAE training step.")
    corpus_tokens: int = option(
        12000, "Generic-text tokens read for the SAE's training vectors and the latents' generic frequency."
    )
    corpus_chunk: int = option(64, "Tokens per row of generic text (a BOS token goes in front of each).")
    generic_max_freq: float = option(
        0.02, "Latents active on more than this share of generic tokens are not candidates."
    )
    sae_path: str = option("", "A saved SAE (sae-lens format) to load instead of training one.")
    sae_release: str = option("", "A released SAE to load (with sae_id), e.g. gemma-scope-2b-pt-res-canonical.")
    sae_id: str = option("", "The SAE's id within sae_release.")
    steer_scale: float = option(
        1.0, "Steering strength in multiples of the difference-of-means direction (1 = the gap between the means)."
    )
    n_random: int = option(2, "Random directions of the same norm: the steering control.")
    n_steer: int = option(24, "Held-out entities steered per kind (known, fabricated).")
    steer_tokens: int = option(24, "New tokens of each steered answer.")

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = sorted(set(self.entity_types) - set(ENTITY_TYPES))
        require(not unknown, "entity_types", f"unknown type(s) {', '.join(unknown)}; use {', '.join(ENTITY_TYPES)}")
        require(bool(self.entity_types), "entity_types", "name at least one type")
        require(self.n_per_type >= 1, "n_per_type", "must be at least 1")
        if not unknown:
            shipped = load_entities()
            held = {t: len(shipped.of_type([t])) for t in self.entity_types}
            require(
                self.n_per_type <= min(held.values()),
                "n_per_type",
                "asks for more entities than the shipped set holds ("
                + ", ".join(f"{t} {n}" for t, n in held.items())
                + "); lower it or drop the smaller types",
            )
        require(self.answer_tokens >= 1, "answer_tokens", "must be at least 1")
        require(self.known_min_correct >= 0, "known_min_correct", "must not be negative")
        require(0 < self.test_fraction < 1, "test_fraction", "must be between 0 and 1")
        require(bool(self.layers), "layers", "name at least one layer")
        require(all(0 < f <= 1 for f in self.layers), "layers", "fractions of depth must be in (0, 1]")
        require(0 < self.sae_layer <= 1, "sae_layer", "a fraction of depth must be in (0, 1]")
        require(self.sae_width >= 1, "sae_width", "must be at least 1")
        require(1 <= self.sae_k <= self.sae_width, "sae_k", "must be between 1 and sae_width")
        require(self.sae_epochs > 0, "sae_epochs", "must be positive")
        require(self.sae_lr > 0, "sae_lr", "must be positive")
        require(self.sae_batch_size >= 1, "sae_batch_size", "must be at least 1")
        require(self.corpus_tokens >= 1, "corpus_tokens", "must be at least 1")
        require(self.corpus_chunk >= 1, "corpus_chunk", "must be at least 1")
        require(0 <= self.generic_max_freq <= 1, "generic_max_freq", "must be between 0 and 1")
        require(
            bool(self.sae_release) == bool(self.sae_id), "sae_id", "a released SAE needs both sae_release and sae_id"
        )
        require(self.n_random >= 1, "n_random", "must be at least 1")
        require(self.n_steer >= 1, "n_steer", "must be at least 1")
        require(self.steer_tokens >= 1, "steer_tokens", "must be at least 1")
