"""Compress's delivery: the artifacts (int8, or fp32 in place of one failing parity) and their check against the
student (development and test rows), the side-by-side latency of parent, student and artifacts, which artifact to
ship, the folder a user ships (student, tokenizer, artifacts, reports, model card), and the summary table
``hf-ose compress`` ends with."""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerBase

from ..agora.finetuning import MODEL_CLASSES
from ..exceptions import HfOseError
from ..export import export
from ..export.backend import ExportError, ParityError, get_export_backend
from ..export.bench import ARTIFACT_FILES, bench
from ..export.core import REPORT_NAME as EXPORT_REPORT_NAME
from ..export.core import input_names
from ..front import ParetoFront
from ..io import atomic_write
from ..latency.settings import RUNTIME_SPECS
from ..publish.card import CardInputs, LatencyRow, LatencySetup, ModelSize, Score, write_card
from ..publish.folder_card import summary_scores
from ..tasks import CLASSIFICATION, EMBEDDING, REGRESSION, TOKEN_CLASSIFICATION, Task
from .scoring import Run, SplitOutputs, agreement, split_outputs, task_score
from .settings import CompressSettings, runtime_for

logger = logging.getLogger(__name__)

#: The export backends, in declaration order.
BACKENDS: tuple[str, ...] = tuple(dict.fromkeys(spec.backend for spec in RUNTIME_SPECS.values()))
#: Latency is measured as the issue and the card state it: batch 1, sequence 128.
BATCH_SIZE, SEQ_LEN = 1, 128
#: The summary report inside the shipped model folder.
REPORT_NAME = "compress_report.json"
#: The shipped folder inside the package stage's folder.
MODEL_FOLDER = "model"
#: The card's pipeline tag for each task kind compress serves (a one-output cross-encoder classifies text too).
PIPELINE_TAGS: dict[str, str] = {CLASSIFICATION: "text-classification", REGRESSION: "text-classification",
                                 TOKEN_CLASSIFICATION: "token-classification", EMBEDDING: "sentence-similarity"}
#: The card's words for the fine-tuning loss of each kind (:func:`hf_ose.agora.kinds.distillation_loss`).
DISTILLATION_LOSSES: dict[str, str] = {
    CLASSIFICATION: "T^2 x KL at T=2 (weight 0.5) beside the label cross-entropy",
    REGRESSION: "the MSE to the teacher's scores (weight 0.5) beside the MSE to the labels",
    TOKEN_CLASSIFICATION: "T^2 x KL at T=2 on every tagged token (weight 0.5) beside the tags' cross-entropy",
}
#: How the summary names each way of measuring an artifact's agreement with the student.
AGREEMENTS: dict[str, str] = {CLASSIFICATION: "share", TOKEN_CLASSIFICATION: "share", REGRESSION: "pearson",
                              EMBEDDING: "cosine"}


def export_runtimes(settings: CompressSettings) -> list[str]:
    """The runtimes the export stage makes artifacts for: ``settings.runtime``, else the runtime at
    ``settings.precision`` of every installed export backend."""
    if settings.runtime is not None:
        return [settings.runtime]
    runtimes = [runtime_for(backend, settings.precision) for backend in BACKENDS if _installed(backend)]
    if not runtimes:
        raise ExportError("No export backend is installed: pip install 'hf-ose[onnx]' or 'hf-ose[openvino]'.")
    return runtimes


def export_stage(settings: CompressSettings, task: Task, model_dir: Path, folder: Path) -> dict[str, Any]:
    """The student exported to each of :func:`export_runtimes` at ``settings.precision``, calibrated on
    development text (sentence pairs for a pair task) and kept only within its parity tolerance. An int8
    artifact that fails parity falls back to the fp32 artifact of its backend (which has its own parity check);
    each failure is recorded under ``refused`` with a warning. When no artifact passes, the package ships the
    PyTorch student alone and says why."""
    columns = [list(task.validation[column][:200]) for column in task.text_columns]
    calibration = columns[0] if len(columns) == 1 else list(zip(*columns))  # sentence pairs stay pairs
    artifacts, refused = {}, {}
    for asked in export_runtimes(settings):
        backend = RUNTIME_SPECS[asked].backend
        for precision in dict.fromkeys((settings.precision, "fp32")):  # int8, then fp32 in its place
            runtime, target = runtime_for(backend, precision), folder / backend
            kept = _kept_export(target, backend, precision)  # exported before this stage was interrupted
            if kept is None:
                try:
                    report = export(model_dir, target, backend=backend, precision=precision,
                                    calibration=calibration)
                except ParityError as error:
                    then = "left out" if precision == "fp32" else "trying its backend's fp32 artifact instead"
                    logger.warning("The %s artifact failed parity, %s: %s", runtime, then, error)
                    refused[runtime] = str(error)
                    continue
                kept = {"files": [path.name for path in report.files], "parity": report.parity.to_dict()}
            artifacts[runtime] = {"folder": f"{folder.name}/{backend}", **kept}
            break
    if not artifacts:
        failures = " ".join(f"{runtime}: {message}" for runtime, message in refused.items())
        logger.warning("No artifact of the student passed parity with PyTorch, so the package ships the PyTorch "
                       "student only: %s", failures)
    return {"artifacts": artifacts, "refused": refused}


def _kept_export(folder: Path, backend: str, precision: str) -> dict[str, Any] | None:
    """The artifact at ``precision`` that ``export`` kept in ``folder`` (its files and parity), if it finished."""
    try:
        entry = json.loads((folder / EXPORT_REPORT_NAME).read_text())["artifacts"][f"{backend}-{precision}"]
    except (OSError, ValueError, KeyError):
        return None
    if not all((folder / name).is_file() for name in entry["files"]):
        return None
    return {"files": entry["files"], "parity": entry["parity"]}


def artifact_file(folder: Path, runtime: str) -> Path:
    """The file in ``folder`` that ``runtime`` runs (``model_quantized.onnx`` for ``onnxruntime-int8``)."""
    spec = RUNTIME_SPECS[runtime]
    return folder / next(name for name, kind in ARTIFACT_FILES.items() if kind == (spec.backend, spec.precision))


def _installed(backend: str) -> bool:
    try:
        get_export_backend(backend)
    except HfOseError:
        return False
    return True


def evaluate_stage(settings: CompressSettings, task: Task, teacher_dir: Path, model_dir: Path,
                   artifacts: dict[str, Path], left_out: int = 0, progress: bool = True) -> dict[str, Any]:
    """The task's test metric (accuracy, Pearson or entity F1: :mod:`hf_ose.compression.scoring`) of the teacher
    and the student in PyTorch and of each artifact (``runtime: folder``), and each artifact's agreement with the
    student on every test row and on up to ``settings.agreement_rows`` development rows (the shipped runtime is
    chosen on the latter; the test split only scores). ``left_out``: test rows dropped for repeating a
    development row, recorded."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dev = task.validation.select(range(min(settings.agreement_rows, len(task.validation))))
    splits = {"test": task.test, "development": dev}

    def outputs(name: str, run: Run, names: list[str], split: str) -> SplitOutputs:
        return split_outputs(run, tokenizer, task, splits[split], names, settings.max_length,
                             desc=f"evaluate {name}, {split} rows" if progress else None)

    teacher = outputs("teacher", *_pytorch(teacher_dir, task.kind, tokenizer), "test")
    student_run, names = _pytorch(model_dir, task.kind, tokenizer)
    student, student_dev = (outputs("student", student_run, names, split) for split in splits)
    results: dict[str, Any] = {"metric": task.metric_name, "kind": task.kind, "rows": len(task.test),
                               "left_out": left_out, "dev_rows": len(dev),
                               "teacher_score": task_score(task, teacher), "student_score": task_score(task, student)}
    for runtime, folder in artifacts.items():
        spec = RUNTIME_SPECS[runtime]
        session = get_export_backend(spec.backend).session(folder, spec.precision, threads=settings.threads)
        on_test, on_dev = (outputs(runtime, session, names, split) for split in splits)
        on_dev_agreement = agreement(task.kind, on_dev, student_dev)
        results[runtime] = {"score": task_score(task, on_test),
                            "agreement": agreement(task.kind, on_test, student).value,
                            "dev_agreement": on_dev_agreement.value, "dev_units": on_dev_agreement.units,
                            "agreement_is_share": on_dev_agreement.is_share}
    return results


def _pytorch(folder: Path, kind: str, tokenizer: PreTrainedTokenizerBase) -> tuple[Run, list[str]]:
    """A saved model with ``kind``'s head as a function of numpy inputs to numpy logits (eval mode, no
    gradients), and the input names it takes."""
    model = MODEL_CLASSES[kind].from_pretrained(folder).eval()

    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.float().numpy()
    return run, input_names(model, tokenizer)


def bench_stage(settings: CompressSettings, teacher_dir: Path, model_dir: Path,
                artifacts: dict[str, Path]) -> dict[str, Any]:
    """Parent (the teacher: the parent's shape with the task head), student and artifacts (``runtime: folder``)
    timed side by side in one run (PyTorch fp32 first; batch 1, sequence 128)."""
    files = [artifact_file(folder, runtime) for runtime, folder in artifacts.items()]
    result = bench([teacher_dir, model_dir, *files], threads=settings.threads,
                   batch_size=BATCH_SIZE, seq_len=SEQ_LEN, rounds=7, repeats=5)
    parent_ms, student_ms = result.rows[0].median_ms, result.rows[1].median_ms
    measured = {runtime: row.median_ms for runtime, row in zip(artifacts, result.rows[2:])}
    return {"cpu": result.cpu, "threads": result.threads, "batch_size": BATCH_SIZE, "seq_len": SEQ_LEN,
            "parent_ms": parent_ms, "student_ms": student_ms, "student_speedup": parent_ms / student_ms,
            "artifact_ms": measured, "artifact_speedup": {k: parent_ms / v for k, v in measured.items()},
            "table": result.table()}


def shipped_runtime(artifact_ms: dict[str, float], evaluation: dict[str, Any], min_agreement: float) -> str | None:
    """The runtime to ship: the fastest artifact agreeing with the student on the development rows, surely: a
    share of equal predictions (classes, or word tags) of at least ``min_agreement`` with 95% confidence (the
    one-sided Wilson lower bound over its rows or tags), or for scores a Pearson correlation of at least
    ``min_agreement``. If none does, the most agreeing, the fastest of equals (``None`` without artifacts)."""
    def agrees(runtime: str) -> bool:
        entry = evaluation[runtime]
        if not entry.get("agreement_is_share", True):
            return entry["dev_agreement"] >= min_agreement
        return wilson_lower_bound(entry["dev_agreement"], entry.get("dev_units", evaluation["dev_rows"])) >= min_agreement

    def closeness(runtime: str) -> tuple[float, float]:
        value = evaluation[runtime]["dev_agreement"]
        return (-math.inf if math.isnan(value) else value, -artifact_ms[runtime])

    agreeing = [runtime for runtime in artifact_ms if agrees(runtime)]
    if agreeing:
        return min(agreeing, key=artifact_ms.get)
    return max(artifact_ms, key=closeness, default=None)


def wilson_lower_bound(share: float, rows: int, z: float = 1.645) -> float:
    """The one-sided lower confidence bound (95% for the default ``z``) of a share observed on ``rows`` rows."""
    if rows < 1:
        return 0.0
    centre = share + z * z / (2 * rows)
    spread = z * math.sqrt(share * (1 - share) / rows + z * z / (4 * rows * rows))
    return (centre - spread) / (1 + z * z / rows)


def package_stage(settings: CompressSettings, out: Path, stages: dict[str, dict[str, Any]],
                  folder: Path) -> dict[str, Any]:
    """Copy the fine-tuned student and every kept artifact into ``folder/model``, merge the reports, write
    ``compress_report.json`` (the summary) and the model card."""
    model = folder / MODEL_FOLDER
    shutil.copytree(out / stages["finetune"]["model"], model, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("agora", "checkpoint-*", "adapter"))
    exports = {}
    for runtime, entry in stages["export"]["artifacts"].items():
        source = out / entry["folder"]
        for name in entry["files"]:
            weights = Path(name).with_suffix(".bin")  # an OpenVINO graph's weights, beside it
            for file in (Path(name), *([weights] if name.endswith(".xml") and (source / weights).exists() else [])):
                (model / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / file, model / file)
        exports[runtime] = entry
    atomic_write(model / EXPORT_REPORT_NAME, json.dumps(exports, indent=2) + "\n")
    summary = _summary(settings, stages)
    atomic_write(model / REPORT_NAME, json.dumps({"summary": summary, "stages": stages}, indent=2, default=str) + "\n")
    write_card(_card_inputs(settings, out, stages, model), model)
    return {"model": f"{folder.name}/{MODEL_FOLDER}", "summary": summary}


def _summary(settings: CompressSettings, stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    bench, evaluation, pick = stages["bench"], stages["evaluate"], stages["pick"]
    shipped = shipped_runtime(bench["artifact_ms"], evaluation, settings.min_agreement)
    return {
        "task": settings.task, "kind": evaluation["kind"], "metric": evaluation["metric"],
        "architecture": pick["architecture"], "params": stages["student"]["params"],
        "cpu": bench["cpu"], "threads": bench["threads"], "batch_size": bench["batch_size"],
        "seq_len": bench["seq_len"], "parent_ms": bench["parent_ms"], "student_ms": bench["student_ms"],
        "student_speedup": bench["student_speedup"], "runtime": shipped,
        "artifact_ms": bench["artifact_ms"], "artifact_speedup": bench["artifact_speedup"],
        "teacher_score": evaluation["teacher_score"], "student_score": evaluation["student_score"],
        "artifact_score": {k: evaluation[k]["score"] for k in bench["artifact_ms"]},
        "agreement": AGREEMENTS[evaluation["kind"]],
        **({"student_cosine_to_parent": evaluation["student_cosine_to_parent"]}
           if "student_cosine_to_parent" in evaluation else {}),
        "artifact_agreement": {k: evaluation[k]["agreement"] for k in bench["artifact_ms"]},
        "artifact_dev_agreement": {k: evaluation[k]["dev_agreement"] for k in bench["artifact_ms"]},
        "min_agreement": settings.min_agreement, "dev_rows": evaluation["dev_rows"], "test_rows": evaluation["rows"],
        "test_rows_left_out": evaluation["left_out"], "precision": settings.precision,
        "artifacts_refused": stages["export"]["refused"],
        "notes": delivery_notes(settings.precision, stages["export"]["artifacts"], stages["export"]["refused"]),
    }


def delivery_notes(precision: str, artifacts: Sequence[str] | dict[str, Any], refused: dict[str, str]) -> list[str]:
    """Why the package holds other than what was asked (artifacts at ``precision``): an fp32 artifact in place
    of its backend's int8 one that failed parity, or no artifact at all (the PyTorch student alone)."""
    notes = []
    for runtime in artifacts:
        asked = runtime_for(RUNTIME_SPECS[runtime].backend, precision)
        if asked != runtime and asked in refused:
            notes.append(f"The {asked} artifact failed its parity check with the PyTorch student ({refused[asked]}); "
                         f"the {runtime} artifact (fp32), which passed its own, ships in its place.")
    if not artifacts:
        reasons = "; ".join(f"{runtime}: {message}" for runtime, message in refused.items())
        notes.append(f"No ONNX Runtime or OpenVINO artifact ships: none passed its parity check with the PyTorch "
                     f"student ({reasons}). The model folder holds the PyTorch student (fp32); `hf-ose export` with "
                     "other calibration text makes an artifact.")
    return notes


def _card_inputs(settings: CompressSettings, out: Path, stages: dict[str, dict[str, Any]],
                 model: Path) -> CardInputs:
    summary, tuned = _summary(settings, stages), stages["finetune"]
    front = ParetoFront.from_json(out / stages["search"]["front"])
    chosen = front.points[stages["pick"]["index"]]
    parent_config = AutoConfig.from_pretrained(out / stages["teacher"]["model"])
    latency = [LatencyRow("pytorch", "fp32", summary["student_ms"], summary["parent_ms"])]
    latency += [LatencyRow(runtime, RUNTIME_SPECS[runtime].precision, ms, summary["parent_ms"])
                for runtime, ms in summary["artifact_ms"].items()]
    shipped = summary["runtime"]
    metric, teacher, student, artifact = summary_scores(summary)
    parent_name, task_name = Path(settings.parent).name, Path(settings.task).name
    if summary["kind"] == EMBEDDING:
        cosine = summary["student_cosine_to_parent"]
        kind = {"library_name": "sentence-transformers", "tags": ("sentence-transformers", "feature-extraction",
                                                                  "embedding-distillation"),
                "teacher": f"{parent_name} (its sentence embeddings, unchanged)",
                "distillation": (f"inherited from the parent, then distilled to its pooled sentence embeddings (MSE) on "
                                 f"the task's sentences for {math.ceil(settings.student_epochs)} epoch(s)"),
                "notes": [f"Load it with SentenceTransformer(folder). Its embeddings are distilled to the parent's, so "
                          "they can be searched against an index the parent built: the mean cosine of its embedding "
                          f"of a test sentence with the parent's is {cosine['mean']:.4f} (lowest {cosine['min']:.4f}, "
                          f"{cosine['sentences']} sentences).",
                          *[f"int8 artifact `{entry['files'][0]}`: SentenceTransformer(folder, backend="
                            f"{RUNTIME_SPECS[runtime].backend!r}, model_kwargs={{'file_name': {entry['files'][0]!r}}})"
                            " (that backend needs Optimum)." for runtime, entry in stages["export"]["artifacts"].items()],
                          *summary["notes"]]}
    else:
        kind = {"teacher": f"{parent_name} fine-tuned on {task_name}",
                "distillation": (f"inherited from the teacher, distilled {settings.distill_steps} steps on the training "
                                 f"text, then fine-tuned with {DISTILLATION_LOSSES[summary['kind']]}"
                                 + (f", {tuned['pool_labelled']} texts of an unlabelled in-domain pool labelled by the "
                                    "teacher added to the training rows" if tuned.get("pool_labelled") else "")),
                "notes": summary["notes"]}
    return CardInputs(
        name=f"{parent_name}-{task_name}-ose", base_model=settings.parent,
        student=ModelSize.of(AutoConfig.from_pretrained(model)), parent=ModelSize.of(parent_config),
        pipeline_tag=PIPELINE_TAGS[summary["kind"]], dataset=settings.task,
        scores=[Score(metric, student, teacher=teacher),
                *([Score(f"{metric} ({shipped} artifact)", artifact[shipped], teacher=teacher)] if shipped else [])],
        latency=latency,
        latency_setup=LatencySetup(summary["cpu"], summary["batch_size"], summary["seq_len"], summary["threads"]),
        front=front, chosen=chosen, agora_rounds=tuned["rounds"], **kind,
    )


def format_summary(summary: dict[str, Any]) -> str:
    """``summary`` (``compress_report.json``'s) as a terminal table."""
    metric, teacher, student, artifact = summary_scores(summary)
    parent_ms, measure = summary["parent_ms"], summary.get("agreement", "share")
    correlation = measure != "share"
    rows = [("parent / teacher (PyTorch fp32)", parent_ms, teacher, None),
            (f"student {summary['architecture']} (PyTorch fp32)", summary["student_ms"], student, None)]
    rows += [(f"student {runtime}{' *' if runtime == summary['runtime'] else ''}", ms, artifact[runtime],
              summary["artifact_agreement"][runtime]) for runtime, ms in summary["artifact_ms"].items()]
    width = max(len(row[0]) for row in rows) + 2
    left_out = summary.get("test_rows_left_out", 0)
    repeated = f" ({left_out} repeating a development row left out)" if left_out else ""
    shown = {"pearson": "agreement r", "cosine": "cosine"}.get(measure, "agreement")
    lines = [f"CPU: {summary['cpu']}; {summary['threads']} threads, batch {summary['batch_size']}, sequence "
             f"{summary['seq_len']}; test {metric} on {summary['test_rows']} rows of {summary['task']}{repeated}",
             f"{'model':<{width}}{'latency ms':>11}{'vs parent':>11}{metric:>10}{'of teacher':>12}{shown:>13}"]
    for name, ms, score, agreed in rows:
        agreed_text = "" if agreed is None else f"{agreed:.4f}" if correlation else f"{agreed:.2%}"
        lines.append(f"{name:<{width}}{ms:>11.2f}{parent_ms / ms:>10.2f}x{score:>10.2%}{score / teacher:>12.1%}"
                     f"{agreed_text:>13}")
    if measure == "cosine":
        agreeing = (f"the mean cosine of the artifact's embeddings of the test sentences with the student's in "
                    f"PyTorch. * the runtime shipped: the fastest whose mean cosine on {summary['dev_rows']} "
                    f"development sentences is at least {summary['min_agreement']:g} (else the closest).")
    elif correlation:
        agreeing = (f"the Pearson correlation of the artifact's test scores with the student's in PyTorch. * the "
                    f"runtime shipped: the fastest whose correlation on {summary['dev_rows']} development rows is at "
                    f"least {summary['min_agreement']:g} (else the most correlated).")
    else:
        unit = "tags" if summary.get("kind") == TOKEN_CLASSIFICATION else "predictions"
        agreeing = (f"the artifact's test {unit} equal to the student's in PyTorch. * the runtime shipped: the "
                    f"fastest agreeing with the student on at least {summary['min_agreement']:.0%} of the {unit} on "
                    f"{summary['dev_rows']} development rows with 95% confidence (else the most agreeing).")
    lines.append(f"Student: {summary['params'] / 1e6:.1f}M parameters. Agreement: {agreeing}")
    if "student_cosine_to_parent" in summary:
        cosine = summary["student_cosine_to_parent"]
        lines.append(f"The student's embeddings against the parent's: mean cosine {cosine['mean']:.4f} (lowest "
                     f"{cosine['min']:.4f}) on {cosine['sentences']} test sentences.")
    lines += [f"Not shipped, failed parity with PyTorch: {runtime} ({message})"
              for runtime, message in summary.get("artifacts_refused", {}).items()]
    return "\n".join(lines + summary.get("notes", []))


def format_stage_times(seconds: dict[str, float | None]) -> str:
    """One line: the wall time of each stage's finishing attempt (stages reused from an earlier run included)."""
    times = ", ".join(f"{name} {'?' if value is None else f'{value:.0f} s'}" for name, value in seconds.items())
    known = [value for value in seconds.values() if value is not None]
    return f"Stage wall times: {times}; {sum(known) / 60:.1f} min in all."
