"""The introspection inquiry (RESEARCH.md line 2): are self-reports a readout of internal state, or an echo?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from reflectlab.core.inquiry import Inquiry, Study
from reflectlab.probes.introspection.concept_injection import ConceptInjectionConfig, ConceptInjectionStudy
from reflectlab.probes.introspection.self_prediction import SelfPredictionConfig, SelfPredictionStudy
from reflectlab.probes.introspection.temperature import TemperatureConfig, TemperatureStudy


@dataclass
class IntrospectionStudies:
    temperature: TemperatureConfig = field(default_factory=TemperatureConfig)
    self_prediction: SelfPredictionConfig = field(default_factory=SelfPredictionConfig)
    concept_injection: ConceptInjectionConfig = field(default_factory=ConceptInjectionConfig)


class Introspection(Inquiry):
    name = "introspection"
    description = "self-reports: privileged readout of internal state, or echo?"
    studies: ClassVar[dict[str, type[Study]]] = {
        "temperature": TemperatureStudy,
        "self_prediction": SelfPredictionStudy,
        "concept_injection": ConceptInjectionStudy,
    }
    studies_config = IntrospectionStudies
    presets_resource = ("reflectlab.probes.introspection", "presets.yaml")
