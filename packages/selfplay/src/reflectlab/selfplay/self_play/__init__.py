"""The self-play inquiry (RESEARCH.md line 4): loops that manufacture their own reward - self-judging (SERL),
post-completion self-evaluation (PCL), self-questioning (SQLM) and skill self-play (Ctx2Skill) - each measured,
round by round, against a ground truth the loop never sees (:mod:`reflectlab.selfplay.self_play.truth`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from reflectlab.core.inquiry import Inquiry, Study
from reflectlab.selfplay.self_play.post_completion import PostCompletionConfig, PostCompletionStudy
from reflectlab.selfplay.self_play.self_judging import SelfJudgingConfig, SelfJudgingStudy
from reflectlab.selfplay.self_play.self_questioning import SelfQuestioningConfig, SelfQuestioningStudy
from reflectlab.selfplay.self_play.skills import SkillsConfig, SkillsStudy


@dataclass
class SelfPlayStudies:
    self_judging: SelfJudgingConfig = field(default_factory=SelfJudgingConfig)
    post_completion: PostCompletionConfig = field(default_factory=PostCompletionConfig)
    self_questioning: SelfQuestioningConfig = field(default_factory=SelfQuestioningConfig)
    skills: SkillsConfig = field(default_factory=SkillsConfig)


class SelfPlay(Inquiry):
    name = "self-play"
    description = "self-made rewards (self-judging, post-completion, self-questioning, skills) vs the truth"
    studies: ClassVar[dict[str, type[Study]]] = {
        "self_judging": SelfJudgingStudy,
        "post_completion": PostCompletionStudy,
        "self_questioning": SelfQuestioningStudy,
        "skills": SkillsStudy,
    }
    studies_config = SelfPlayStudies
    presets_resource = ("reflectlab.selfplay.self_play", "presets.yaml")
