"""A picture of the front (matplotlib, headless)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from .io import atomic_write

if TYPE_CHECKING:
    from .front import ParetoFront


def plot_front(front: "ParetoFront", path: str | Path) -> None:
    """Latency against parameters, coloured by error; the W-best point and the parent marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    points = front.points
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    scatter = axes.scatter(
        [p.params / 1e6 for p in points], [p.latency_ms for p in points], c=[p.error for p in points], cmap="viridis_r"
    )
    label = "error (data-free prior estimate)" if front.info.get("error_is_prior") else "error"
    figure.colorbar(scatter, ax=axes, label=label)
    best = front.best("w")
    axes.scatter([best.params / 1e6], [best.latency_ms], marker="*", s=250, c="red", label=f"W-best: {best.architecture}")
    axes.scatter([front.reference.params / 1e6], [front.reference.latency_ms], marker="s", c="black", label="parent (T)")
    axes.set_xlabel("parameters (millions)")
    axes.set_ylabel(f"latency (ms, {front.info.get('latency', {}).get('runtime', 'pytorch')})")
    axes.set_xscale("log")
    axes.set_yscale("log")
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    axes.set_title(f"Pareto front, epsilon={front.info.get('epsilon')} ({len(points)} points)")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write(path, buffer.getvalue())
