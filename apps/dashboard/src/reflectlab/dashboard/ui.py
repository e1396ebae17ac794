"""Streamlit helpers the pages share: the cached store reads, links between pages, and state banners.

Reads are cached for a few seconds (runs in progress show up without a restart); artifacts of a run are cached
longer. The sidebar's "Reload" button clears both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import streamlit as st

from reflectlab.core.findings import Finding
from reflectlab.core.synthesis import Synthesis, ci_text
from reflectlab.core.tracking import tracking_uri
from reflectlab.dashboard.store import RunInfo, RunState, Store, results_dir_from_env

LIVE_TTL = 5  # seconds: run lists, statuses, metrics
ARTIFACT_TTL = 300
PAGES_KEY = "reflectlab.pages"
# Streamlit's colour markup, not emoji: a headless browser without an emoji font shows them as boxes.
VERDICT_COLORS = {
    "present": "green",
    "absent": "gray",
    "reversed": "violet",
    "inconclusive": "orange",
    "supported": "green",
    "contradicted": "red",
    "open": "orange",
    "untested": "gray",
}
STATUS_ICONS = {
    "FINISHED": ":material/check_circle:",
    "RUNNING": ":material/hourglass_top:",
    "SCHEDULED": ":material/hourglass_top:",
    "FAILED": ":material/error:",
    "KILLED": ":material/stop_circle:",
}


def _key() -> tuple[str, str]:
    """(results folder, tracking URI): what identifies the store this session shows."""
    folder = results_dir_from_env()
    return str(folder), tracking_uri(folder)


@st.cache_resource(show_spinner=False)
def _store(results_dir: str, uri: str) -> Store:
    return Store(results_dir)


def store() -> Store:
    return _store(*_key())


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def _parent_runs(key: tuple[str, str], inquiry: str | None) -> list[RunInfo]:
    return _store(*key).parent_runs(inquiry)


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def _study_runs(key: tuple[str, str], parent_id: str | None) -> list[RunInfo]:
    return _store(*key).study_runs(parent_id)


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def _synthesis(key: tuple[str, str]) -> Synthesis:
    return _store(*key).synthesis()


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def _stepped(key: tuple[str, str], run_id: str, status: str) -> dict[str, list[tuple[int, float]]]:
    return _store(*key).stepped_metrics(run_id)


@st.cache_data(ttl=ARTIFACT_TTL, show_spinner=False, max_entries=512)
def _artifacts(key: tuple[str, str], run_id: str, status: str) -> list[str]:
    return _store(*key).artifacts(run_id)


@st.cache_data(ttl=ARTIFACT_TTL, show_spinner=False, max_entries=256)
def _artifact_bytes(key: tuple[str, str], run_id: str, path: str, status: str) -> bytes | None:
    return _store(*key).artifact_bytes(run_id, path)


@st.cache_data(ttl=ARTIFACT_TTL, show_spinner=False, max_entries=64)
def _jsonl(key: tuple[str, str], run_id: str, path: str, status: str) -> list[dict[str, Any]]:
    return _store(*key).jsonl(run_id, path)


@st.cache_data(ttl=ARTIFACT_TTL, show_spinner=False, max_entries=256)
def _findings(key: tuple[str, str], run_id: str, status: str) -> list[Finding]:
    return _store(*key).findings(run_id)


# The status is part of each artifact key: a run that finishes gets fresh reads at once.
def parent_runs(inquiry: str | None = None) -> list[RunInfo]:
    return _parent_runs(_key(), inquiry)


def study_runs(parent_id: str | None = None) -> list[RunInfo]:
    return _study_runs(_key(), parent_id)


def synthesis() -> Synthesis:
    return _synthesis(_key())


def stepped_metrics(run: RunInfo) -> dict[str, list[tuple[int, float]]]:
    return _stepped(_key(), run.run_id, run.status)


def artifacts(run: RunInfo) -> list[str]:
    return _artifacts(_key(), run.run_id, run.status)


def artifact_bytes(run: RunInfo, path: str) -> bytes | None:
    return _artifact_bytes(_key(), run.run_id, path, run.status)


def artifact_text(run: RunInfo, path: str) -> str | None:
    data = artifact_bytes(run, path)
    return data.decode("utf-8", errors="replace") if data is not None else None


def jsonl(run: RunInfo, path: str = "samples.jsonl") -> list[dict[str, Any]]:
    return _jsonl(_key(), run.run_id, path, run.status)


def findings(run: RunInfo) -> list[Finding]:
    return _findings(_key(), run.run_id, run.status)


def reload() -> None:
    st.cache_data.clear()


# ------------------------------------------------------------------------------------------------ widgets
def store_caption() -> None:
    s = store()
    st.caption(f"Store: `{s.uri}`")


def empty_store() -> bool:
    """Show the empty-store state and return True when the store holds no runs at all."""
    s = store()
    if s.exists and parent_runs():
        return False
    where = f"`{s.results_dir}`" if not s.exists else f"`{s.uri}`"
    st.info(
        f"No runs yet in {where}.\n\n"
        "Fill it with a first run, then reload this page:\n\n"
        "```\nplatform run introspection preset=smoke\n```\n\n"
        "or point the dashboard at another store: `platform dashboard --results-dir PATH` "
        "(or set `MLFLOW_TRACKING_URI` for a tracking server).",
        icon=":material/inbox:",
    )
    return True


def show_state(state: RunState) -> None:
    text = f"**{state.title}** - {state.detail}"
    {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[state.level](text)


def badge(word: str) -> str:
    """A verdict or state as coloured Markdown."""
    color = VERDICT_COLORS.get(word)
    return f":{color}[**{word}**]" if color else f"**{word}**"


def findings_frame(items: list[Finding]) -> list[dict[str, Any]]:
    """Findings as table rows; undefined numbers stay empty (never a made-up zero)."""
    return [
        {
            "primary": "★" if f.primary else "",
            "study": f.study,
            "metric": f.metric,
            "value": None if math.isnan(f.value) else f.value,
            "95% CI": ci_text(f),
            "n": f.n,
            "control": f.control,
            "control value": None if math.isnan(f.control_value) else f.control_value,
            "verdict": f.verdict,
        }
        for f in items
    ]


def register_pages(pages: dict[str, Any]) -> None:
    st.session_state[PAGES_KEY] = pages


def page_link(name: str, label: str, icon: str | None = None, **query: str) -> None:
    """A link to another page of the app (by its url path), with query parameters that preselect things."""
    pages: dict[str, Any] = st.session_state.get(PAGES_KEY, {})
    page = pages.get(name)
    if page is None:
        return
    st.page_link(page, label=label, icon=icon, query_params=query or None)


def select_run(
    label: str,
    runs: list[RunInfo],
    *,
    key: str,
    param: str = "run",
    default: int = 0,
    resolve: Callable[[str], str | None] | None = None,
) -> RunInfo:
    """A run selector that honours a deep link (``?run=<id or id prefix>``); ``resolve`` maps an id that is not
    among ``runs`` to one that is (a study run to its parent run)."""
    ids = [r.run_id for r in runs]
    by_id = {r.run_id: r for r in runs}
    wanted = st.query_params.get(param)
    if wanted and st.session_state.get(key + ".link") != wanted:
        target = next((i for i in ids if i == wanted or (len(wanted) >= 6 and i.startswith(wanted))), None)
        if target is None and resolve is not None:
            target = resolve(wanted)
        if target in by_id:
            st.session_state[key] = target
        st.session_state[key + ".link"] = wanted
    if st.session_state.get(key) not in by_id:
        st.session_state[key] = ids[min(default, len(ids) - 1)]
    chosen = st.selectbox(label, ids, format_func=lambda i: by_id[i].label, key=key)
    return by_id[chosen]


def guarded(render: Callable[[], None]) -> Callable[[], None]:
    """Wrap a page so that an unreadable store shows one clear message instead of a traceback."""

    def page() -> None:
        try:
            render()
        except Exception as exc:  # the store is external: a server down, a locked or foreign database
            first = str(exc).splitlines()[0] if str(exc) else ""
            st.error(f"Could not read the results store `{store().uri}`: {type(exc).__name__}: {first}")

    page.__name__ = getattr(render, "__name__", "page")
    return page
