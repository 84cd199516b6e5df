"""A picture of the front (matplotlib, headless)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from .io import atomic_write
from .record import ParetoPoint, ReferencePoint, SearchRecord


def plot_front(
    points: Sequence[ParetoPoint],
    reference: ReferencePoint,
    path: str | Path,
    *,
    best: ParetoPoint,
    chosen: ParetoPoint | None = None,
    record: SearchRecord | None = None,
) -> None:
    """Latency against parameters, coloured by error; the W-best point, a ``chosen`` one and the parent marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    scatter = axes.scatter(
        [p.params / 1e6 for p in points], [p.latency_ms for p in points], c=[p.error for p in points], cmap="viridis_r"
    )
    is_prior = record is not None and record.settings.error_is_prior
    figure.colorbar(scatter, ax=axes, label="error (data-free prior estimate)" if is_prior else "error")
    axes.scatter([best.params / 1e6], [best.latency_ms], marker="*", s=250, c="red", label=f"W-best: {best.architecture}")
    if chosen is not None:
        axes.scatter([chosen.params / 1e6], [chosen.latency_ms], marker="D", s=80, facecolors="none",
                     edgecolors="blue", label=f"chosen: {chosen.architecture}")
    axes.scatter([reference.params / 1e6], [reference.latency_ms], marker="s", c="black", label="parent (T)")
    axes.set_xlabel("parameters (millions)")
    runtime = record.latency.get("runtime", "pytorch") if record is not None else "pytorch"
    axes.set_ylabel(f"latency (ms, {runtime})")
    axes.set_xscale("log")
    axes.set_yscale("log")
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    epsilon = f"epsilon={record.settings.epsilon} " if record is not None else ""
    axes.set_title(f"Pareto front, {epsilon}({len(points)} points)")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write(path, buffer.getvalue())
