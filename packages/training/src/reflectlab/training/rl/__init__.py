"""Reinforcement learning on a reward: online GRPO through TRL's ``GRPOTrainer`` (trainer ``rl``,
:mod:`~reflectlab.training.rl.grpo`), and a group-normalised policy gradient on completions scored in advance
(trainer ``rl-scored``, :mod:`~reflectlab.training.rl.scored`); their settings and the start and finish of a run
are shared (:mod:`~reflectlab.training.rl.common`).

Both write the output folder atomically with the record of :mod:`reflectlab.training.result`, and return a finished
run with the same inputs instead of training again. Both continue a LoRA adapter on the base spec as the ``sft``
trainer does.
"""

from __future__ import annotations

from reflectlab.training.rl.common import RLSettings
from reflectlab.training.rl.grpo import RL, RewardFn, train_rl
from reflectlab.training.rl.scored import RLScored, ScoredGroup, group_advantages, train_on_scored

__all__ = ["RL", "RLScored", "RLSettings", "RewardFn", "ScoredGroup", "group_advantages", "train_on_scored", "train_rl"]
