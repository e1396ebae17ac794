"""reflectlab.core: the spine every inquiry hangs on.

Public API: :class:`Model` handles (``load_model``), :class:`Finding` and the verdict rule,
the :class:`Inquiry` / :class:`Study` plugin interfaces, registries, configs, the cache and the tracker.
"""

from reflectlab.core.errors import StudyFailed, UserError
from reflectlab.core.findings import SIDES, VERDICTS, Finding, verdict_for
from reflectlab.core.inquiry import Inquiry, RunContext, Study
from reflectlab.core.models.base import Generation, Model, Scored
from reflectlab.core.models.spec import ModelSpec

__all__ = [
    "SIDES",
    "VERDICTS",
    "Finding",
    "Generation",
    "Inquiry",
    "Model",
    "ModelSpec",
    "RunContext",
    "Scored",
    "Study",
    "StudyFailed",
    "UserError",
    "verdict_for",
]
