"""How a model is named: a spec that is also the ``model`` section of every run config."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelSpec:
    """A causal LM to load.

    ``name`` is an embedded model (``platform models``), a local folder (transformers format or a folder with one
    ``.gguf`` file), or a model-hub name, which is the only case that downloads anything.
    """

    name: str = "smollm2-135m-instruct"
    backend: str = "hf"
    dtype: str = "float32"
    device: str = "cpu"
    adapter: str | None = None
    # The subject's base model (its pre-post-training checkpoint), used as the reference or cross model where a
    # study asks for one with reference_model=auto; None = a known pairing, else a fallback the findings name.
    base: str | None = None
    # Rows per forward; on 2 CPU cores decode is 5x faster per token at 128 than at 16 (docs/performance.md).
    batch_size: int = 128
