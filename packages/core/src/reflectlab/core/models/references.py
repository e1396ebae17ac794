"""Which second model a study compares the subject with, chosen per subject and named in the findings.

A cross-model control is only a control if the second model is comparable: the subject's own base model where one
is known (the post-trained model minus its post-training), else a model of similar size. It is never silently a
270M base model beside a 7B subject. :func:`pick_reference` returns the choice and a sentence saying how it was made;
studies put both in their findings' ``details``.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflectlab.core.errors import UserError
from reflectlab.core.models.embedded import EMBEDDED, other_embedded

#: Post-trained hub models and their base models (the model-hub names; matched case-insensitively, with or without
#: the organisation). Extend it with ``model.base=`` on the command line instead of editing it.
KNOWN_BASES: dict[str, str] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M",
    "HuggingFaceTB/SmolLM2-360M-Instruct": "HuggingFaceTB/SmolLM2-360M",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct": "HuggingFaceTB/SmolLM2-1.7B",
    "Qwen/Qwen2.5-0.5B-Instruct": "Qwen/Qwen2.5-0.5B",
    "Qwen/Qwen2.5-1.5B-Instruct": "Qwen/Qwen2.5-1.5B",
    "Qwen/Qwen2.5-3B-Instruct": "Qwen/Qwen2.5-3B",
    "Qwen/Qwen2.5-7B-Instruct": "Qwen/Qwen2.5-7B",
    "google/gemma-3-270m-it": "google/gemma-3-270m",
    "google/gemma-3-1b-it": "google/gemma-3-1b-pt",
    "meta-llama/Llama-3.2-1B-Instruct": "meta-llama/Llama-3.2-1B",
    "meta-llama/Llama-3.2-3B-Instruct": "meta-llama/Llama-3.2-3B",
    "meta-llama/Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B",
    "allenai/OLMo-2-1124-7B-Instruct": "allenai/OLMo-2-1124-7B",
}


@dataclass(frozen=True)
class Reference:
    """The second model and how it was chosen: ``role`` is ``configured``, ``base`` or ``fallback``."""

    name: str
    role: str
    why: str

    def details(self) -> dict[str, str]:
        return {"reference_model": self.name, "reference_role": self.role, "reference_choice": self.why}


def _known_base(subject: str) -> str | None:
    wanted = subject.strip().rstrip("/").lower()
    for instruct, base in KNOWN_BASES.items():
        if wanted in (instruct.lower(), instruct.split("/")[-1].lower()):
            return base
    return None


def pick_reference(
    subject: str, configured: str = "auto", *, base: str | None = None, key: str = "reference_model"
) -> Reference:
    """The second model for ``subject``: ``configured`` when it is not ``auto``; else ``base`` (the run's
    ``model.base``); for an embedded subject the other embedded model (a fallback of similar size, said so, so that
    nothing downloads); else the subject's known base model. An unknown hub subject with no base is a one-line error naming ``key``."""
    if configured != "auto":
        return Reference(configured, "configured", f"{configured} (set in config)")
    if base:
        return Reference(base, "base", f"{base}, the subject's base model (model.base)")
    if subject in EMBEDDED:  # before the hub pairs: an embedded subject never makes a run download
        other = other_embedded(subject)
        return Reference(
            other,
            "fallback",
            f"{other}, the other embedded model: a fallback of similar size, not {subject}'s own base model (which is "
            "not shipped; set model.base= to use it)",
        )
    known = _known_base(subject)
    if known:
        return Reference(known, "base", f"{known}, the subject's base model")
    raise UserError(
        f"no known base model for {subject}: set {key}=<its base model, or a model of similar size> "
        "(or model.base=<its base model>)"
    )
