"""Figures a study saves as run artifacts: headless matplotlib, written once and closed.

Use :func:`pyplot` instead of ``import matplotlib.pyplot`` (it selects the Agg backend first, so a run on a machine
without a display never opens a window), draw, then hand the figure to :func:`save_figure`::

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(rounds, accuracy)
    save_figure(fig, ctx.out_dir / "accuracy.png")

matplotlib is imported only when a figure is made.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Resolution of saved figures (dots per inch).
DPI = 100


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | Path, *, dpi: int = DPI) -> Path:
    """Lay out ``fig``, write it to ``path`` (format from the suffix; a tight bounding box) and close it, so a
    study that draws many figures does not keep them in memory. Returns the path written."""
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.tight_layout()
        fig.savefig(out, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out
