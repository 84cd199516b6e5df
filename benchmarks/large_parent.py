"""A large parent on a small machine: the search over a Llama-7B-shaped config (27 GB of fp32 weights).

1. The search: default grid, epsilon 0.5, data-free prior. Prints wall and CPU time, peak memory (RSS), how
   each sampled candidate's latency was obtained (whole, extended in depth from depths 1 and 2, or predicted)
   and the predictor's held-out error.
2. The depth extension checked: architectures that fit in memory timed whole and extended from depths 1 and 2,
   side by side in interleaved rounds.

Target: the search finishes in under 10 minutes with peak memory under 8 GB. Run on an otherwise idle machine:
python benchmarks/large_parent.py [--memory-budget-gb GB] [--skip-check]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch
import transformers
from transformers import LlamaConfig

from hf_ose import Objectives, OSEExtractor
from hf_ose.architecture import Architecture
from hf_ose.latency import LatencySettings, RoundsMeasurer, available_memory_bytes, cpu_description, measure_latency
from hf_ose.latency.sampling import extend_in_depth, shallow_pair

PARENT = LlamaConfig(
    hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
    num_key_value_heads=32, vocab_size=32000,
)
#: Deep architectures of the default grid that fit in a few GB: timed whole and extended from depths 1 and 2.
CHECKED = (
    Architecture(32, 4, 512, 1408, kv_heads=4),
    Architecture(16, 8, 1024, 2752, kv_heads=8),
    Architecture(8, 16, 2048, 5504, kv_heads=16),
)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def search(settings: LatencySettings, samples: int, epsilon: float) -> OSEExtractor:
    extractor = OSEExtractor(PARENT, epsilon=epsilon, objectives=Objectives(latency=settings, latency_samples=samples))
    wall, cpu = time.perf_counter(), cpu_seconds()
    front = extractor.extract(progress=False)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    record, latency = front.record, front.record.latency
    print(f"\nSearch: {record.candidates} candidates, front of {len(front)} points, {record.evaluations} error "
          f"evaluations (bound {record.evaluation_bound}), epsilon {epsilon}")
    print(f"  wall {wall:.0f} s, CPU {cpu:.0f} s, peak RSS {peak_rss_gb():.2f} GB "
          f"(latency memory budget {latency['memory_budget_gb']} GB per model)")
    print(f"  latency: {latency['measured_whole']} sampled models timed whole, {latency['measured_extended']} "
          f"extended from depths 1-2, not measurable (predicted): {latency['not_measurable'] or 'none'}; "
          f"parent {latency['parent_latency_ms']:.0f} ms ({latency['parent_latency_source']})")
    mean, worst = latency["held_out_mean_relative_error"], latency["held_out_max_relative_error"]
    print(f"  predictor held-out error mean {100 * mean:.1f}%, worst {100 * worst:.1f}%; "
          f"re-measured: {latency['remeasured'] or 'none'}; noise: {latency['noise'] or 'none'}")
    for name in ("parent_check", "extension_check"):
        print(f"  {name}: {latency[name]}")
    best = front.best("w")
    print(f"  W-best: {best.architecture} ({best.params / 1e6:.0f}M parameters, {best.latency_ms:.1f} ms, "
          f"{best.latency_source})")
    return extractor


def extension_check(extractor: OSEExtractor, settings: LatencySettings) -> None:
    measurer = RoundsMeasurer(
        lambda arch: measure_latency(extractor.space.config(arch), settings).median_ms, settings.rounds,
        disable_progress=True,
    )
    units = [u for arch in CHECKED for u in (arch, *shallow_pair(arch))]
    started = time.perf_counter()
    measurer.ensure(units)
    print(f"\nDepth extension vs whole model ({len(units)} models, {settings.rounds} interleaved rounds, "
          f"{time.perf_counter() - started:.0f} s)")
    print(f"{'architecture':<32}{'whole ms':>10}{'extended ms':>13}{'error':>8}")
    for arch in CHECKED:
        whole = measurer.timing(arch).ms
        one, two = (measurer.timing(u).ms for u in shallow_pair(arch))
        extended = extend_in_depth(one, two, arch.depth)
        print(f"{str(arch):<32}{whole:>10.1f}{extended:>13.1f}{100 * abs(extended - whole) / whole:>7.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epsilon", type=float, default=0.5)
    parser.add_argument("--samples", type=int, default=12, help="latency samples (default 12)")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--memory-budget-gb", type=float, default=None, help="default: a quarter of the available memory")
    parser.add_argument("--on-noise", choices=("raise", "warn"), default="raise")
    parser.add_argument("--skip-check", action="store_true", help="skip the depth-extension check")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; {available_memory_bytes() / 1e9:.1f} GB available")
    print(f"Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads")
    settings = LatencySettings(seq_len=args.seq_len, memory_budget_gb=args.memory_budget_gb, on_noise=args.on_noise)
    extractor = search(settings, args.samples, args.epsilon)
    if not args.skip_check:
        extension_check(extractor, extractor.latency_settings)
    print(f"\nPeak RSS over the whole run: {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
