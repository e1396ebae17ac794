"""The component contracts core owns: :class:`Trainer` (changes a model) and :class:`Verifier` (judges outputs).

Trainers and verifiers live in other packages (``reflectlab-training``, ``reflectlab-evals``, plugins) and are
found through the registry; their registries check these base classes, so a study can rely on the methods below
without importing the package that implements them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from reflectlab.core.models.spec import ModelSpec

#: Receives stepped metrics, as ``RunContext.log_metrics(metrics, step)`` does.
MetricsSink = Callable[[dict[str, float], int], None]


class TrainedModel(Protocol):
    """What a trainer returns: at least the spec that loads the trained model."""

    @property
    def spec(self) -> ModelSpec: ...


class Trainer(ABC):
    """Changes a model and returns the changed model (an adapter or new weights).

    ``train(base, data, settings, out_dir, log_metrics)``: ``data`` is what this trainer learns from (chats for
    SFT, prompts and a reward for RL, scored groups for ``rl-scored``), ``settings`` its settings dataclass or a
    mapping of its fields. With ``keyed`` the output goes to a subfolder of ``out_dir`` named by the content key
    of the inputs, so one folder per tag holds every distinct training run and a repeat reuses its output.
    Calling the trainer object is the same as calling ``train``."""

    name: ClassVar[str] = ""

    @abstractmethod
    def train(
        self,
        base: ModelSpec,
        data: Any,
        settings: Any,
        out_dir: str | Path,
        log_metrics: MetricsSink | None = None,
        **kwargs: Any,
    ) -> TrainedModel:
        """Train from ``base`` into ``out_dir`` and return the trained model."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.train(*args, **kwargs)


class Verifier(ABC):
    """Judges a batch of outputs; ``outputs[i]`` answers ``items[i]`` (an item has ``id``, ``question``,
    ``answer``). A verdict means "the check holds" (see each verifier for what that is)."""

    name: ClassVar[str] = ""

    @abstractmethod
    def verify(self, items: Sequence[Any], outputs: Sequence[str]) -> list[bool]:
        """One verdict per output."""
