"""Compress's stages for an embedding task (unlabelled sentences, scored on similarity pairs), where they differ
from those of a task with a head. The teacher is the parent's sentence-transformers pipeline, unchanged. The
student is inherited from it and distilled to its pooled sentence embeddings on the task's sentences, so that the
student's vectors stay comparable with the parent's (a student embedding can be searched against an index the
parent built); with no head there is nothing for Agora to label, so the fine-tuning stage passes the distilled
student on. The artifacts are int8, laid out under sentence-transformers' file names
(:mod:`hf_ose.embeddings.artifacts`). Scores are the Spearman correlation of the pairs' cosine similarities with
their scores; an artifact agrees with the student by the mean cosine of their embeddings of the same sentences,
and the student with the parent likewise. Search, pick and package are the common stages."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import AutoModel

from ..adapters import get_adapter
from ..embeddings import (EmbeddingDistillationSettings, SentenceEncoder, StsPairs, artifact_encoder,
                          distil_embeddings, evaluate_sts, export_int8, teacher_targets)
from ..embeddings.evaluation import agreement, score_pairs
from ..embeddings.pipeline import Pooling
from ..export.backend import ParityError
from ..export.bench import fixed_inputs
from ..inheritance import extract_model, save_student
from ..io import atomic_write
from ..latency.settings import RUNTIME_SPECS
from ..latency.timing import BenchTarget, bound_model, measure
from ..parent import load_parent_config, resolve_model_source
from ..space import Grid
from ..tasks import Task
from .settings import CompressSettings, CompressSettingsError

#: The student's vectors are checked against the parent's on at most this many test sentences.
PARENT_COSINE_SENTENCES = 1000
#: Where the export stage records the artifacts it kept, inside its folder (the model folder holds them).
KEPT_NAME = "kept.json"


def check_embedding_task(settings: CompressSettings, task: Task) -> None:
    """Refuse what compress cannot do with an embedding task, before any work: no similarity pairs to score on,
    fp32 artifacts (sentence-transformers' layout is int8 here), or a ``--teacher`` (the teacher is the parent)."""
    if not len(task.test):
        raise CompressSettingsError(
            f"--task {settings.task} is an embedding task without similarity pairs: compress scores the student, "
            "so give validation and test files of pairs (sentence1, sentence2, score), or distil without scoring "
            "with hf_ose.embeddings (docs/embeddings.md).")
    if settings.precision != "int8":
        raise CompressSettingsError(f"precision={settings.precision!r}: an embedding student's artifacts are int8, "
                                    "under sentence-transformers' names; leave --precision out.")
    if settings.teacher is not None:
        raise CompressSettingsError("--teacher: an embedding task's teacher is the parent itself (its embeddings "
                                    "are what the student learns); leave --teacher out.")


def same_width_grid(parent: str) -> Grid:
    """The parent's default search grid at its own hidden size only: a student whose embeddings are compared with
    the parent's dimension by dimension keeps it (fewer layers, heads or feed-forward neurons)."""
    config = load_parent_config(parent)
    architecture = get_adapter(config).read(config)
    return dataclasses.replace(Grid.derived_from(architecture), hidden=(architecture.hidden,))


def _pairs(split: Dataset) -> StsPairs:
    return StsPairs(list(split["sentence1"]), list(split["sentence2"]), [float(s) for s in split["label"]])


def teacher_stage(settings: CompressSettings, task: Task, folder: Path) -> dict[str, Any]:
    """The parent's sentence-transformers folder saved as it is (model, tokenizer, pooling), scored on the
    development pairs."""
    source = Path(resolve_model_source(settings.parent))
    Pooling.from_folder(source)  # a folder without a sentence-transformers pipeline is refused here
    shutil.rmtree(folder / "model", ignore_errors=True)  # a save killed midway: saved again
    save_student(AutoModel.from_pretrained(source), folder / "model", parent=source)
    score = evaluate_sts(SentenceEncoder.from_pretrained(folder / "model"), _pairs(task.validation))
    return {"model": f"{folder.name}/model", "given": False, "metric": "spearman", "dev_score": score.spearman}


def student_stage(settings: CompressSettings, task: Task, teacher_dir: Path, config_dir: Path,
                  folder: Path) -> dict[str, Any]:
    """The chosen point inherited from the parent (a calibration batch of the task's sentences), then distilled to
    the parent's pooled embeddings of every training sentence for ``student_epochs`` epochs (rounded up) at
    ``learning_rate``; saved with the parent's sentence-transformers pipeline."""
    parent = SentenceEncoder.from_pretrained(teacher_dir)
    texts = list(task.train["sentence"])
    calibration = dict(parent.tokenizer(texts[:64], padding=True, truncation=True, max_length=settings.max_length,
                                        return_tensors="pt"))
    student = extract_model(AutoModel.from_pretrained(teacher_dir), config_dir, calibration)
    distillation = EmbeddingDistillationSettings(epochs=math.ceil(settings.student_epochs),
                                                 learning_rate=settings.learning_rate,
                                                 max_length=settings.max_length, seed=settings.seed)
    log = distil_embeddings(student, parent.tokenizer, texts, teacher_targets(parent, texts), parent.pooling,
                            distillation)
    shutil.rmtree(folder / "model", ignore_errors=True)
    save_student(student, folder / "model", parent=teacher_dir)
    return {"model": f"{folder.name}/model", "distill_loss": log.epoch_losses[-1], "steps": log.steps,
            "params": sum(p.numel() for p in student.parameters())}


def finetune_stage(student: dict[str, Any]) -> dict[str, Any]:
    """Nothing to fine-tune: the distilled student passes on (Agora labels points for a head; an embedding
    student has none)."""
    return {"model": student["model"], "metric": "spearman", "rounds": 0,
            "skipped": "an embedding student has no head: Agora does not apply; the student is the distilled one"}


def export_stage(settings: CompressSettings, task: Task, model_dir: Path, folder: Path,
                 runtimes: list[str]) -> dict[str, Any]:
    """The student copied into ``folder/model`` and exported there to int8 for each of ``runtimes``, under
    sentence-transformers' names, calibrated and parity-checked on the task's training sentences; an artifact
    failing parity is left out (``refused``). Artifacts kept before an interruption are reused."""
    target = folder / "model"
    kept = _kept(folder)
    if not target.is_dir():
        shutil.copytree(model_dir, target)
    texts = list(task.train["sentence"][:500])
    artifacts, refused = {}, {}
    for runtime in runtimes:
        backend = RUNTIME_SPECS[runtime].backend
        if runtime not in kept:
            try:
                (artifact,) = export_int8(target, texts, backends=[backend], overwrite=True)
            except ParityError as error:
                refused[runtime] = str(error)
                continue
            kept[runtime] = {"folder": f"{folder.name}/model", "files": [artifact.file_name],
                             "parity": artifact.parity.to_dict(),
                             "sentence_cosine": {"mean": artifact.agreement.mean, "min": artifact.agreement.min}}
            atomic_write(folder / KEPT_NAME, json.dumps(kept, indent=2) + "\n")
        artifacts[runtime] = kept[runtime]
    return {"artifacts": artifacts, "refused": refused}


def _kept(folder: Path) -> dict[str, Any]:
    try:
        kept = json.loads((folder / KEPT_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return {runtime: entry for runtime, entry in kept.items()
            if all((folder / "model" / name).is_file() for name in entry["files"])}


def artifact_encoders(settings: CompressSettings, exported: dict[str, Any], out: Path) -> dict[str, SentenceEncoder]:
    """An encoder per kept artifact (``runtime: encoder``), running ``settings.threads`` threads."""
    return {runtime: artifact_encoder(out / entry["folder"], RUNTIME_SPECS[runtime].backend, entry["files"][0],
                                      threads=settings.threads)
            for runtime, entry in exported["artifacts"].items()}


def evaluate_stage(settings: CompressSettings, task: Task, teacher_dir: Path, model_dir: Path,
                   artifacts: dict[str, SentenceEncoder], left_out: int = 0) -> dict[str, Any]:
    """Test Spearman of the parent, the student and each artifact; each artifact's agreement with the student
    (mean cosine of their embeddings) on the test sentences and on up to ``settings.agreement_rows``
    development sentences (the shipped runtime is chosen on the latter); the student's mean cosine with the
    parent on the test sentences."""
    test, dev = _pairs(task.test), _pairs(task.validation)
    dev_sentences = dev.unique_sentences()[:settings.agreement_rows]
    sentences = test.unique_sentences()

    def scored(encoder: SentenceEncoder) -> tuple[float, np.ndarray]:
        """Test Spearman and the embeddings of the first test sentences, every test sentence encoded once."""
        vectors = encoder.encode(sentences)
        return score_pairs(test, vectors).spearman, vectors[:PARENT_COSINE_SENTENCES]

    teacher, student = SentenceEncoder.from_pretrained(teacher_dir), SentenceEncoder.from_pretrained(model_dir)
    (teacher_score, teacher_test), (student_score, student_test) = scored(teacher), scored(student)
    student_dev = student.encode(dev_sentences)
    to_parent = agreement(student_test, teacher_test)
    results: dict[str, Any] = {
        "metric": "spearman", "kind": task.kind, "rows": len(test.scores), "left_out": left_out,
        "dev_rows": len(dev_sentences), "teacher_score": teacher_score, "student_score": student_score,
        "student_cosine_to_parent": {"mean": to_parent.mean, "min": to_parent.min, "sentences": to_parent.texts}}
    for runtime, encoder in artifacts.items():
        score, on_test = scored(encoder)
        results[runtime] = {"score": score, "agreement": agreement(on_test, student_test).mean,
                            "dev_agreement": agreement(encoder.encode(dev_sentences), student_dev).mean,
                            "dev_units": len(dev_sentences), "agreement_is_share": False}
    return results


def bench_stage(settings: CompressSettings, teacher_dir: Path, model_dir: Path, artifacts: dict[str, SentenceEncoder],
                batch_size: int, seq_len: int) -> dict[str, Any]:
    """Parent, student (PyTorch fp32) and each artifact's encoder network timed side by side on the same fixed
    inputs (``batch_size`` x ``seq_len`` tokens)."""
    import torch

    threads = settings.threads or torch.get_num_threads()
    teacher = AutoModel.from_pretrained(teacher_dir).eval()
    inputs = fixed_inputs(teacher.config.vocab_size, batch_size, seq_len)
    tensors = {name: torch.from_numpy(value) for name, value in inputs.items()}
    targets = [BenchTarget("parent pytorch fp32", "pytorch", "fp32", bound_model(teacher, tensors)),
               BenchTarget("student pytorch fp32", "pytorch", "fp32",
                           bound_model(AutoModel.from_pretrained(model_dir).eval(), tensors))]
    targets += [BenchTarget(f"student {runtime}", RUNTIME_SPECS[runtime].backend, "int8",
                            lambda run=encoder.hidden_states, names=encoder.input_names:
                            run({name: inputs[name] for name in names}))
                for runtime, encoder in artifacts.items()]
    result = measure(targets, threads=threads, batch_size=batch_size, seq_len=seq_len, rounds=7, repeats=5)
    parent_ms, student_ms = result.rows[0].median_ms, result.rows[1].median_ms
    measured = {runtime: row.median_ms for runtime, row in zip(artifacts, result.rows[2:])}
    return {"cpu": result.cpu, "threads": result.threads, "batch_size": batch_size,
            "seq_len": seq_len, "parent_ms": parent_ms, "student_ms": student_ms,
            "student_speedup": parent_ms / student_ms, "artifact_ms": measured,
            "artifact_speedup": {k: parent_ms / v for k, v in measured.items()}, "table": result.table()}

