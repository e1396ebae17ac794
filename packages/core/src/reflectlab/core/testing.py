"""Helpers for fast tests: a tiny random-initialised Llama with a real tokenizer, built locally (no download).

Plugin authors can use :func:`tiny_model_dir` to test a study end to end in seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Was this answer sampled at a high or a low temperature? Answer with one word: high or low.",
    "Write two sentences about the ocean, the moon, a lighthouse, coffee and mountains.",
    "Yes no maybe. One two three four five six seven eight nine ten. 0 1 2 3 4 5 6 7 8 9",
    "Be wildly creative, surprising and unpredictable! The assistant was asked and answered.",
]


def tiny_model_dir(path: str | Path, *, seed: int = 0, chat_template: bool = True, layers: int = 4) -> Path:
    """Write a tiny random Llama (hidden size 64) and a byte-level BPE tokenizer to ``path``; return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    if (path / "config.json").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token="<|endoftext|>"
    )
    if chat_template:
        fast.chat_template = CHATML
    fast.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    return path


def run_platform(*args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run the installed ``platform`` command in ``cwd`` as a user would (local MLflow store in ``cwd``)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    exe = Path(sys.executable).parent / "platform"
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
