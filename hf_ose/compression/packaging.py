"""Compress's last stage: the folder a user ships (student, tokenizer, artifacts, reports, model card)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from transformers import AutoConfig

from ..front import ParetoFront
from ..io import atomic_write
from ..publish.card import CardInputs, LatencyRow, LatencySetup, ModelSize, Score, write_card
from .delivery import shipped_runtime
from .settings import CompressSettings

REPORT_NAME = "compress_report.json"


def package_stage(settings: CompressSettings, out: Path, stages: dict[str, dict[str, Any]],
                  folder: Path) -> dict[str, Any]:
    """Copy the fine-tuned student and every kept artifact into ``folder/model``, merge the reports, write
    ``compress_report.json`` (the summary) and the model card."""
    model = folder / "model"
    shutil.copytree(out / stages["finetune"]["model"], model, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("agora", "checkpoint-*", "adapter"))
    exports = {}
    for runtime, entry in stages["export"]["artifacts"].items():
        source = out / entry["folder"]
        for name in entry["files"]:
            shutil.copy2(source / name, model / name)
            if (source / f"{Path(name).stem}.bin").exists() and name.endswith(".xml"):
                shutil.copy2(source / f"{Path(name).stem}.bin", model / f"{Path(name).stem}.bin")
        exports[runtime] = entry
    atomic_write(model / "export_report.json", json.dumps(exports, indent=2) + "\n")
    summary = _summary(settings, stages)
    atomic_write(model / REPORT_NAME, json.dumps({"summary": summary, "stages": stages}, indent=2, default=str) + "\n")
    write_card(_card_inputs(settings, out, stages, model), model)
    return {"model": f"{folder.name}/model", "summary": summary}


def _summary(settings: CompressSettings, stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    bench, evaluation, pick = stages["bench"], stages["evaluate"], stages["pick"]
    shipped = shipped_runtime(bench["artifact_ms"], evaluation, settings.min_agreement)
    return {
        "task": settings.task, "architecture": pick["architecture"], "params": stages["student"]["params"],
        "cpu": bench["cpu"], "threads": bench["threads"], "batch_size": bench["batch_size"],
        "seq_len": bench["seq_len"], "parent_ms": bench["parent_ms"], "student_ms": bench["student_ms"],
        "student_speedup": bench["student_speedup"], "runtime": shipped,
        "artifact_ms": bench["artifact_ms"], "artifact_speedup": bench["artifact_speedup"],
        "teacher_accuracy": evaluation["teacher_accuracy"], "student_accuracy": evaluation["student_accuracy"],
        "artifact_accuracy": {k: evaluation[k]["accuracy"] for k in bench["artifact_ms"]},
        "artifact_agreement": {k: evaluation[k]["agreement"] for k in bench["artifact_ms"]},
        "artifact_dev_agreement": {k: evaluation[k]["dev_agreement"] for k in bench["artifact_ms"]},
        "min_agreement": settings.min_agreement, "dev_rows": evaluation["dev_rows"], "test_rows": evaluation["rows"],
        "test_rows_left_out": evaluation["left_out"], "artifacts_refused": stages["export"].get("refused", {}),
    }


def _card_inputs(settings: CompressSettings, out: Path, stages: dict[str, dict[str, Any]],
                 model: Path) -> CardInputs:
    summary, tuned = _summary(settings, stages), stages["finetune"]
    front = ParetoFront.from_json(out / stages["search"]["front"])
    chosen = front.points[stages["pick"]["index"]]
    parent_config = AutoConfig.from_pretrained(out / stages["teacher"]["model"])
    latency = [LatencyRow("pytorch", "fp32", summary["student_ms"], summary["parent_ms"])]
    latency += [LatencyRow(runtime, "int8", ms, summary["parent_ms"]) for runtime, ms in summary["artifact_ms"].items()]
    shipped = summary["runtime"]
    return CardInputs(
        name=f"{Path(settings.parent).name}-{Path(settings.task).name}-ose", base_model=settings.parent,
        student=ModelSize.of(AutoConfig.from_pretrained(model)), parent=ModelSize.of(parent_config),
        dataset=settings.task,
        scores=[Score("accuracy", summary["student_accuracy"], teacher=summary["teacher_accuracy"]),
                *([Score(f"accuracy ({shipped} artifact)", summary["artifact_accuracy"][shipped],
                         teacher=summary["teacher_accuracy"])] if shipped else [])],
        latency=latency,
        latency_setup=LatencySetup(summary["cpu"], summary["batch_size"], summary["seq_len"], summary["threads"]),
        front=front, chosen=chosen, teacher=f"{Path(settings.parent).name} fine-tuned on {Path(settings.task).name}",
        distillation=(f"inherited from the teacher, distilled {settings.distill_steps} steps on the training text, "
                      f"then fine-tuned with T^2 x KL at T=2 (weight 0.5) beside the label cross-entropy"),
        agora_rounds=tuned["rounds"],
    )
