"""The compounding inquiry (RESEARCH.md line 5): errors in self-generated training data compound, down to a floor
that the verifier's quality sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from reflectlab.core.inquiry import Inquiry, Study
from reflectlab.selfplay.compounding.recurrence import RecurrenceConfig, RecurrenceStudy
from reflectlab.selfplay.compounding.self_training import SelfTrainingConfig, SelfTrainingStudy


@dataclass
class CompoundingStudies:
    recurrence: RecurrenceConfig = field(default_factory=RecurrenceConfig)
    self_training: SelfTrainingConfig = field(default_factory=SelfTrainingConfig)


class Compounding(Inquiry):
    name = "compounding"
    description = "self-training errors compound; verification sets the floor"
    studies: ClassVar[dict[str, type[Study]]] = {"recurrence": RecurrenceStudy, "self_training": SelfTrainingStudy}
    studies_config = CompoundingStudies
    presets_resource = ("reflectlab.selfplay.compounding", "presets.yaml")
