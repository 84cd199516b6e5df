"""STS-B embeddings: all-MiniLM-L6-v2 (the parent) against a shallower student distilled to its embeddings, and
the student's int8 artifacts laid out for sentence-transformers.

The student is a variant of the parent (default 3-12-384-1536: half the layers, every width kept, so its vectors
live in the parent's space) filled by ``extract_model`` and distilled with ``distil_embeddings`` on the STS-B
training sentences (unlabelled: the scores are never read), once per seed. Reported per model: latency side by
side (PyTorch fp32 against the parent, batch 1, sequence 128), STS-B test Spearman of cosine similarity (mean and
spread over seeds), the cosine of its embeddings with the parent's on the test sentences, and cross-model
retrieval: recall@1/@10 of its query vectors searched against an index of the parent's (queries: the first
sentences of test pairs scored >= 4; corpus: every distinct second sentence). The first seed's student is saved
as a sentence-transformers folder, exported to int8 (ONNX Runtime, OpenVINO) and given a card.

Targets: the student >= 2x faster keeps >= 98% of the parent's Spearman; its int8 artifact >= 4x faster keeps
>= 97%.

    python benchmarks/stsb_embeddings.py                       # the full run
    python benchmarks/stsb_embeddings.py --quick               # a smoke run: 512 texts, 2 seeds, 300 test pairs
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel

from hf_ose import Architecture, extract_model, get_adapter, resolve_model_source, save_student
from hf_ose.data import digest_texts
from hf_ose.embeddings import (
    EmbeddingDistillationSettings, SentenceEncoder, SimilarityScore, StsPairs, agreement, artifact_encoder,
    distil_embeddings, evaluate_sts, export_int8, paraphrase_queries, read_sts_pairs, retrieval_recall,
    sentence_similarity_card, teacher_targets,
)
from hf_ose.export.bench import fixed_inputs
from hf_ose.latency.settings import cpu_description
from hf_ose.latency.timing import BenchTarget, measure
from hf_ose.publish import LatencyRow, LatencySetup, write_card

PARENT = "sentence-transformers/all-MiniLM-L6-v2"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", default="3-12-384-1536", help="D-A-H-I of the student")
    parser.add_argument("--train-texts", type=int, default=None, help="distillation sentences (default: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--loss", default="mse", choices=("mse", "cosine"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--test-pairs", type=int, default=None, help="STS-B test pairs scored (default: all 1,379)")
    parser.add_argument("--calibration", type=int, default=256, help="int8 calibration sentences")
    parser.add_argument("--threads", type=int, default=2, help="threads for training, scoring and latency")
    parser.add_argument("--rounds", type=int, default=5, help="alternating latency rounds (x 5 runs each)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/stsb_embeddings"))
    parser.add_argument("--quick", action="store_true", help="smoke run: 512 texts, 2 seeds, 300 test pairs")
    args = parser.parse_args()
    if args.quick:
        args.train_texts, args.seeds, args.test_pairs, args.calibration, args.rounds = 512, 2, 300, 64, 2
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cached_targets(parent: SentenceEncoder, texts: list[str], out: Path) -> np.ndarray:
    """The parent's distillation targets, computed once per text list and kept in ``out``."""
    path = out / f"targets-{digest_texts(texts)[:16]}.npy"
    if path.is_file():
        return np.load(path)
    targets = teacher_targets(parent, texts)
    np.save(path, targets)
    return targets


def score(name: str, encoder: SentenceEncoder, test: StsPairs, parent_vectors: dict[str, np.ndarray],
          retrieval: tuple[list[str], list[str], list[int]]) -> dict[str, float]:
    """Spearman, cosine to the parent on the test sentences, and recall of its queries in the parent's index."""
    started = time.perf_counter()
    sentences = test.unique_sentences()
    vectors = dict(zip(sentences, encoder.encode(sentences)))
    sts = evaluate_sts(encoder, test)
    spearman = sts.spearman
    near = agreement(np.stack([vectors[s] for s in sentences]), np.stack([parent_vectors[s] for s in sentences]))
    queries, corpus, relevant = retrieval
    recall = retrieval_recall(encoder.encode(queries), np.stack([parent_vectors[s] for s in corpus]), relevant)
    log(f"  {name}: Spearman {spearman:.4f}, cosine to parent {near.mean:.4f}, R@1 {recall[1]:.3f} "
        f"({time.perf_counter() - started:.0f} s)")
    return {"spearman": spearman, "pearson": sts.pearson, "pairs": sts.pairs, "cosine": near.mean, "cosine_min": near.min, "r1": recall[1], "r10": recall[10]}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    print(f"CPU: {cpu_description()}; {args.threads} thread(s); torch {torch.__version__}")
    source = Path(resolve_model_source(PARENT))
    parent = SentenceEncoder.from_pretrained(source)
    test = read_sts_pairs(args.data / "test.tsv")
    if args.test_pairs:
        test = StsPairs(test.first[:args.test_pairs], test.second[:args.test_pairs], test.scores[:args.test_pairs])
    texts = read_sts_pairs(args.data / "train.tsv").unique_sentences()[:args.train_texts]
    retrieval = paraphrase_queries(test)
    every = list(dict.fromkeys([*test.unique_sentences(), *retrieval[0], *retrieval[1]]))
    parent_vectors = dict(zip(every, parent.encode(every)))
    rows = {"parent": [score("parent", parent, test, parent_vectors, retrieval)]}
    log(f"parent scored; {len(texts)} distillation sentences")
    targets = cached_targets(parent, texts, args.out)
    log(f"targets ready ({time.perf_counter() - began:.0f} s)")

    parent_model = AutoModel.from_pretrained(source)
    depth, heads, hidden, intermediate = (int(v) for v in args.student.split("-"))
    variant = get_adapter(parent_model.config).write(parent_model.config, Architecture(depth, heads, hidden, intermediate))
    calibration = dict(parent.tokenizer(texts[:128], padding=True, truncation=True, max_length=128, return_tensors="pt"))
    settings = dict(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, loss=args.loss)
    rows["student, not distilled"] = [score("student, not distilled",
                                            SentenceEncoder.from_model(extract_model(parent_model, variant, calibration),
                                                                       parent.tokenizer, parent.pooling),
                                            test, parent_vectors, retrieval)]
    rows["student (PyTorch fp32)"], shipped = [], None
    for seed in range(args.seeds):
        student = extract_model(parent_model, variant, calibration)
        run = distil_embeddings(student, parent.tokenizer, texts, targets, parent.pooling,
                                EmbeddingDistillationSettings(seed=seed, **settings))
        log(f"seed {seed}: {run.steps} steps in {run.seconds:.0f} s, epoch losses {run.epoch_losses}")
        encoder = SentenceEncoder.from_model(student, parent.tokenizer, parent.pooling)
        rows["student (PyTorch fp32)"].append(score(f"student seed {seed}", encoder, test, parent_vectors, retrieval))
        shipped = shipped or student

    folder = args.out / f"student-{args.student}"
    shutil.rmtree(folder, ignore_errors=True)
    save_student(shipped, folder, parent=source)
    artifacts = export_int8(folder, texts[:args.calibration])
    for artifact in artifacts:
        label = f"student int8 ({artifact.backend})"
        log(f"{label}: {artifact.file_name}, token cosine min {artifact.parity.min_cosine:.3f}, sentence cosine to "
            f"PyTorch mean {artifact.agreement.mean:.4f} min {artifact.agreement.min:.4f}")
        rows[label] = [score(label, artifact_encoder(folder, artifact.backend), test, parent_vectors, retrieval)]

    latency = time_side_by_side(source, folder, artifacts, args)
    print_table(rows, latency, args, len(test.scores), len(retrieval[0]), len(retrieval[1]))
    write_shipped_card(folder, source, rows, latency, artifacts, args)
    (args.out / "result.json").write_text(json.dumps({"rows": rows, "latency_ms": latency, "args": vars(args)},
                                                     indent=2, default=str))
    print(f"[total: {time.perf_counter() - began:.0f} s]")


def time_side_by_side(source: Path, folder: Path, artifacts: list, args: argparse.Namespace) -> dict[str, float]:
    """Median latency (ms) of each model at batch 1, sequence 128, interleaved rounds."""
    inputs = fixed_inputs(AutoConfig.from_pretrained(source).vocab_size, 1, 128)
    tensors = {name: torch.from_numpy(value) for name, value in inputs.items()}
    targets = []
    for label, path in (("parent", source), ("student (PyTorch fp32)", folder)):
        model = AutoModel.from_pretrained(path).eval()
        targets.append(BenchTarget(label, "pytorch", "fp32", lambda model=model: model(**tensors)))
    for artifact in artifacts:
        run = artifact_encoder(folder, artifact.backend, threads=args.threads).hidden_states
        targets.append(BenchTarget(f"student int8 ({artifact.backend})", artifact.backend, "int8",
                                   lambda run=run: run(inputs)))
    result = measure(targets, threads=args.threads, batch_size=1, seq_len=128, rounds=args.rounds)
    print(result.table())
    return {row.label: row.median_ms for row in result.rows}


def print_table(rows: dict[str, list[dict[str, float]]], latency: dict[str, float], args: argparse.Namespace,
                pairs: int, queries: int, corpus: int) -> None:
    parent = rows["parent"][0]["spearman"]
    print(f"\nSTS-B test ({pairs} pairs): Spearman x100 of cosine similarity; seeds: {args.seeds} (mean, min-max); "
          f"retrieval: {queries} queries searched against the parent's index of {corpus} sentences")
    print(f"{'model':<26} {'ms':>7} {'speed-up':>8} {'Spearman':>18} {'of parent':>9} {'cos to parent':>13} "
          f"{'R@1':>6} {'R@10':>6}")
    for label, runs in rows.items():
        values = [run["spearman"] * 100 for run in runs]
        spread = f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
        ms = latency.get(label)
        timing = f"{ms:>7.2f} {latency['parent'] / ms:>7.2f}x" if ms else f"{'':>7} {'':>8}"
        mean = lambda key: statistics.mean(run[key] for run in runs)  # noqa: E731
        print(f"{label:<26} {timing} {statistics.mean(values):>6.2f}{spread:<12} "
              f"{statistics.mean(values) / (parent * 100):>8.1%} {mean('cosine'):>13.4f} {mean('r1'):>6.3f} "
              f"{mean('r10'):>6.3f}")


def write_shipped_card(folder: Path, source: Path, rows: dict, latency: dict[str, float], artifacts: list,
                       args: argparse.Namespace) -> None:
    """The first seed's student's card, with its own measured scores and latencies."""
    def measured(label: str) -> SimilarityScore:
        first = rows[label][0]
        return SimilarityScore(first["spearman"], first["pearson"], first["pairs"])

    latency_rows = [LatencyRow("PyTorch", "fp32", latency["student (PyTorch fp32)"], latency["parent"])]
    latency_rows += [LatencyRow(a.backend, "int8", latency[f"student int8 ({a.backend})"], latency["parent"])
                     for a in artifacts]
    inputs = sentence_similarity_card(
        folder.name, PARENT, AutoConfig.from_pretrained(folder), AutoConfig.from_pretrained(source),
        score=measured("student (PyTorch fp32)"), parent_score=measured("parent"),
        distillation=f"{args.loss} to the parent's pooled embeddings on {args.train_texts or 'all'} STS-B training "
                     f"sentences, {args.epochs} epoch(s), learning rate {args.lr}.",
        artifacts=artifacts, latency=latency_rows, latency_setup=LatencySetup(cpu_description(), 1, 128, args.threads))
    log(f"card: {write_card(inputs, folder)}")


if __name__ == "__main__":
    main()
