"""The self-correction inquiry (RESEARCH.md line 3): does reflection repair a model's answers, or is it theatre?

Three studies: ``confirmatory_reflection`` (do the candidates after the first one change the answer?),
``self_trust`` (does the model over-trust its own answers?) and ``offline_vs_online`` (does offline correction data
teach self-correction as well as online RL on the model's own attempts?).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from reflectlab.core.inquiry import Inquiry, Study
from reflectlab.training.self_correction.confirmatory import ConfirmatoryConfig, ConfirmatoryStudy
from reflectlab.training.self_correction.offline_online import OfflineOnlineConfig, OfflineOnlineStudy
from reflectlab.training.self_correction.self_trust import SelfTrustConfig, SelfTrustStudy


@dataclass
class SelfCorrectionStudies:
    confirmatory_reflection: ConfirmatoryConfig = field(default_factory=ConfirmatoryConfig)
    self_trust: SelfTrustConfig = field(default_factory=SelfTrustConfig)
    offline_vs_online: OfflineOnlineConfig = field(default_factory=OfflineOnlineConfig)


class SelfCorrection(Inquiry):
    name = "self-correction"
    description = "reflection that repairs, or theatre: confirmatory reflection, self-trust, offline vs online"
    studies: ClassVar[dict[str, type[Study]]] = {
        "confirmatory_reflection": ConfirmatoryStudy,
        "self_trust": SelfTrustStudy,
        "offline_vs_online": OfflineOnlineStudy,
    }
    studies_config = SelfCorrectionStudies
    presets_resource = ("reflectlab.training.self_correction", "presets.yaml")
