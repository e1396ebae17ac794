"""The emergence inquiry (RESEARCH.md line 1): does recognition of one's own behaviour, knowledge and outputs arise
without being trained in?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from reflectlab.core.inquiry import Inquiry, Study
from reflectlab.probes.emergence.knowledge_awareness import KnowledgeAwarenessConfig, KnowledgeAwarenessStudy
from reflectlab.probes.emergence.on_policy_entropy import OnPolicyEntropyConfig, OnPolicyEntropyStudy
from reflectlab.probes.emergence.self_description import SelfDescriptionConfig, SelfDescriptionStudy


@dataclass
class EmergenceStudies:
    self_description: SelfDescriptionConfig = field(default_factory=SelfDescriptionConfig)
    knowledge_awareness: KnowledgeAwarenessConfig = field(default_factory=KnowledgeAwarenessConfig)
    on_policy_entropy: OnPolicyEntropyConfig = field(default_factory=OnPolicyEntropyConfig)


class Emergence(Inquiry):
    name = "emergence"
    description = "recognition that arises untrained: self-description, knowledge awareness, on-policy entropy"
    studies: ClassVar[dict[str, type[Study]]] = {
        "self_description": SelfDescriptionStudy,
        "knowledge_awareness": KnowledgeAwarenessStudy,
        "on_policy_entropy": OnPolicyEntropyStudy,
    }
    studies_config = EmergenceStudies
    presets_resource = ("reflectlab.probes.emergence", "presets.yaml")
