"""``hf-ose card``: a model folder's card written, or refreshed, from what the folder holds: its config (the
size), ``compress_report.json`` (scores, latency and how it was made) or ``agora_report.json`` (the test score),
a ``front.json`` (the front, the folder's own architecture marked) and the metadata of the card already there."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .card import CARD_NAME, TAGS, CardError, CardInputs, LatencyRow, LatencySetup, ModelSize, Score, write_card

#: Where an earlier card that hf-ose did not write is kept when ``overwrite`` replaces it.
KEPT_CARD = "README.md.bak"


def write_folder_card(folder: str | Path, *, base_model: str | None = None, name: str | None = None,
                      license: str | None = None, dataset: str | None = None, front: str | Path | None = None,
                      overwrite: bool = False) -> Path:
    """Write ``folder/README.md`` (and ``front.png`` with a front) from what ``folder`` holds; returns the card.

    Arguments left ``None`` come from the folder: the card already there (an hf-ose card is refreshed; its
    ``base_model``, licence, dataset and name are kept), ``compress_report.json``, ``agora_report.json`` and
    ``front.json``. A README.md hf-ose did not write is refused unless ``overwrite``, which keeps it as
    :data:`KEPT_CARD`."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise CardError(f"{folder} has no config.json: pass a model folder (one `hf-ose inherit`, `finetune` or "
                        "`compress` wrote, or any saved transformers model).")
    existing = _existing_card(folder / CARD_NAME, overwrite)
    base_model = base_model or existing.get("base_model")
    if not base_model:
        raise CardError(f"No parent is named for {folder}'s card: pass --base-model PARENT (a Hub id or folder), "
                        "the model it was made from.")
    inputs = _inputs(folder, base_model, name=name or existing.get("model_name") or folder.resolve().name,
                     license=license or existing.get("license"),
                     dataset=dataset or next(iter(existing.get("datasets") or []), None), front=front)
    if existing.get("foreign"):
        shutil.copy2(folder / CARD_NAME, folder / KEPT_CARD)
    return write_card(inputs, folder)


def _existing_card(path: Path, overwrite: bool) -> dict[str, Any]:
    """The metadata of the card at ``path`` (empty when there is none); ``foreign``: hf-ose did not write it."""
    if not path.is_file():
        return {}
    from huggingface_hub import ModelCard

    data = ModelCard.load(path).data.to_dict()
    if set(TAGS) <= set(data.get("tags") or []):
        return data
    if not overwrite:
        raise CardError(f"{path} was not written by hf-ose: move it away, or pass --overwrite (it is then kept as "
                        f"{KEPT_CARD}).")
    return {"foreign": True}


def _inputs(folder: Path, base_model: str, *, name: str, license: str | None, dataset: str | None,
            front: str | Path | None) -> CardInputs:
    from transformers import AutoConfig

    from ..parent import resolve_model_source

    config = AutoConfig.from_pretrained(folder)
    try:
        parent_config = AutoConfig.from_pretrained(resolve_model_source(base_model))
    except (OSError, ValueError) as error:
        raise CardError(f"Cannot read the parent {base_model!r}'s config ({error}): pass --base-model a local "
                        "model folder or a Hub id reachable from here.") from error
    found = _reports(folder)
    front_file = Path(front) if front is not None else folder / "front.json"
    pareto, chosen = _front(front_file, config) if front is not None or front_file.is_file() else (None, None)
    return CardInputs(name=name, base_model=base_model, student=ModelSize.of(config), parent=ModelSize.of(parent_config),
                      pipeline_tag=_pipeline_tag(folder, config), license=license,
                      dataset=dataset or found.get("dataset"), front=pareto, chosen=chosen, **found.get("inputs", {}))


def _reports(folder: Path) -> dict[str, Any]:
    """Card inputs from ``compress_report.json`` or, failing that, ``agora_report.json``."""
    from ..latency.settings import RUNTIME_SPECS

    compress = _json(folder / "compress_report.json")
    if compress is not None:
        summary, shipped = compress["summary"], compress["summary"].get("runtime")
        latency = [LatencyRow("pytorch", "fp32", summary["student_ms"], summary["parent_ms"])]
        latency += [LatencyRow(runtime, RUNTIME_SPECS[runtime].precision, ms, summary["parent_ms"])
                    for runtime, ms in summary["artifact_ms"].items()]
        metric, teacher, student, artifact = summary_scores(summary)
        scores = [Score(metric, student, teacher=teacher)]
        if shipped:
            scores.append(Score(f"{metric} ({shipped} artifact)", artifact[shipped], teacher=teacher))
        rounds = compress.get("stages", {}).get("finetune", {}).get("rounds")
        return {"dataset": summary.get("task"), "inputs": {
            "scores": scores, "latency": latency, "agora_rounds": rounds,
            "latency_setup": LatencySetup(summary["cpu"], summary["batch_size"], summary["seq_len"], summary["threads"]),
        }}
    agora = _json(folder / "agora_report.json")
    if agora is not None:
        from ..agora.records import AgoraReport

        report = AgoraReport.from_dict(agora)  # the task's metric under its own name, old reports' too
        if report.test_metric is not None:
            return {"inputs": {"scores": [Score(report.test_metric_name, float(report.test_metric))]}}
    return {}


def summary_scores(summary: dict[str, Any]) -> tuple[str, float, float, dict[str, float]]:
    """The metric's name and the teacher's, the student's and each artifact's test score in a compress summary
    (one written before compress served every task kind holds accuracies, as ``teacher_accuracy``...)."""
    if "metric" in summary:
        return summary["metric"], summary["teacher_score"], summary["student_score"], summary["artifact_score"]
    return "accuracy", summary["teacher_accuracy"], summary["student_accuracy"], summary["artifact_accuracy"]


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CardError(f"{path} is not valid JSON ({error.msg}, line {error.lineno}): restore it or move it "
                        "away.") from error


def _front(path: Path, config: Any) -> tuple[Any, Any]:
    """The front saved at ``path`` and its point with the folder's architecture (``None`` if none has it)."""
    from ..adapters import get_adapter
    from ..front import ParetoFront

    if not path.is_file():
        raise CardError(f"--front {path}: no such file; pass the front.json `hf-ose extract` wrote.")
    front = ParetoFront.from_json(path)
    architecture = get_adapter(config).read(config)
    return front, next((point for point in front.points if point.architecture == architecture), None)


def _pipeline_tag(folder: Path, config: Any) -> str:
    """What the model does, as the Hub's pipeline tag names it."""
    if any(name.endswith("ForSequenceClassification") for name in config.architectures or []):
        return "text-classification"
    if any(name.endswith("ForTokenClassification") for name in config.architectures or []):
        return "token-classification"
    return "sentence-similarity" if (folder / "modules.json").is_file() else "feature-extraction"
