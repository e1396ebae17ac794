"""Model handles: a backend-neutral :class:`Model` and the embedded default models."""

from reflectlab.core.models.base import Generation, Model, SamplingParams, Scored
from reflectlab.core.models.spec import ModelSpec

__all__ = ["Generation", "Model", "ModelSpec", "SamplingParams", "Scored"]
