"""Supervised fine-tuning through TRL's ``SFTTrainer``: LoRA (PEFT) by default, full fine-tuning on request.

Every example becomes a context and an assistant target (see :mod:`reflectlab.training.examples`). With a chat
template the examples go to TRL as conversational prompt/completion rows; without one (a base model) they are
rendered with the model handle's own plain dialogue format, the one ``Model.score`` uses. Either way the loss is
on the target only (``completion_only_loss``), so a study can read what was learned with
``Model.score(targets, contexts)``. Only the last assistant turn of a chat is trained; earlier turns are context.

Weights come from the local folder of the base spec (for an embedded model, its safetensors cache); nothing is
downloaded. Training runs in float32 without mixed precision, on ``spec.device``. The output folder is written
atomically (``<out_dir>.partial``, then renamed) with a record of the run; calling again with the same base
weights, examples, settings and library versions returns that result without training.

Under ``accelerate launch`` (see :mod:`reflectlab.training.launch`) every process makes the same call; the trainer
splits the batches across them and only the main process writes the output folder, which the others wait for.

The seed fixes the adapter initialisation and the example order; on a CPU two runs with one seed give bit-identical
weights. On a GPU some kernels are not deterministic; TRL's ``full_determinism`` is not switched on because it
changes process-wide torch settings.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from reflectlab.core import progress
from reflectlab.core.cache import content_key
from reflectlab.core.contracts import Trainer
from reflectlab.core.errors import UserError
from reflectlab.core.models.spec import ModelSpec
from reflectlab.training.examples import Example, TargetedChat, normalise_all
from reflectlab.training.result import (
    Method,
    MetricsSink,
    TrainResult,
    output_folder,
    read_finished,
    trained_spec,
    write_record,
)

__all__ = ["SFTSettings", "base_weights", "save_trained", "train_sft"]

#: Learning rates used when ``SFTSettings.learning_rate`` is None.
DEFAULT_LEARNING_RATE: dict[Method, float] = {"lora": 2e-4, "full": 2e-5}


@dataclass
class SFTSettings:
    """How to fine-tune. Every field has a ``help``; the defaults suit a small model on a CPU."""

    lora: bool = field(
        default=True,
        metadata={"help": "Train a LoRA adapter (PEFT); False trains all weights (full fine-tuning)."},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (the update is scaled by alpha/r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input."})
    target_modules: str = field(
        default="all-linear",
        metadata={
            "help": "Modules that get LoRA: 'all-linear' (every linear layer but the output head) or a "
            "comma-separated list of module names, e.g. 'q_proj,v_proj'."
        },
    )
    learning_rate: float | None = field(
        default=None,
        metadata={"help": "Peak learning rate; None means 2e-4 for LoRA and 2e-5 for full fine-tuning."},
    )
    epochs: float = field(default=1.0, metadata={"help": "Passes over the examples."})
    max_steps: int = field(
        default=-1, metadata={"help": "Stop after this many optimizer steps (overrides epochs); -1 runs the epochs."}
    )
    batch_size: int = field(default=8, metadata={"help": "Examples per forward pass."})
    grad_accum: int = field(
        default=1, metadata={"help": "Forward passes per optimizer step (effective batch = batch_size * grad_accum)."}
    )
    max_length: int | None = field(
        default=1024,
        metadata={
            "help": "Tokens kept per example (the start is kept); an example whose target is cut away entirely "
            "is dropped, with a warning. None keeps everything."
        },
    )
    completion_only_loss: bool = field(
        default=True,
        metadata={"help": "Loss on the assistant target only; False also trains on the context tokens."},
    )
    lr_scheduler: str = field(
        default="linear", metadata={"help": "transformers scheduler name: linear, cosine, constant, ..."}
    )
    warmup: float = field(
        default=0.0, metadata={"help": "Warm-up optimizer steps, or a fraction of all steps when below 1."}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "Recompute activations in the backward pass (TRL's default is True; off here because a small "
            "model on a CPU is limited by compute, not memory)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seeds the adapter initialisation and the example order."})
    logging_steps: int = field(default=1, metadata={"help": "Log the training loss every this many steps."})

    def __post_init__(self) -> None:
        positive = {
            "lora_r": self.lora_r,
            "batch_size": self.batch_size,
            "grad_accum": self.grad_accum,
            "logging_steps": self.logging_steps,
        }
        for name, value in positive.items():
            if value < 1:
                raise UserError(f"sft setting {name} must be at least 1, got {value}")
        if self.epochs <= 0 and self.max_steps < 1:
            raise UserError("sft settings: give epochs > 0 or max_steps >= 1")
        if self.max_length is not None and self.max_length < 2:
            raise UserError(f"sft setting max_length must be at least 2 or None, got {self.max_length}")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise UserError(f"sft setting learning_rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise UserError(f"sft setting lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if not self.target_modules.strip():
            raise UserError("sft setting target_modules is empty")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SFTSettings:
        """Settings from a mapping (a config section); an unknown key is an error that lists the allowed ones."""
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise UserError(f"unknown sft setting(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        return cls(**{str(k): v for k, v in values.items()})

    @property
    def method(self) -> Method:
        return "lora" if self.lora else "full"

    @property
    def effective_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATE[self.method]

    def lora_targets(self) -> str | list[str]:
        """``target_modules`` as PEFT takes it."""
        value = self.target_modules.strip()
        if value == "all-linear":
            return value
        return [name.strip() for name in value.split(",") if name.strip()]


def base_weights(spec: ModelSpec) -> Path:
    """The local folder of plain (safetensors or PyTorch) weights to train ``spec`` from; never downloads.

    An embedded model resolves to its safetensors cache (converted from the GGUF on first use); a hub name
    resolves only to a snapshot already in the local Hugging Face cache.
    """
    from reflectlab.core.models.loader import resolve_path

    resolved = resolve_path(spec)
    folder = Path(resolved)
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        try:
            folder = Path(str(snapshot_download(resolved, local_files_only=True)))
        except (OSError, ValueError) as exc:
            raise UserError(
                f"cannot train {spec.name!r}: it is not in the local model cache and trainers never download; "
                "load it once with the platform, or name a local folder"
            ) from exc
    has_weights = any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))
    if not has_weights:
        if any(folder.glob("*.gguf")):
            raise UserError(
                f"cannot train from the GGUF in {folder}: convert it to safetensors first (embedded models are "
                "converted on first use)"
            )
        raise UserError(f"no safetensors or PyTorch weights in {folder}")
    return folder


def _coerce(settings: SFTSettings | Mapping[str, Any] | None) -> SFTSettings:
    if settings is None:
        return SFTSettings()
    if isinstance(settings, SFTSettings):
        return settings
    if isinstance(settings, Mapping):
        return SFTSettings.from_mapping(settings)
    raise UserError(f"sft settings must be SFTSettings or a mapping, got {type(settings).__name__}")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("torch", "transformers", "trl", "peft", "accelerate"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "?"
    return out


def _run_key(base: ModelSpec, folder: Path, rows: list[TargetedChat], settings: SFTSettings) -> str:
    """Identifies a training run by everything that decides its result."""
    from reflectlab.core.models.loader import fingerprint

    return content_key(
        "sft",
        fingerprint(base, str(folder)),
        base.device,
        asdict(settings),
        [r.to_json() for r in rows],
        _versions(),
    )


def _dataset_rows(rows: list[TargetedChat], renderer: Any) -> list[dict[str, Any]]:
    """TRL prompt/completion rows: conversational with a chat template, rendered text without one."""
    if renderer.has_chat_template:
        return [{"prompt": r.messages, "completion": [{"role": "assistant", "content": r.target}]} for r in rows]
    out = []
    for r in rows:
        prompt, _ = renderer.render(r.messages, add_generation_prompt=True)
        full, _ = renderer.render(
            [*r.messages, {"role": "assistant", "content": r.target}], add_generation_prompt=False
        )
        if not full.startswith(prompt):  # a format where the reply does not simply follow the prompt
            raise UserError("the plain dialogue format does not put the reply after the prompt; cannot train on it")
        out.append({"prompt": prompt, "completion": full[len(prompt) :]})
    return out


def _metrics_callback(sink: MetricsSink | None, losses: list[tuple[int, float]]) -> Any:
    from transformers import TrainerCallback

    class _StepMetrics(TrainerCallback):
        """Forwards each step log (loss, learning rate, grad norm; GRPO's reward, reward_std, kl, ...) as
        ``train/<name>``; the sft and rl trainers share it."""

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not logs or "loss" not in logs:  # the end-of-training summary has "train_loss" instead
                return
            step = int(state.global_step)
            losses.append((step, float(logs["loss"])))
            if sink is not None:
                numeric = {
                    f"train/{k}": float(v)
                    for k, v in logs.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                }
                sink(numeric, step)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress.advance(steps=1)  # the study's progress line counts optimizer steps

    return _StepMetrics()


def _load_trainable(folder: Path, base: ModelSpec, settings: SFTSettings) -> tuple[Any, Any]:
    """The model to train and the PEFT config to wrap it with (None when it is already a PEFT model or full FT)."""
    import torch
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    if base.adapter:
        if settings.lora:
            # Continue training the base spec's adapter (its own rank and targets apply; lora_* settings do not).
            return PeftModel.from_pretrained(model, base.adapter, is_trainable=True), None
        model = PeftModel.from_pretrained(model, base.adapter).merge_and_unload()
    if not settings.lora:
        return model, None
    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=settings.lora_targets(),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return model, config


def _sft_config(settings: SFTSettings, base: ModelSpec, scratch: Path) -> Any:
    from trl import SFTConfig

    # transformers 5.2x renamed gradient_checkpointing to activation_checkpointing (the old name warns).
    names = {f.name for f in fields(SFTConfig)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    renamed: dict[str, Any] = {checkpointing: settings.gradient_checkpointing}
    return SFTConfig(
        output_dir=str(scratch),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.effective_learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        max_length=settings.max_length,
        completion_only_loss=settings.completion_only_loss,
        assistant_only_loss=False,  # the target is the completion; no template needs generation markers
        packing=False,
        **renamed,
        # TRL turns bf16 on unless told otherwise; train in float32 everywhere.
        bf16=False,
        fp16=False,
        use_cpu=base.device == "cpu",
        seed=settings.seed,
        data_seed=settings.seed,
        logging_strategy="steps",
        logging_steps=settings.logging_steps,
        logging_first_step=True,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        push_to_hub=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        disable_tqdm=True,  # studies log the losses as stepped metrics; no bars or dicts on stdout
        log_level="warning",
    )


@dataclass
class _Fit:
    steps: int
    train_loss: float
    losses: list[tuple[int, float]]
    kept: int
    runtime_s: float


def _fit(
    base: ModelSpec,
    folder: Path,
    settings: SFTSettings,
    renderer: Any,
    dataset: Any,
    partial: Path,
    log_metrics: MetricsSink | None,
) -> _Fit:
    """Train with TRL and save the adapter (or the weights and tokenizer) into ``partial``."""
    from datasets.utils.logging import disable_progress_bar
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTTrainer

    disable_progress_bar()
    losses: list[tuple[int, float]] = []
    model, peft_config = _load_trainable(folder, base, settings)
    trainer = SFTTrainer(
        model=model,
        args=_sft_config(settings, base, partial / "_trainer"),
        train_dataset=dataset,
        processing_class=renderer.tokenizer,
        peft_config=peft_config,
        callbacks=[_metrics_callback(log_metrics, losses)],
    )
    for quiet in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(quiet)
    prepared: Any = trainer.train_dataset
    if len(prepared) < len(dataset):
        warnings.warn(
            f"{len(dataset) - len(prepared)} of {len(dataset)} examples lost their whole target to max_length="
            f"{settings.max_length} and were dropped",
            stacklevel=3,
        )
    started = time.perf_counter()
    output = trainer.train()
    runtime = time.perf_counter() - started
    if trainer.accelerator.is_main_process:  # one writer when several processes train (accelerate launch)
        save_trained(trainer.model, partial, base)
        if not settings.lora:
            renderer.tokenizer.save_pretrained(partial)
        shutil.rmtree(partial / "_trainer", ignore_errors=True)
    return _Fit(int(output.global_step), float(output.training_loss), losses, len(prepared), runtime)


def save_trained(model: Any, folder: Path, base: ModelSpec) -> None:
    """``model.save_pretrained(folder)``; then an adapter names its base as the spec does (the embedded or hub name,
    see ``portable_name``), not by the local folder its weights were read from, in its config and its model card,
    so that the adapter loads on another machine. (PEFT reads the local folder while it saves, so it is renamed
    after.) Full weights name no base."""
    from reflectlab.core.models.loader import ADAPTER_CONFIG, portable_name

    model.save_pretrained(folder)
    config_path = folder / ADAPTER_CONFIG
    if not config_path.is_file():
        return
    config = json.loads(config_path.read_text())
    local, name = config.get("base_model_name_or_path"), portable_name(base)
    config["base_model_name_or_path"] = name
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    card = folder / "README.md"
    if local and local != name and card.is_file():
        card.write_text(card.read_text().replace(str(local), name))


def _processes(device: str) -> Any:
    """accelerate's view of the processes making this call: one, unless started by ``accelerate launch``.

    Asked afresh each time because the trainer's arguments reset and rebuild accelerate's shared state."""
    from accelerate import PartialState

    return PartialState(cpu=device == "cpu")


def train_sft(
    base: ModelSpec,
    examples: Sequence[Example],
    settings: SFTSettings | Mapping[str, Any] | None,
    out_dir: str | Path,
    log_metrics: MetricsSink | None = None,
    *,
    reuse: bool = True,
    keyed: bool = False,
) -> TrainResult:
    """Fine-tune ``base`` on ``examples`` and save the adapter (LoRA) or the full weights into ``out_dir``
    (with ``keyed``, into its subfolder named by the content key of the inputs).

    ``examples`` are chats whose last message is the assistant's target, or ``{"prompt", "completion"}`` pairs
    (see :data:`reflectlab.training.examples.Example`). ``log_metrics(metrics, step)`` receives the training loss
    and the other step logs as ``train/<name>`` at each logged optimizer step (``RunContext.log_metrics`` fits).
    When ``base`` has an adapter, LoRA training continues that adapter and full fine-tuning starts from the merged
    weights. With ``reuse`` (the default), a finished run in ``out_dir`` with the same inputs is returned as is.

    Returns a :class:`TrainResult` whose ``spec`` loads the trained model with ``load_model``.
    """
    settings = _coerce(settings)
    rows = normalise_all(examples)
    folder = base_weights(base)
    key = _run_key(base, folder, rows, settings)
    out = output_folder(out_dir, key, keyed=keyed)
    if reuse:
        finished = read_finished(out, key, base)
        if finished is not None:
            return finished

    from datasets import Dataset

    from reflectlab.core.models.hf import HFModel

    # The tokenizer and prompt rendering of the Model handle, so training sees what Model.score scores.
    renderer = HFModel(replace(base, backend="hf", adapter=None), str(folder))
    dataset = Dataset.from_list(_dataset_rows(rows, renderer))

    # Under `accelerate launch` every process gets here; the main one owns the folders, the others wait for it.
    main = _processes(base.device).is_main_process
    partial = out.with_name(out.name + ".partial")
    if main:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    _processes(base.device).wait_for_everyone()

    try:
        fit = _fit(base, folder, settings, renderer, dataset, partial, log_metrics)
        result = TrainResult(
            spec=trained_spec(base, out, settings.method),
            out_dir=out,
            method=settings.method,
            steps=fit.steps,
            train_loss=fit.train_loss,
            losses=fit.losses,
            n_examples=fit.kept,
            runtime_s=fit.runtime_s,
        )
        extra = {"trainer": "sft", "settings": asdict(settings), "versions": _versions()}
        if main:
            write_record(partial, key, base, result, extra)
    except BaseException:
        if main:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    if main:
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)  # atomic: an interrupted run never leaves a half-written model behind
    _processes(base.device).wait_for_everyone()
    return result


class SFT(Trainer):
    """The ``sft`` trainer: :func:`train_sft` behind the core :class:`~reflectlab.core.contracts.Trainer` contract."""

    name = "sft"

    def train(
        self,
        base: ModelSpec,
        data: Any,
        settings: Any,
        out_dir: str | Path,
        log_metrics: MetricsSink | None = None,
        **kwargs: Any,
    ) -> TrainResult:
        return train_sft(base, data, settings, out_dir, log_metrics, **kwargs)
