"""reflectlab trainers: change a model and return the changed model (an adapter or new weights).

``train_sft`` (registered as the ``sft`` trainer) fine-tunes through TRL's ``SFTTrainer``, with LoRA by default.
"""

from reflectlab.training.examples import Example, TargetedChat
from reflectlab.training.result import MetricsSink, TrainResult
from reflectlab.training.sft import SFTSettings, train_sft

__all__ = ["Example", "MetricsSink", "SFTSettings", "TargetedChat", "TrainResult", "train_sft"]
