"""One registry per kind of component, filled lazily from Python entry points.

Groups: ``reflectlab.inquiries``, ``reflectlab.backends``, ``reflectlab.probes``, ``reflectlab.trainers``,
``reflectlab.verifiers``. A name is resolved only when asked for, so a broken or heavy plugin costs nothing until
it is used. Built-in names (from ``reflectlab-*`` distributions) cannot be replaced by an external plugin: the
external entry is ignored with a warning. An unknown name raises :class:`UserError` with the near matches, or
with the ``pip install`` line when the name belongs to a reflectlab package that is not installed.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from reflectlab.core.contracts import Trainer, Verifier
from reflectlab.core.errors import UserError

T = TypeVar("T")

#: Where each first-party component lives, for the install hint when its package is missing.
KNOWN_PROVIDERS: dict[str, dict[str, str]] = {
    "inquiries": {
        "introspection": "reflectlab-probes",
        "emergence": "reflectlab-probes",
        "self-correction": "reflectlab-training",
        "self-play": "reflectlab-selfplay",
        "compounding": "reflectlab-selfplay",
    },
    "backends": {"hf": "reflectlab-core", "vllm": "'reflectlab-core[vllm]'"},
    "trainers": {"sft": "reflectlab-training", "rl": "reflectlab-training", "rl-scored": "reflectlab-training"},
    "verifiers": {
        "exact": "reflectlab-evals",
        "majority": "reflectlab-evals",
        "corrupted": "reflectlab-evals",
        "judge": "reflectlab-evals",
        "refusal": "reflectlab-evals",
    },
    "probes": {},
}


def _installed(provider: str) -> bool:
    """Whether the distribution (and, for ``dist[extra]``, the extra's main module) is installed."""
    import importlib.util
    from importlib.metadata import PackageNotFoundError, version

    dist, _, extra = provider.strip("'").partition("[")
    try:
        version(dist)
    except PackageNotFoundError:
        return False
    extra = extra.rstrip("]")
    return not extra or importlib.util.find_spec(extra) is not None


def _is_builtin(ep: EntryPoint) -> bool:
    dist = getattr(ep, "dist", None)
    return bool(dist is not None and dist.name.startswith("reflectlab-"))


class PluginConflictWarning(UserWarning):
    """A plugin tried to replace a built-in component; always shown (the CLI does not silence it)."""


@dataclass
class _Entry:
    name: str
    source: str  # distribution name, or "runtime"
    entry_point: EntryPoint | None = None
    obj: Any = None
    checked: bool = False


class Registry(Generic[T]):
    """Named components of one kind.

    With a ``base`` class, every component must be a subclass (instantiated once, on first use) or an instance
    of it; anything else is refused with a one-line error naming the entry point."""

    def __init__(self, kind: str, base: type | Callable[[], type] | None = None) -> None:
        self.kind = kind
        self.group = f"reflectlab.{kind}"
        self._base = base
        self._entries: dict[str, _Entry] | None = None
        self._runtime: dict[str, _Entry] = {}

    def _scan(self) -> dict[str, _Entry]:
        if self._entries is None:
            found: dict[str, _Entry] = {}
            for ep in sorted(entry_points(group=self.group), key=lambda e: not _is_builtin(e)):
                dist = getattr(ep, "dist", None)
                source = dist.name if dist is not None else "?"
                if ep.name in found:
                    if found[ep.name].source != source:
                        warnings.warn(
                            f"{self.kind} {ep.name!r} from {source} ignored: {found[ep.name].source} already "
                            "provides it and a plugin cannot replace it",
                            PluginConflictWarning,
                            stacklevel=2,
                        )
                    continue
                found[ep.name] = _Entry(ep.name, source, entry_point=ep)
            self._entries = found
        return {**self._entries, **self._runtime}

    def names(self) -> list[str]:
        return sorted(self._scan())

    def source(self, name: str) -> str:
        return self._scan()[name].source

    def register(self, name: str, obj: T) -> None:
        """Register a component at runtime (for notebooks and tests); built-ins cannot be replaced."""
        if name in self._scan():
            raise ValueError(f"{self.kind} {name!r} is already registered by {self.source(name)}")
        self._runtime[name] = _Entry(name, "runtime", obj=obj)

    def unregister(self, name: str) -> None:
        self._runtime.pop(name, None)

    def get(self, name: str) -> T:
        entries = self._scan()
        entry = entries.get(name)
        if entry is None:
            raise UserError(self._unknown_message(name))
        if entry.obj is None and entry.entry_point is not None:
            try:
                entry.obj = entry.entry_point.load()
            except ModuleNotFoundError as exc:
                raise UserError(
                    f"{self.kind[:-1] if self.kind.endswith('s') else self.kind} {name!r} needs the module "
                    f"{exc.name!r}, which is not installed (from {entry.source})"
                ) from exc
        if not entry.checked:
            entry.obj = self._checked(name, entry)
            entry.checked = True
        return entry.obj

    @property
    def base(self) -> type | None:
        """The class every component must derive from (resolved on first use, so importing is cheap)."""
        if self._base is not None and not isinstance(self._base, type):
            self._base = self._base()
        return self._base

    def _checked(self, name: str, entry: _Entry) -> Any:
        obj, base = entry.obj, self.base
        if base is None or isinstance(obj, base):
            return obj
        if isinstance(obj, type) and issubclass(obj, base):
            return obj() if self.kind == "trainers" else obj  # trainers are used as objects, the rest as classes
        singular = {"inquiries": "inquiry"}.get(self.kind, self.kind.rstrip("s"))
        raise UserError(
            f"{singular} {name!r} from {entry.source} is registered but is not a {base.__name__} "
            f"(got {getattr(obj, '__qualname__', type(obj).__name__)})"
        )

    def _unknown_message(self, name: str) -> str:
        singular = {"inquiries": "inquiry"}.get(self.kind, self.kind.rstrip("s"))
        provider = KNOWN_PROVIDERS.get(self.kind, {}).get(name)
        if provider and not _installed(provider):
            dist = provider.strip("'").split("[")[0]
            return f"{singular} {name!r} is provided by {dist}, which is not installed: pip install {provider}"
        near = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
        known = ", ".join(self.names()) or "none installed"
        return f"unknown {singular} {name!r}{hint} (known: {known})"


def _inquiry_base() -> type:
    from reflectlab.core.inquiry import Inquiry

    return Inquiry


def _model_base() -> type:
    from reflectlab.core.models.base import Model

    return Model


inquiries: Registry[Any] = Registry("inquiries", _inquiry_base)
backends: Registry[Any] = Registry("backends", _model_base)
probes: Registry[Callable[..., Any]] = Registry("probes")
trainers: Registry[Trainer] = Registry("trainers", Trainer)
verifiers: Registry[Any] = Registry("verifiers", Verifier)

ALL: dict[str, Registry[Any]] = {r.kind: r for r in (inquiries, backends, probes, trainers, verifiers)}
