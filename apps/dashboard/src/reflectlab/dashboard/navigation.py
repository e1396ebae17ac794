"""The app's frame: page set-up, the sidebar, and the pages (one per inquiry found in the store)."""

from __future__ import annotations

from functools import partial
from typing import Any

import streamlit as st

from reflectlab.dashboard import ui
from reflectlab.dashboard.views import compare, inquiry, samples, synthesis

FIXED = ("synthesis", "compare", "samples")


def _inquiries() -> list[str]:
    try:
        return sorted({r.inquiry for r in ui.parent_runs() if r.inquiry})
    except Exception:  # an unreadable store: the pages say so
        return []


def _slug(name: str) -> str:
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "inquiry"
    return f"inquiry-{slug}" if slug in FIXED else slug


def main(default: str | None = None) -> None:
    """Build the navigation and run the chosen page. ``default`` names the page shown first (``synthesis``,
    ``inquiry:<name>``, ``compare``, ``samples``); the app's entry point leaves it to the synthesis."""
    # No page_icon and no st.Page icons: Streamlit turns a page's icon into the tab's favicon and fetches a
    # Material-symbol favicon from the internet; its own favicon is served locally.
    st.set_page_config(page_title="reflectlab", layout="wide")
    default = default or "synthesis"
    pages: dict[str, Any] = {
        "synthesis": st.Page(
            ui.guarded(synthesis.render),
            title="Synthesis",
            url_path="synthesis",
            default=default == "synthesis",
        )
    }
    for name in _inquiries():
        key = f"inquiry:{name}"
        pages[key] = st.Page(
            ui.guarded(partial(inquiry.render, name)),
            title=name,
            url_path=_slug(name),
            default=default == key,
        )
    pages["compare"] = st.Page(
        ui.guarded(compare.render),
        title="Compare",
        url_path="compare",
        default=default == "compare",
    )
    pages["samples"] = st.Page(
        ui.guarded(samples.render),
        title="Samples",
        url_path="samples",
        default=default == "samples",
    )
    if default not in pages:
        raise ValueError(f"no page {default!r}; pages: {', '.join(pages)}")
    ui.register_pages(pages)
    sections = {
        "Overview": [pages["synthesis"]],
        "Inquiries": [p for k, p in pages.items() if k.startswith("inquiry:")],
        "Runs": [pages["compare"], pages["samples"]],
    }
    page = st.navigation({k: v for k, v in sections.items() if v})
    with st.sidebar:
        st.caption("reflectlab · reads the MLflow store only")
        if st.button("Reload", help="read the store again (runs in progress refresh every few seconds anyway)"):
            ui.reload()
            st.rerun()
    page.run()
