"""The result of a search: Pareto-optimal variants with their objectives, how they were obtained, and a picture
of them (matplotlib, headless)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from transformers import AutoConfig, PretrainedConfig

from .architecture import Architecture
from .budgets import Budget, choose
from .io import atomic_write, ensure_writable_folder
from .record import ParetoPoint, RecordFormatError, ReferencePoint, SearchRecord, hf_ose_version

__all__ = ["ParetoFront", "ParetoPoint", "ReferencePoint", "format_front"]


@dataclass
class ParetoFront:
    """Pareto-optimal variants over (params, latency, error), sorted by size; the parent as reference point;
    and ``record``, how the front was made (a :class:`~hf_ose.record.SearchRecord`: settings, evaluations spent
    and their bound, candidate and dropped counts, the latency predictor's held-out error, the AB^nC report).
    """

    points: list[ParetoPoint]
    reference: ReferencePoint
    record: SearchRecord | None = None

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self) -> Iterator[ParetoPoint]:
        return iter(self.points)

    @property
    def configs(self) -> list[PretrainedConfig]:
        return [point.config for point in self.points]

    def best(self, criterion: str = "w") -> ParetoPoint:
        """The point that maximises ``criterion``. ``"w"``, the one offered, is Bort's criterion: the
        W-coefficient, which rewards size and latency cuts and divides by the error once, so it favours very
        small points; use :meth:`choose` when accuracy matters."""
        if criterion != "w":
            raise ValueError(f"Unknown criterion {criterion!r}; use 'w' (Bort's W-coefficient).")
        if not self.points:
            raise ValueError("The front is empty: every evaluation failed (see front.record.failed).")
        return max(self.points, key=lambda point: point.w(self.reference))

    def choose(
        self,
        *,
        max_latency_ms: float | None = None,
        min_speedup: float | None = None,
        max_params: float | None = None,
        max_error_increase: float | None = None,
    ) -> ParetoPoint:
        """The lowest-error point within the budgets given, or, with ``max_error_increase`` (the error allowed
        above the parent's, in the error's own units), the fastest point within all of them. ``min_speedup`` is
        against the parent's latency measured in the same run. Raises :class:`~hf_ose.budgets.BudgetError`
        naming the closest point when no point meets the budgets."""
        budget = Budget(max_latency_ms, min_speedup, max_params, max_error_increase)
        return choose(self.points, self.reference, budget)

    # ---- persistence -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "hf_ose_version": hf_ose_version(),
            "reference": asdict(self.reference),
            "record": None if self.record is None else self.record.to_dict(),
            "points": [{**point.row(), "config": point.config.to_dict()} for point in self.points],
        }

    def to_json(self, path: str | Path) -> None:
        atomic_write(path, json.dumps(self.to_dict(), indent=2, default=str))

    @classmethod
    def from_json(cls, path: str | Path) -> "ParetoFront":
        """Load a front written by :meth:`to_json`; fronts written by hf-ose 0.1.0 (an ``info`` dict instead of
        a typed record) are converted."""
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as error:
            raise RecordFormatError(
                f"{path} is not valid JSON ({error}): pass a front.json written by hf-ose."
            ) from error
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "the front") -> "ParetoFront":
        if not isinstance(data, dict) or "points" not in data or not {"record", "info"} & set(data):
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise RecordFormatError(
                f"{source} is not a front written by hf-ose (found {keys}; expected 'reference', 'record' and "
                "'points'). Pass the front.json that `hf-ose extract` or ParetoFront.to_json wrote."
            )
        if "record" in data:
            record = None if data["record"] is None else SearchRecord.from_dict(data["record"])
        else:
            record = SearchRecord.from_legacy_info(data["info"])
        try:
            points = [_point(values) for values in data["points"]]
            reference = ReferencePoint(**data["reference"])
        except (KeyError, TypeError) as error:
            raise RecordFormatError(f"{source} has a damaged point or reference ({error!r}).") from error
        return cls(points=points, reference=reference, record=record)

    def to_csv(self, path: str | Path) -> None:
        buffer = io.StringIO()
        rows = [{**point.row(), "w": point.w(self.reference)} for point in self.points]
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["params"])
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(path, buffer.getvalue())

    def to_pandas(self):
        """The front as a ``pandas.DataFrame`` (needs pandas: ``pip install hf-ose[pandas]``)."""
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError("to_pandas needs pandas: pip install 'hf-ose[pandas]'.") from error
        return pd.DataFrame([{**point.row(), "w": point.w(self.reference)} for point in self.points])

    def plot(self, path: str | Path, *, chosen: ParetoPoint | None = None, budget: Budget | None = None) -> None:
        """A PNG of the front: latency against parameters on log axes, coloured by error, measured and predicted
        latencies told apart, the W-best point (and a ``chosen`` one, e.g. from :meth:`choose`) marked, and the
        limits of ``budget`` drawn as lines."""
        plot_front(self.points, self.reference, path, best=self.best("w"), chosen=chosen, record=self.record,
                   budget=budget)

    def save_pretrained(self, folder: str | Path) -> list[Path]:
        """One config folder per point (``point-00-D4-A8-H1024-I768``), each loadable with ``AutoConfig``."""
        root = ensure_writable_folder(folder)
        written = []
        for index, point in enumerate(self.points):
            a = point.architecture
            target = root / f"point-{index:02d}-D{a.depth}-A{a.heads}-H{a.hidden}-I{a.intermediate}"
            target.mkdir(exist_ok=True)
            atomic_write(target / "config.json", point.config.to_json_string(use_diff=False))
            written.append(target)
        return written


def _point(values: dict[str, Any]) -> ParetoPoint:
    """One saved point, its config rebuilt in its own config class."""
    config = dict(values["config"])
    config_class = type(AutoConfig.for_model(config["model_type"]))
    arch_fields = {k: values[k] for k in ("depth", "heads", "hidden", "intermediate", "kv_heads", "head_dim") if k in values}
    return ParetoPoint(
        config=config_class.from_dict(config),
        architecture=Architecture.from_dict(arch_fields),
        **{k: values[k] for k in ("params", "effective_params", "flops", "latency_ms", "error",
                                  "latency_source", "error_source")},
    )


#: Rows ``hf-ose extract`` prints by default: a summary spread over the front (``--all`` prints every row).
SUMMARY_ROWS = 20


def format_front(front: ParetoFront, chosen: ParetoPoint | None = None, budget: Budget | None = None, *,
                 rows: int | None = None) -> str:
    """The front as a terminal table, the W-best point marked ``*`` and a point ``chosen`` within ``budget``
    ``>``, with what the error column measures and how the numbers were obtained. With ``rows``, a longer front
    is summarised: about ``rows`` points spread evenly from the smallest to the largest, plus the marked ones."""
    best, reference, record = front.best("w"), front.reference, front.record
    header = f"{'':2}{'architecture':<28}{'params':>10}{'non-emb':>10}{'GFLOPs':>9}{'latency ms':>13}{'error':>9}{'W':>8}"
    lines = [header, "-" * len(header)]
    shown = _summary_rows(front.points, rows, marked=(best, chosen))
    for previous, k in zip([None, *shown], shown):
        if previous is not None and k > previous + 1:
            lines.append(f"{'':2}{'...':<28}")
        point = front.points[k]
        marker = ("*" if point is best else "") + (">" if point is chosen else "")
        source = "~" if point.latency_source == "predicted" else ""
        lines.append(
            f"{marker:2}{str(point.architecture):<28}{point.params / 1e6:>9.1f}M{point.effective_params / 1e6:>9.1f}M"
            f"{point.flops / 1e9:>9.2f}{source + f'{point.latency_ms:.1f}':>13}{point.error:>9.4f}"
            f"{point.w(reference):>8.4f}"
        )
    if len(shown) < len(front.points):
        lines.append(f"{'':2}({len(shown)} of {len(front.points)} points shown; --all prints every row, front.csv "
                     "lists them all)")
    lines += ["", f"* W-best: {_describe(best, reference)} [Bort's W-coefficient]"]
    if chosen is not None:
        lines.append(f"> Chosen: {_describe(chosen, reference)}" + (f" [{budget.criterion()}]" if budget else ""))
    parent_error = "unknown" if reference.error is None else f"{reference.error:.4f}"
    lines.append(f"  Parent (T): {reference.params / 1e6:.1f}M parameters, {reference.latency_ms:.1f} ms, error {parent_error}")
    return "\n".join(lines + (_record_lines(record, len(front)) if record is not None else []))


def _summary_rows(points: list[ParetoPoint], rows: int | None, marked: tuple[ParetoPoint | None, ...]) -> list[int]:
    """The indices of the rows to print: all of them, or ``rows`` spread evenly plus the ``marked`` points."""
    if rows is None or len(points) <= rows:
        return list(range(len(points)))
    spread = {round(k * (len(points) - 1) / (rows - 1)) for k in range(rows)}
    return sorted(spread | {k for k, point in enumerate(points) if any(point is m for m in marked)})


def _describe(point: ParetoPoint, reference: ReferencePoint) -> str:
    return (f"{point.architecture}  ({point.params / 1e6:.1f}M parameters, {point.latency_ms:.1f} ms, "
            f"{point.speedup(reference):.1f}x faster than the parent, error {point.error:.4f})")


def _record_lines(record: SearchRecord, size: int) -> list[str]:
    """What the error column measures, the search's cost and the latency predictor's accuracy."""
    settings, latency = record.settings, record.latency
    mean, worst = latency.get("held_out_mean_relative_error"), latency.get("held_out_max_relative_error")
    held_out = (
        f"predictor held-out error mean {100 * mean:.1f}%, worst {100 * worst:.1f}%"
        if mean is not None and worst is not None
        else "predictor held-out error not available (too few measured points to hold one out: raise --latency-samples)"
    )
    lines = [
        f"Error column: {settings.error_objective} (lower is better).",
        f"Front: {size} points from {record.candidates} candidates; {record.evaluations} error evaluations (bound "
        f"{record.evaluation_bound}, {record.cached_evaluations} from the cache), epsilon={settings.epsilon}, "
        f"strategy={settings.strategy}, {record.seconds} s.",
        f"Latency: {latency['measured']} measured, {latency['predicted']} predicted (~); {held_out} "
        f"(batch {latency['batch_size']}, sequence {latency['seq_len']}, {latency['threads']} threads, "
        f"{latency['runtime']}).",
    ]
    lines += [f"WARNING: {latency[key]}" for key in ("noise", "predictor_warning") if latency.get(key)]
    if settings.error_is_prior:
        lines.append(
            f"Errors are PRIOR ESTIMATES ({settings.error_objective}): no weights or data were used. "
            "Plug in a measured error objective to rank depth against width."
        )
    return lines


def plot_front(
    points: Sequence[ParetoPoint],
    reference: ReferencePoint,
    path: str | Path,
    *,
    best: ParetoPoint,
    chosen: ParetoPoint | None = None,
    record: SearchRecord | None = None,
    budget: Budget | None = None,
) -> None:
    """Latency against parameters on log axes with readable ticks (``10M``, ``2 ms``), coloured by error;
    measured latencies as filled circles and predicted ones as hollow triangles; the W-best point, a ``chosen``
    one and the parent marked; ``budget``'s parameter and latency (or speed-up) limits as dashed lines."""
    import matplotlib.pyplot as plt

    figure = front_figure(points, reference, best=best, chosen=chosen, record=record, budget=budget)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write(path, buffer.getvalue())


def front_figure(points: Sequence[ParetoPoint], reference: ReferencePoint, *, best: ParetoPoint,
                 chosen: ParetoPoint | None = None, record: SearchRecord | None = None,
                 budget: Budget | None = None) -> Any:
    """The matplotlib figure :func:`plot_front` saves (headless; close it with ``matplotlib.pyplot.close``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    figure, axes = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    errors = Normalize(min(p.error for p in points), max(p.error for p in points))
    for source, style in (("measured", {"marker": "o"}),
                          ("predicted", {"marker": "^", "facecolors": "none", "linewidths": 1.2})):
        group = [p for p in points if (p.latency_source == "predicted") == (source == "predicted")]
        if not group:
            continue
        colours = matplotlib.colormaps["viridis_r"](errors([p.error for p in group]))
        colour = {"edgecolors": colours} if source == "predicted" else {"c": colours}
        axes.scatter([p.params for p in group], [p.latency_ms for p in group], s=36, **style, **colour,
                               label=f"latency {source} ({len(group)})")
    mappable = matplotlib.cm.ScalarMappable(norm=errors, cmap="viridis_r")
    is_prior = record is not None and record.settings.error_is_prior
    figure.colorbar(mappable, ax=axes, label="error (data-free prior estimate)" if is_prior else "error")
    axes.scatter([best.params], [best.latency_ms], marker="*", s=250, c="red", label=f"W-best: {best.architecture}")
    if chosen is not None:
        axes.scatter([chosen.params], [chosen.latency_ms], marker="D", s=80, facecolors="none", edgecolors="blue",
                     label=f"chosen: {chosen.architecture}")
    axes.scatter([reference.params], [reference.latency_ms], marker="s", c="black", label="parent (T)")
    if budget is not None:
        _draw_budget(axes, budget, reference)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _count_label(value)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("parameters")
    runtime = record.latency.get("runtime", "pytorch") if record is not None else "pytorch"
    axes.set_ylabel(f"latency (ms, {runtime})")
    epsilon = f"epsilon={record.settings.epsilon} " if record is not None else ""
    axes.set_title(f"Pareto front, {epsilon}({len(points)} points)")
    axes.grid(True, which="major", alpha=0.25)
    axes.legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    return figure


def _draw_budget(axes: Any, budget: Budget, reference: ReferencePoint) -> None:
    """``budget``'s limits on the parameter and latency axes, as dashed lines named in the legend."""
    if budget.max_params is not None:
        axes.axvline(budget.max_params, color="grey", linestyle="--", label=f"max_params={_count_label(budget.max_params)}")
    if budget.max_latency_ms is not None:
        axes.axhline(budget.max_latency_ms, color="grey", linestyle="-.", label=f"max_latency_ms={budget.max_latency_ms:g}")
    if budget.min_speedup is not None:
        axes.axhline(reference.latency_ms / budget.min_speedup, color="grey", linestyle=":",
                     label=f"min_speedup={budget.min_speedup:g} (parent / {budget.min_speedup:g})")


def _count_label(value: float) -> str:
    """A parameter count as a tick label: ``800K``, ``1M``, ``20M``, ``1.5B``."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"
