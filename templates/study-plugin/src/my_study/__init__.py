"""``my-inquiry``: a reflectlab inquiry made of one study (``answer_fit``).

An inquiry is a name, a description, its studies, one config dataclass with a field per study, and a YAML of
presets. The entry point in pyproject.toml registers it; nothing else is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from my_study.answer_fit import AnswerFit, AnswerFitConfig
from reflectlab.core import Inquiry, Study


@dataclass
class MyStudies:
    """One field per study: ``studies.answer_fit.n_questions=...`` on the command line reaches it."""

    answer_fit: AnswerFitConfig = field(default_factory=AnswerFitConfig)


class MyInquiry(Inquiry):
    name = "my-inquiry"
    description = "does the model's own answer fit its own question better than another question?"
    studies: ClassVar[dict[str, type[Study]]] = {"answer_fit": AnswerFit}
    studies_config = MyStudies
    presets_resource = ("my_study", "presets.yaml")
