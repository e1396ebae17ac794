"""Resolve a :class:`ModelSpec` to a loadable path, a fingerprint and a backend; load lazily."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from reflectlab.core.cache import Cache
from reflectlab.core.errors import UserError
from reflectlab.core.models.base import Model
from reflectlab.core.models.embedded import EMBEDDED
from reflectlab.core.models.spec import ModelSpec

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
_SAMPLE = 1 << 20


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).exists()


def resolve_path(spec: ModelSpec) -> str:
    """The folder (or hub name) that transformers loads; converts an embedded GGUF on first use."""
    if spec.name in EMBEDDED:
        return str(EMBEDDED[spec.name].materialize())
    if _looks_like_path(spec.name):
        path = Path(spec.name).expanduser()
        if not path.exists():
            raise UserError(f"model path not found: {path}")
        if not (path / "config.json").exists():
            raise UserError(f"model path {path} has no config.json (not a transformers model folder)")
        return str(path)
    return spec.name  # a model-hub name: the user asked for it by name


def _folder_digest(folder: Path) -> str:
    """Config plus size and first/last MiB of every weight file: cheap, and changes when the weights do."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.name in ("config.json", "adapter_config.json"):
            h.update(f.read_bytes())
        elif f.suffix in _WEIGHT_SUFFIXES:
            size = f.stat().st_size
            h.update(f"{f.name}:{size}".encode())
            with f.open("rb") as fh:
                h.update(fh.read(_SAMPLE))
                fh.seek(max(0, size - _SAMPLE))
                h.update(fh.read(_SAMPLE))
    return h.hexdigest()


def fingerprint(spec: ModelSpec, path: str) -> str:
    folder = Path(path)
    parts = {"name": spec.name, "dtype": spec.dtype}
    parts["weights"] = _folder_digest(folder) if folder.is_dir() else f"hub:{path}"
    if spec.adapter:
        adapter = Path(spec.adapter).expanduser()
        if not adapter.is_dir():
            raise UserError(f"adapter folder not found: {adapter}")
        parts["adapter"] = _folder_digest(adapter)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def load_model(spec: ModelSpec, cache: Cache | None = None) -> Model:
    """A model handle for ``spec``. Weights load on the first call the cache cannot answer."""
    from reflectlab.core.registry import backends

    backend_cls = backends.get(spec.backend)
    path = resolve_path(spec)
    return backend_cls(spec, path, cache=cache, fingerprint=fingerprint(spec, path))
