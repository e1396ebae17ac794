"""Sparse autoencoders through sae-lens (an optional extra: ``pip install 'reflectlab-probes[sae]'``).

Three ways to get one: train a TopK SAE on activation vectors we collected (sae-lens' ``SAETrainer`` reads them
from an iterator of batches, no language model of its own involved), load one saved on disk in sae-lens format
(``SAE.load_from_disk``), or load a released one by release and id (``SAE.from_pretrained``, e.g. Gemma Scope).
sae-lens is imported only inside these functions, so the rest of the inquiry runs without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reflectlab.core.atomic import atomic_dir
from reflectlab.core.errors import UserError

INSTALL_HINT = "pip install 'reflectlab-probes[sae]'"


def require_sae_lens() -> Any:
    """The sae_lens module, or a one-line :class:`UserError` naming the install command."""
    try:
        import sae_lens
    except ImportError:
        raise UserError(f"the SAE step of emergence/knowledge_awareness needs sae-lens: {INSTALL_HINT}") from None
    return sae_lens


@dataclass
class SAEQuality:
    """How good an SAE is on held-out vectors: fraction of variance unexplained, mean active latents, dead share."""

    fvu: float
    l0: float
    dead_fraction: float
    n_vectors: int
    d_sae: int

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def _batches(x: Any, batch_size: int, seed: int) -> Iterator[Any]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    while True:  # sae-lens draws as many batches as it needs
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x) - batch_size + 1, batch_size):
            yield x[order[start : start + batch_size]]


def train_topk_sae(
    vectors: np.ndarray,
    out_dir: Path,
    *,
    d_sae: int,
    k: int,
    epochs: float,
    lr: float,
    batch_size: int,
    seed: int,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Train a TopK SAE on ``vectors`` (n, d) and save its inference form to ``out_dir`` (sae-lens format)."""
    sae_lens = require_sae_lens()
    import torch
    from sae_lens.config import SAETrainerConfig

    if len(vectors) < batch_size:
        raise UserError(f"only {len(vectors)} activation vectors to train the SAE on; need at least {batch_size}")
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
    cfg = sae_lens.TopKTrainingSAEConfig(d_in=int(x.shape[1]), d_sae=d_sae, k=k, dtype="float32", device="cpu",
                                         normalize_activations="expected_average_only_in")  # fmt: skip
    for key, value in (metadata or {}).items():
        setattr(cfg.metadata, key, value)
    sae = sae_lens.TopKTrainingSAE(cfg)
    total = max(batch_size, int(epochs * len(x)))
    trainer_cfg = SAETrainerConfig(
        total_training_samples=total,
        train_batch_size_samples=batch_size,
        lr=lr,
        lr_end=lr,
        device="cpu",
        n_batches_for_norm_estimate=min(100, max(1, len(x) // batch_size)),
        dead_feature_window=max(1, total // batch_size // 2),
    )
    trained = sae_lens.SAETrainer(trainer_cfg, sae, _batches(x, batch_size, seed)).fit()
    with atomic_dir(out_dir) as partial:  # a run killed while saving leaves no half-written SAE to reuse
        trained.save_inference_model(str(partial))
    return sae_lens.SAE.load_from_disk(str(out_dir))


def load_sae(*, path: str = "", release: str = "", sae_id: str = "") -> Any:
    """A saved SAE (``path``, sae-lens format) or a released one (``release`` and ``sae_id``)."""
    sae_lens = require_sae_lens()
    if path:
        if not Path(path).is_dir():
            raise UserError(f"SAE folder not found: {path}")
        try:
            return sae_lens.SAE.load_from_disk(path)
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"cannot load the SAE in {path}: {str(exc).splitlines()[0]}") from exc
    if not (release and sae_id):
        raise UserError("a pretrained SAE needs both sae_release and sae_id")
    try:
        return sae_lens.SAE.from_pretrained(release, sae_id)
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"cannot load SAE {release}/{sae_id}: {str(exc).splitlines()[0]}") from exc


def hook_layer(sae: Any) -> int | None:
    """The residual layer (0 = embeddings, i = output of block i) an SAE reads, from its ``hook_name``."""
    name = str(getattr(sae.cfg.metadata, "hook_name", "") or "")
    m = re.search(r"blocks\.(\d+)\.hook_resid_(pre|post)", name)
    if m is None:
        return None
    return int(m.group(1)) + (1 if m.group(2) == "post" else 0)


def encode(sae: Any, vectors: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Latent activations (n, d_sae) of ``vectors``."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(vectors), batch_size):
            x = torch.as_tensor(np.asarray(vectors[start : start + batch_size], dtype=np.float32))
            out.append(sae.encode(x.to(sae.W_enc.dtype)).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, int(sae.cfg.d_sae)), dtype=np.float32)


def decoder_direction(sae: Any, latent: int) -> np.ndarray:
    """The decoder row of one latent: the direction it writes into the residual stream."""
    return np.asarray(sae.W_dec[latent].detach().float().numpy())


def quality(sae: Any, vectors: np.ndarray) -> SAEQuality:
    """Reconstruction quality of ``sae`` on ``vectors``."""
    import torch

    with torch.no_grad():
        x = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        acts = sae.encode(x)
        recon = sae.decode(acts)
        fvu = float(((x - recon) ** 2).sum() / ((x - x.mean(0)) ** 2).sum().clamp(min=1e-12))
        active = acts > 0
    return SAEQuality(
        fvu=fvu,
        l0=float(active.sum(1).float().mean()),
        dead_fraction=float((~active.any(0)).float().mean()),
        n_vectors=len(vectors),
        d_sae=int(acts.shape[1]),
    )
