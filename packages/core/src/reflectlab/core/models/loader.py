"""Resolve a :class:`ModelSpec` to a loadable path, a fingerprint and a backend; load lazily.

A trained adapter names its base model the way a spec does (:func:`portable_name`: the embedded or hub name, not
the folder the weights were read from), so an adapter folder copied to another machine loads there: a spec whose
``name`` is an adapter folder loads the base that the adapter names, with the adapter on top.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

from reflectlab.core.cache import Cache
from reflectlab.core.errors import UserError
from reflectlab.core.models.base import Model
from reflectlab.core.models.embedded import EMBEDDED, reflectlab_home
from reflectlab.core.models.spec import ModelSpec

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
_SAMPLE = 1 << 20
#: PEFT's adapter config; its ``base_model_name_or_path`` names the base model.
ADAPTER_CONFIG = "adapter_config.json"


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).exists()


def portable_name(spec: ModelSpec) -> str:
    """How a model trained from ``spec`` names its base: an embedded or hub name as it is (it loads on any machine),
    a local folder as its absolute path (it loads where that folder exists)."""
    if spec.name in EMBEDDED or not _looks_like_path(spec.name):
        return spec.name
    return str(Path(spec.name).expanduser().resolve())


def adapter_base(adapter: str | Path) -> str:
    """The base model that the adapter folder ``adapter`` names, as a spec name.

    An adapter trained before adapters named their base portably records the local cache folder of an embedded
    model (``<REFLECTLAB_HOME>/models/<name>``, perhaps on another machine); that reads as the embedded name."""
    path = Path(adapter).expanduser() / ADAPTER_CONFIG
    try:
        base = json.loads(path.read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the adapter config {path}: {exc}") from exc
    if not isinstance(base, str) or not base:
        raise UserError(f"{path} names no base model (base_model_name_or_path); give model.name as well")
    folder = Path(base)
    cached = folder.name in EMBEDDED and folder.parent.name == "models"
    if cached and (folder.parent == reflectlab_home() / "models" or not folder.exists()):
        return folder.name
    return base


def is_adapter_folder(name: str) -> bool:
    """True when ``name`` is a local folder that holds an adapter and no model of its own."""
    if not _looks_like_path(name):
        return False
    folder = Path(name).expanduser()
    return (folder / ADAPTER_CONFIG).is_file() and not (folder / "config.json").exists()


def with_adapter_base(spec: ModelSpec) -> ModelSpec:
    """``spec``, where ``name`` is an adapter folder, as the base that adapter names with the adapter on top;
    any other spec as it is."""
    if spec.adapter or not is_adapter_folder(spec.name):
        return spec
    return replace(spec, name=adapter_base(spec.name), adapter=str(Path(spec.name).expanduser()))


def resolve_path(spec: ModelSpec) -> str:
    """The folder (or hub name) that transformers loads; converts an embedded GGUF on first use. For a spec that
    names an adapter folder, the base model's."""
    spec = with_adapter_base(spec)
    if spec.name in EMBEDDED:
        return str(EMBEDDED[spec.name].materialize())
    if _looks_like_path(spec.name):
        path = Path(spec.name).expanduser()
        if not path.exists():
            raise UserError(f"model path not found: {path}")
        if not (path / "config.json").exists():
            raise UserError(f"model path {path} has no config.json (not a transformers model folder)")
        return str(path)
    check_hub_name(spec.name)  # a model-hub name: the user asked for it by name; fail in seconds if out of reach
    return spec.name


#: Seconds the reachability check of a model-hub name waits for the hub before giving up.
HUB_TIMEOUT_S = 5.0


def _offline() -> bool:
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any((v or "").strip().upper() in ("1", "ON", "YES", "TRUE") for v in flags)


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # a name the hub library refuses (bad characters): not cached
        return False


@functools.cache
def check_hub_name(name: str) -> None:
    """Fail in seconds (:class:`UserError`, exit 2) on a model name that is neither a local folder nor a model the
    hub can serve: it is accepted when the local hub cache holds it, or when the hub answers for it within
    :data:`HUB_TIMEOUT_S`. With ``HF_HUB_OFFLINE`` set only the local cache is looked at (no network)."""
    from huggingface_hub import model_info
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    where = f"model.name={name!r} is neither a local folder nor"
    try:
        validate_repo_id(name)
    except HFValidationError as exc:
        raise UserError(f"{where} a valid model-hub name ({str(exc).splitlines()[0]})") from None
    if _in_hub_cache(name):
        return
    if _offline():
        raise UserError(f"{where} in the local model-hub cache, and HF_HUB_OFFLINE is set (no hub access)")
    try:
        model_info(name, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        return  # it exists; loading it will say what access it needs
    except RepositoryNotFoundError:
        raise UserError(f"{where} a model on the hub (no such repository, or it is private)") from None
    except Exception as exc:  # no network, DNS failure, timeout, hub error
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{where} reachable on the model hub ({reason}); give a local model folder") from None


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
    spec = with_adapter_base(spec)
    path = resolve_path(spec)
    return backend_cls(spec, path, cache=cache, fingerprint=fingerprint(spec, path))
