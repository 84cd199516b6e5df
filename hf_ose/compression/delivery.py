"""Compress's delivery stages: the int8 artifacts, their check against the student (development and test rows),
the side-by-side latency of parent, student and artifacts, and which artifact to ship."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from ..errors import HfOseError
from ..export import export
from ..export.backend import ExportError, ParityError, get_export_backend
from ..export.bench import bench
from ..export.core import REPORT_NAME, input_names
from ..latency import RUNTIME_SPECS
from ..tasks import Task
from .settings import INT8_RUNTIMES, CompressSettings

logger = logging.getLogger(__name__)

#: The export backend behind each int8 runtime compress offers.
BACKENDS: dict[str, str] = {name: RUNTIME_SPECS[name].backend for name in INT8_RUNTIMES}
#: Latency is measured as the issue and the card state it: batch 1, sequence 128.
BATCH_SIZE, SEQ_LEN = 1, 128


def export_stage(settings: CompressSettings, task: Task, model_dir: Path, folder: Path) -> dict[str, Any]:
    """The student exported at int8 to every runtime asked for (default: each of :data:`INT8_RUNTIMES`
    installed), calibrated on development text (sentence pairs for a pair task); each kept only within its
    parity tolerance. Without ``settings.runtime``, an artifact that fails parity is left out and recorded under
    ``refused`` (with a warning); the stage fails only when none passes."""
    runtimes = [settings.runtime] if settings.runtime else [name for name in INT8_RUNTIMES if _installed(name)]
    if not runtimes:
        raise ExportError("No int8 runtime is installed: pip install 'hf-ose[onnx]' or 'hf-ose[openvino]'.")
    columns = [list(task.validation[column][:200]) for column in task.text_columns]
    calibration = columns[0] if len(columns) == 1 else list(zip(*columns))  # sentence pairs stay pairs
    artifacts, refused = {}, {}
    for runtime in runtimes:
        target = folder / BACKENDS[runtime]
        kept = _kept_export(target, BACKENDS[runtime])  # exported before this stage was interrupted
        if kept is None:
            try:
                report = export(model_dir, target, backend=BACKENDS[runtime], precision="int8",
                                calibration=calibration)
            except ParityError as error:
                if settings.runtime is not None:
                    raise
                logger.warning("The %s artifact is left out: %s", runtime, error)
                refused[runtime] = str(error)
                continue
            kept = {"files": [path.name for path in report.files], "parity": report.parity.to_dict()}
        artifacts[runtime] = {"folder": f"{folder.name}/{BACKENDS[runtime]}", **kept}
    if not artifacts:
        raise ExportError("No int8 artifact of the student passed parity with PyTorch: "
                          + " ".join(f"{runtime}: {message}" for runtime, message in refused.items()))
    return {"artifacts": artifacts, "refused": refused}


def _kept_export(folder: Path, backend: str) -> dict[str, Any] | None:
    """The int8 artifact ``export`` kept in ``folder`` (its files and parity), if it finished."""
    try:
        entry = json.loads((folder / REPORT_NAME).read_text())["artifacts"][f"{backend}-int8"]
    except (OSError, ValueError, KeyError):
        return None
    if not all((folder / name).is_file() for name in entry["files"]):
        return None
    return {"files": entry["files"], "parity": entry["parity"]}


def _installed(runtime: str) -> bool:
    try:
        get_export_backend(BACKENDS[runtime])
    except HfOseError:
        return False
    return True


def evaluate_stage(settings: CompressSettings, task: Task, teacher_dir: Path, model_dir: Path,
                   artifacts: dict[str, Path], left_out: int = 0) -> dict[str, Any]:
    """Test accuracy of the teacher and the student in PyTorch and of each artifact, and each artifact's
    agreement with the student's predictions on every test row and on up to ``settings.agreement_rows``
    development rows (the shipped runtime is chosen on the latter; the test split only scores). ``left_out``:
    test rows dropped for repeating a development row, recorded."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    labels = np.asarray(task.test["label"])
    dev = task.validation.select(range(min(settings.agreement_rows, len(task.validation))))
    teacher_run, teacher_names = _pytorch(teacher_dir, tokenizer)
    teacher = predictions(teacher_run, tokenizer, task.test, task.text_columns, teacher_names, settings.max_length)
    student_run, names = _pytorch(model_dir, tokenizer)
    student, student_dev = (predictions(student_run, tokenizer, rows, task.text_columns, names, settings.max_length)
                            for rows in (task.test, dev))
    results: dict[str, Any] = {"rows": len(labels), "left_out": left_out, "dev_rows": len(dev),
                               "teacher_accuracy": float(np.mean(teacher == labels)),
                               "student_accuracy": float(np.mean(student == labels))}
    for runtime, folder in artifacts.items():
        session = get_export_backend(BACKENDS[runtime]).session(folder, "int8", threads=settings.threads)
        predicted, predicted_dev = (predictions(session, tokenizer, rows, task.text_columns, names,
                                                settings.max_length) for rows in (task.test, dev))
        results[runtime] = {"accuracy": float(np.mean(predicted == labels)),
                            "agreement": float(np.mean(predicted == student)),
                            "dev_agreement": float(np.mean(predicted_dev == student_dev))}
    return results


def _pytorch(folder: Path, tokenizer: PreTrainedTokenizerBase
             ) -> tuple[Callable[[dict[str, np.ndarray]], np.ndarray], list[str]]:
    """A saved classifier as a function of numpy inputs to numpy logits (eval mode, no gradients), and the
    input names it takes."""
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()

    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.float().numpy()
    return run, input_names(model, tokenizer)


def predictions(run: Callable[[dict[str, np.ndarray]], np.ndarray], tokenizer: PreTrainedTokenizerBase,
                rows: Dataset, text_columns: Sequence[str], names: list[str], max_length: int,
                batch_size: int = 64) -> np.ndarray:
    """The arg-max class ``run`` gives each of ``rows`` (sentence pairs encoded as pairs)."""
    columns = [list(rows[column]) for column in text_columns]
    chosen = []
    for start in range(0, len(columns[0]), batch_size):
        batch = tokenizer(*[column[start:start + batch_size] for column in columns], padding=True, truncation=True,
                          max_length=max_length, return_tensors="np")
        chosen.append(np.asarray(run({name: batch[name].astype(np.int64) for name in names})).argmax(-1))
    return np.concatenate(chosen)


def bench_stage(settings: CompressSettings, teacher_dir: Path, model_dir: Path,
                artifacts: dict[str, Path]) -> dict[str, Any]:
    """Parent (the teacher: the parent's shape with the task head), student and artifacts timed side by side in
    one run (PyTorch fp32 first; batch 1, sequence 128); the runtime to ship is the fastest artifact."""
    result = bench([teacher_dir, model_dir, *artifacts.values()], threads=settings.threads,
                   batch_size=BATCH_SIZE, seq_len=SEQ_LEN, rounds=7, repeats=5)
    parent_ms, student_ms = result.rows[0].median_ms, result.rows[1].median_ms
    measured = {runtime: row.median_ms for runtime, row in zip(artifacts, result.rows[2:])}
    return {"cpu": result.cpu, "threads": result.threads, "batch_size": BATCH_SIZE, "seq_len": SEQ_LEN,
            "parent_ms": parent_ms, "student_ms": student_ms, "student_speedup": parent_ms / student_ms,
            "artifact_ms": measured, "artifact_speedup": {k: parent_ms / v for k, v in measured.items()},
            "table": result.table()}


def shipped_runtime(artifact_ms: dict[str, float], evaluation: dict[str, Any], min_agreement: float) -> str | None:
    """The runtime to ship: the fastest artifact whose agreement with the student on the development rows is at
    least ``min_agreement`` with 95% confidence (the one-sided Wilson lower bound over ``evaluation["dev_rows"]``
    rows); if none is, the most agreeing, the fastest of equals (``None`` without artifacts)."""
    rows = evaluation["dev_rows"]
    agreeing = [runtime for runtime in artifact_ms
                if wilson_lower_bound(evaluation[runtime]["dev_agreement"], rows) >= min_agreement]
    if agreeing:
        return min(agreeing, key=artifact_ms.get)
    return max(artifact_ms, key=lambda runtime: (evaluation[runtime]["dev_agreement"], -artifact_ms[runtime]),
               default=None)


def wilson_lower_bound(share: float, rows: int, z: float = 1.645) -> float:
    """The one-sided lower confidence bound (95% for the default ``z``) of a share observed on ``rows`` rows."""
    if rows < 1:
        return 0.0
    centre = share + z * z / (2 * rows)
    spread = z * math.sqrt(share * (1 - share) / rows + z * z / (4 * rows * rows))
    return (centre - spread) / (1 + z * z / rows)
