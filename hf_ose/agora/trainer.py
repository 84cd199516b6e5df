"""AgoraTrainer: :class:`transformers.Trainer`'s constructor and ``train()`` contract around Agora's loop; and
one fine-tuning inside the loop (:class:`RunTrainer`: a stock Trainer, with Bort's task distillation loss when
asked)."""

from __future__ import annotations

import copy
import inspect
import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from transformers import DataCollatorForTokenClassification, PreTrainedTokenizerBase, Trainer
from transformers.trainer_utils import TrainOutput

from ..distillation.losses import task_distillation_loss
from ..finetune import last_complete_checkpoint
from ..io import atomic_write, ensure_writable_folder
from ..metrics import PRIMARY_METRICS, are_entity_tags, trainer_metrics
from .arguments import AgoraArguments
from .finetuning import save_for_transformers
from .interfaces import POOL_SPACE_FEATURES, AgoraError, Labeller, Point, Sampler, TokenizedPoint, sides
from .kinds import (CLASSIFICATION, REGRESSION, TOKEN_CLASSIFICATION, Labelled, _unwrapped, distillation_loss,
                    label_points, mistakes, model_kind, predicted_labels, relabelled, row_predictions)
from .records import AgoraReport, AgoraRound, FinishedRun, load_run, run_key, save_run
from .rows import (TEACHER_COLUMN, Layout, LabelSpace, Split, check_label_sets, check_no_overlap, encode,
                   layout_of, pool_words_point, read_split, word_sentences)
from .samplers import source_of

__all__ = ["AgoraTrainer", "RunTrainer", "predicted_labels", "task_distillation_loss"]

#: Trainer.predict's timing figures, left out of the test metrics.
_TIMING = ("runtime", "samples_per_second", "steps_per_second", "model_preparation_time")


@dataclass
class _Run:
    """One setting's fine-tuning: its score, dev predictions, model and Trainer output."""

    setting: dict[str, Any]
    score: float
    predicted: Any
    model: nn.Module
    output: TrainOutput
    round: int


class AgoraTrainer(Trainer):
    """A drop-in :class:`~transformers.Trainer` running Agora (design notes, "Agora") in ``train()``.

    Same constructor as ``Trainer`` plus ``labeller`` (a :class:`Labeller`, or what
    :func:`hf_ose.agora.labellers.as_labeller` accepts: a teacher model for the task, a ``pipeline``, a
    callable), ``sampler`` (a :class:`Sampler`; default ``get_sampler(args.agora_sampler)``) and
    ``test_dataset``. The task comes from the model's head: a ``*ForSequenceClassification`` classifies (or, with
    ``num_labels=1``, regresses a score), a ``*ForTokenClassification`` tags tokens; labels of another shape are
    refused. The datasets hold what ``Trainer`` takes, tokenized rows (``input_ids``, ``attention_mask``, ...,
    and ``labels``: a class, a score, or tags aligned to the tokens with -100 where none counts) batched by
    ``data_collator``, or raw text that the trainer tokenizes with ``processing_class``: text columns
    (``sentence``, or ``sentence1`` and ``sentence2``, or ``args.agora_text_columns``) with ``label`` (integers
    or names in the model's ``label2id``, or scores), or words (``tokens``) with ``ner_tags``.

    Each round fine-tunes every remaining setting from the same initial weights (a copy of ``model`` taken at
    construction, or ``model_init``) under ``output_dir/agora/round-R/setting-I``, scores it on the development
    set with ``metric_for_best_model`` (default ``eval_loss``, lower is better), takes the round's best model's
    development mistakes (a wrong class; a sentence with any wrong tag; a score off by more than
    ``agora_score_tolerance``), samples points near each, labels them with the labeller, keeps those labelled
    with top probability >= ``agora_min_confidence`` (every tag, for token classification) and appends them to
    the training set, then drops the worst share of settings. Without a labeller (``labeller=``, or
    ``args.agora_labeller``, a saved teacher's folder) no points are generated: the loop is then successive
    halving over the settings. With ``agora_selection_share`` that share of the development set is held out: it
    scores the settings and rounds, and mistakes are found on the rest only. ``train()`` leaves the best model of
    all rounds in ``self.model`` and saves it with the tokenizer in ``output_dir``; a PEFT (LoRA) model is saved
    merged, so stock ``AutoModelForSequenceClassification.from_pretrained`` loads it, with its adapter in
    ``output_dir/adapter``.
    The test set is read before the loop (checks: labels, no overlap with the development set) and after it
    (:meth:`evaluate_test`), never during. Each round is logged (``self.log``) and written to
    ``agora_report.json``; :attr:`agora_report` holds the :class:`AgoraReport`.

    ``unlabelled`` (or ``args.agora_unlabelled``, a file) is a pool of unlabelled in-domain text (see
    :func:`hf_ose.agora.samplers.read_unlabelled`; datasets of raw text, or of words for token classification,
    whose pool sentences become untagged sentences of words for the labeller to tag). With one, the default
    sampler is the nearest-neighbour sampler over the pool (embedded by the teacher, by what the teacher's output
    layer reads, or by each round's student: ``args.agora_pool_space``), each pool text drawn at most once, the
    task's own texts left out; and ``args.agora_pool_labelled`` pool texts can be labelled up front as extra
    training rows (distillation on the pool). The report counts points per source (``pool``, ``edits``).
    """

    def __init__(self, *args: Any, labeller: Any = None, sampler: Sampler | None = None, test_dataset: Any = None,
                 unlabelled: Any = None, **kwargs: Any) -> None:
        given = inspect.signature(Trainer.__init__).bind(None, *args, **kwargs).arguments
        super().__init__(*args, **kwargs)
        self.args: AgoraArguments = AgoraArguments.from_training_arguments(self.args)
        if any(part is not None for part in given.get("optimizers", (None, None))):
            raise AgoraError("AgoraTrainer fine-tunes a fresh copy of the model per setting, which a ready "
                             "optimizer cannot follow: pass optimizer_cls_and_kwargs=(cls, kwargs) instead of "
                             "optimizers=(...).")
        if not isinstance(self.processing_class, PreTrainedTokenizerBase):
            raise AgoraError("AgoraTrainer tokenizes raw text and edits token ids with the tokenizer's special and "
                             "mask tokens: pass processing_class=tokenizer.")
        if sampler is not None and not isinstance(sampler, Sampler):
            raise AgoraError(f"sampler must be a hf_ose.agora.Sampler, got {type(sampler).__name__}; or leave it "
                             "None and name one with AgoraArguments.agora_sampler.")
        self.labeller = labeller
        self.sampler = sampler
        self.test_dataset = test_dataset
        if unlabelled is not None and self.args.agora_unlabelled is not None:
            raise AgoraError("Both unlabelled= and args.agora_unlabelled name a pool: give one of them.")
        self.unlabelled = unlabelled if unlabelled is not None else self.args.agora_unlabelled
        self._pool: list[Point] | None = None
        self._task_texts: set[str] = set()
        self._sampler_follows_student = False
        self.agora_report: AgoraReport | None = None
        #: The final training set (original rows, then every kept point), after ``train()``.
        self.agora_train_split: Split | None = None
        self._user_callbacks = list(given.get("callbacks") or [])
        self._initial_model = None if self.model_init is not None else copy.deepcopy(self.model)
        self._space = LabelSpace.of(self.model.config, model_kind(self.model))
        self._layout: Layout | None = None
        self._score_range: tuple[float, float] | None = None
        if given.get("data_collator") is None and self._space.kind == TOKEN_CLASSIFICATION:
            self.data_collator = DataCollatorForTokenClassification(self.processing_class)
        if self.compute_metrics is None:
            self.compute_metrics = self._task_metrics()

    def _task_metrics(self) -> Any:
        """The default ``compute_metrics``: the task kind's metrics (:func:`hf_ose.metrics.trainer_metrics`;
        entity scores read the model's ``id2label`` tag names)."""
        if self._space.kind == TOKEN_CLASSIFICATION and not are_entity_tags(self._space.names):
            raise AgoraError(f"AgoraTrainer scores token classification by entity F1 over the model's tag names, "
                             f"but its id2label names none ({self._space.names or 'LABEL_0, LABEL_1, ...'}): set "
                             "config.id2label/label2id to the IOB2 tags (O, B-TYPE, I-TYPE), or pass "
                             "compute_metrics=.")
        return trainer_metrics(self._space.kind, self._space.names)

    # ---- the loop --------------------------------------------------------------------------------------------

    def train(self, resume_from_checkpoint: str | bool | None = None, trial: Any = None,
              ignore_keys_for_eval: list[str] | None = None, **kwargs: Any) -> TrainOutput:
        """Run the Agora loop; return the best run's ``TrainOutput`` with the loop's figures in ``metrics``."""
        if resume_from_checkpoint not in (None, False, True) or trial is not None or kwargs:
            raise AgoraError("AgoraTrainer.train() takes resume_from_checkpoint=True (reuse the finished setting runs "
                             "under output_dir/agora and resume the interrupted one from its last checkpoint), "
                             "and no checkpoint path, trial or other options.")
        self._resume = bool(resume_from_checkpoint)
        start = time.time()
        ensure_writable_folder(self.args.output_dir)
        train, dev = self._read_splits()
        labeller = self._checked_labeller(train.points[:1])
        metric, greater = self._metric()
        report = AgoraReport(metric=metric, greater_is_better=greater, task=self._space.kind)
        if labeller is None:
            report.notes.append("no labeller given: no points generated; the loop is successive halving over "
                                "the settings")
        dev, selection, dev_rows = self._held_out_selection(dev, report)
        dev_set = encode(self.processing_class, dev, self.args.agora_max_length)
        selection_set = None if selection is None else encode(self.processing_class, selection,
                                                                 self.args.agora_max_length)
        teacher = self._label(labeller, train.points).targets if labeller and self.args.distill else None
        self._pool = self._read_pool(labeller, report)
        if self._pool is not None and self.args.agora_pool_labelled:
            train, teacher = self._label_pool_rows(train, teacher, labeller, report)
        tolerance = self._tolerance()
        settings, best = self.args.settings(), None
        for index in itertools.count():
            train_set = encode(self.processing_class, train, self.args.agora_max_length, teacher)
            runs = [self._fine_tune(setting, index, i, train_set, dev_set, selection_set)
                    for i, setting in enumerate(settings)]
            ranked = sorted(range(len(runs)), key=lambda i: (self._rank(runs[i].score), i))
            top = runs[ranked[0]]
            wrong = mistakes(self._space.kind, top.predicted, dev.labels, tolerance)
            share = self.args.agora_drop_share
            dropped = 0 if share == 0 else min(len(runs), max(1, math.floor(share * len(runs))))
            survivors = sorted(ranked[:len(runs) - dropped])
            last = not survivors or (self.args.agora_max_rounds is not None and index + 1 >= self.args.agora_max_rounds)
            entry = AgoraRound(round=index, settings=[{"setting": runs[i].setting, "score": runs[i].score}
                                                     for i in ranked],
                               best_setting=top.setting, train_size=len(train), mistakes=len(wrong),
                               mistake_indices=[dev_rows[k] for k in wrong],
                               dropped=[runs[i].setting for i in ranked[len(survivors):]])
            if last:
                entry.notes.append("last round: no points generated (no later round would train on them)")
            elif labeller is not None and not wrong:
                entry.notes.append("no development mistakes: nothing to sample near")
            elif labeller is not None:
                points, labelled = self._augment(index, wrong, dev, dev_rows, labeller, entry, top.model)
                train = train.extended(relabelled(self._space.kind, points, labelled.labels), labelled.labels)
                if teacher is not None:
                    teacher = [*teacher, *labelled.targets]
            if best is None or not self._rank(top.score) > self._rank(best.score):
                best = top  # ties go to the later round, which trained on more points
            report.rounds.append(entry)
            self._record_round(report, entry)
            if last:
                break
            settings = [runs[i].setting for i in survivors]
        self.agora_train_split = train
        return self._finish(report, best, start)

    def _fine_tune(self, setting: dict[str, Any], round_index: int, index: int, train_set: Any, dev_set: Any,
                   selection_set: Any = None) -> _Run:
        """Fine-tune the initial model under ``setting``; predict the development set (its mistakes) and score
        the model on ``selection_set`` (None: the development set). Resuming, a run recorded for the same
        setting and rows is reused and an interrupted one resumes from its last checkpoint
        (:mod:`hf_ose.agora.records`)."""
        folder = Path(self.args.output_dir) / "agora" / f"round-{round_index}" / f"setting-{index}"
        key = run_key(setting, train_set, dev_set, selection_set)
        if self._resume:
            model = self._initial_copy() if self._initial_model is not None else self.call_model_init()
            finished = load_run(folder, key, model)
            if finished is not None:
                return _Run(setting, finished.score, finished.predicted, model, finished.output, round_index)
        scoring_set = dev_set if selection_set is None else selection_set
        trainer = self._run_trainer(self._initial_copy(), self.args.for_run(setting, str(folder)), train_set,
                                    scoring_set)
        output = trainer.train(resume_from_checkpoint=last_complete_checkpoint(folder) if self._resume else None)
        prediction = trainer.predict(dev_set, metric_key_prefix="eval")
        scored = prediction if selection_set is None else trainer.predict(selection_set, metric_key_prefix="eval")
        trainer.log(dict(scored.metrics))
        metric, _ = self._metric()
        if metric not in scored.metrics:
            raise AgoraError(f"metric_for_best_model asks for {metric!r}, but evaluation gives only "
                             f"{sorted(scored.metrics)}: return it from compute_metrics, or choose one of these.")
        predicted = row_predictions(self._space.kind, prediction.predictions, prediction.label_ids)
        run = FinishedRun(float(scored.metrics[metric]), predicted, output)
        if self.is_world_process_zero():
            save_run(folder, key, run, trainer.model)
        return _Run(setting, run.score, run.predicted, trainer.model, output, round_index)

    def _run_trainer(self, model: nn.Module | None, args: AgoraArguments, train_set: Any = None,
                     dev_set: Any = None) -> RunTrainer:
        distill = (self.args.distill_alpha, self.args.distill_temperature) if self.args.distill else None
        return RunTrainer(model=model, args=args, data_collator=self.data_collator, train_dataset=train_set,
                          eval_dataset=dev_set, processing_class=self.processing_class,
                          model_init=self.model_init if model is None else None,
                          compute_loss_func=self.compute_loss_func, compute_metrics=self.compute_metrics,
                          callbacks=self._user_callbacks, optimizer_cls_and_kwargs=self.optimizer_cls_and_kwargs,
                          preprocess_logits_for_metrics=self.preprocess_logits_for_metrics, distill=distill,
                          kind=self._space.kind)

    def _initial_copy(self) -> nn.Module | None:
        """A fresh copy of the initial model (None with ``model_init``, which the run calls itself)."""
        return None if self._initial_model is None else copy.deepcopy(self._initial_model)

    def _augment(self, round_index: int, mistakes: list[int], dev: Split, dev_rows: list[int], labeller: Labeller,
                 entry: AgoraRound, model: nn.Module) -> tuple[list[Point], Labelled]:
        """Points sampled near the mistakes (at most ``agora_max_points_per_round``, nearest first round-robin
        over the mistakes) and kept by the labeller's confidence, with their labels; counts and notes go to
        ``entry``, every generated point to ``agora/round-R/points.jsonl`` (its source: the mistake's row in the
        development set given, ``dev_rows[k]``)."""
        sampler = self.sampler or self._default_sampler(labeller, model)
        if self._sampler_follows_student:
            sampler.use_encoder(_unwrapped(model), self.processing_class)
        sources = [dev.points[k] for k in mistakes]
        cap = self.args.agora_max_points_per_round
        per_point = self.args.agora_samples_per_mistake
        if cap is not None:  # ask no more than the cap needs: a pool text drawn is never drawn again
            per_point = min(per_point, -(-cap // len(sources)))
        proposals = sampler.sample(sources, per_point, tokenizer=self.processing_class,
                                   max_length=self.args.agora_max_length, seed=self.args.seed + round_index)
        if len(proposals) != len(sources):
            raise AgoraError(f"Sampler {type(sampler).__name__} returned {len(proposals)} lists for {len(sources)} "
                             "points: it must return one list (possibly empty) per point.")
        origin = [(k, point) for k, points in zip(mistakes, proposals) for point in points]
        if cap is not None and len(origin) > cap:
            by_rank = sorted(((rank, k, point) for k, points in zip(mistakes, proposals)
                              for rank, point in enumerate(points)), key=lambda item: item[0])
            chosen = {(k, rank) for rank, k, _ in by_rank[:cap]}
            origin = [(k, point) for k, points in zip(mistakes, proposals)
                      for rank, point in enumerate(points) if (k, rank) in chosen]
            entry.notes.append(f"{len(by_rank)} points sampled, capped at agora_max_points_per_round={cap}")
        entry.generated = len(origin)
        source = source_of(sampler)
        entry.sources = {source: {"generated": entry.generated, "kept": 0}}
        if not origin:
            entry.notes.append(f"sampler {type(sampler).__name__} returned nothing for the {len(sources)} mistakes: "
                               "the training set is unchanged")
            return [], Labelled([], np.zeros(0), [])
        labelled = self._label(labeller, [point for _, point in origin])
        keep = labelled.keep(self.args.agora_min_confidence)
        entry.kept = int(keep.sum())
        entry.sources[source]["kept"] = entry.kept
        if entry.kept == 0:
            entry.notes.append(f"no generated point reached agora_min_confidence={self.args.agora_min_confidence}")
        self._write_points(round_index, [(dev_rows[k], point) for k, point in origin], labelled, keep)
        return [point for (_, point), k in zip(origin, keep) if k], labelled.subset(keep)

    def _finish(self, report: AgoraReport, best: _Run, start: float) -> TrainOutput:
        """Keep, save and (on a test set) score the best model; complete and save the report."""
        self.model = self.model_wrapped = best.model
        report.best_setting, report.best_round, report.dev_score = best.setting, best.round, best.score
        self.log({"agora_dev_score": best.score, "agora_best_round": best.round})
        if self.is_world_process_zero():
            save_for_transformers(best.model, self.processing_class, self.args.output_dir)
        self.accelerator.wait_for_everyone()
        if self.test_dataset is not None:
            report.test_metrics = self.evaluate_test()
            report.test_metric_name = PRIMARY_METRICS[self._space.kind]
            report.test_metric = report.test_metrics.get(f"test_{report.test_metric_name}")
            if self._space.kind == CLASSIFICATION:
                report.test_accuracy = report.test_metric
            if report.test_metric is None:
                report.notes.append(f"the test {report.test_metric_name} is not scored: the model's id2label has "
                                    "no IOB2 tag names for entity scores")
            self.log(dict(report.test_metrics))
        if self.is_world_process_zero():
            report.save(self.args.output_dir)
        self.agora_report = report
        metrics = {**best.output.metrics, "train_runtime": time.time() - start, "agora_rounds": len(report.rounds),
                   "agora_dev_score": best.score, **report.test_metrics}
        return TrainOutput(best.output.global_step, best.output.training_loss, metrics)

    def evaluate_test(self, test_dataset: Any = None) -> dict[str, float]:
        """``self.model``'s scores on ``test_dataset`` (default: the constructor's): ``test_loss``, what
        ``compute_metrics`` gives (``test_``-prefixed) and the task kind's main metric by :mod:`hf_ose.metrics`
        (``test_accuracy``, ``test_pearson`` or entity ``test_f1``; the last only where the model's ``id2label``
        names IOB2 tags). The loop's one explicit read of the test set, done by ``train()`` after the loop."""
        data = test_dataset if test_dataset is not None else self.test_dataset
        if data is None:
            raise AgoraError("No test set: pass test_dataset= to AgoraTrainer or to evaluate_test().")
        test = self._read(data, "test set")
        encoded = encode(self.processing_class, test, self.args.agora_max_length)
        folder = Path(self.args.output_dir) / "agora" / "test"
        trainer = self._run_trainer(self.model, self.args.for_run({}, str(folder)))
        prediction = trainer.predict(encoded, metric_key_prefix="test")
        metrics = {k: float(v) for k, v in prediction.metrics.items() if not k.endswith(_TIMING)}
        kind, names = self._space.kind, self._space.names
        if kind != TOKEN_CLASSIFICATION or are_entity_tags(names):
            main = PRIMARY_METRICS[kind]
            metrics[f"test_{main}"] = float(trainer_metrics(kind, names)(prediction)[main])
        return metrics

    # ---- inputs ----------------------------------------------------------------------------------------------

    def _read_splits(self) -> tuple[Split, Split]:
        """The training and development splits, checked; the test set checked too (labels, overlap)."""
        if self.train_dataset is None:
            raise AgoraError("No training set: pass train_dataset= (tokenized rows with labels, or raw text with "
                             "labels).")
        if self.eval_dataset is None or isinstance(self.eval_dataset, dict):
            raise AgoraError("Agora scores settings and finds mistakes on one development set: pass "
                             "eval_dataset= a single labelled dataset.")
        self._layout = layout_of(self.train_dataset, self.args.agora_text_columns, "training set")
        train = self._read(self.train_dataset, "training set")
        dev = self._read(self.eval_dataset, "development set (eval_dataset)")
        check_label_sets(train, dev)
        splits = [train, dev]
        if self.test_dataset is not None:
            test = self._read(self.test_dataset, "test set")
            check_label_sets(train, test)
            check_no_overlap(dev, test)
            splits.append(test)
        if self._layout.form == "text":  # what an unlabelled pool must not repeat
            self._task_texts = {text for split in splits for point in split.points for text in sides(point)}
        elif self._layout.form == "words":
            data = (self.train_dataset, self.eval_dataset, self.test_dataset)
            self._task_texts = {text for rows in data if rows is not None for text in word_sentences(rows, "split")}
        if self._space.kind == REGRESSION:
            self._score_range = (float(min(train.labels)), float(max(train.labels)))
        return train, dev

    def _held_out_selection(self, dev: Split, report: AgoraReport) -> tuple[Split, Split | None, list[int]]:
        """The development rows that find mistakes, those that choose the setting and the round (None: the same
        rows) and the former's row numbers, as ``agora_selection_share`` says."""
        share = self.args.agora_selection_share
        if not share:
            return dev, None, list(range(len(dev)))
        rows, held = dev.held_out(share, self.args.seed)
        report.selection_rows = held
        report.notes.append(f"{len(held)} of the {len(dev)} development rows held out from the sampler "
                            f"(agora_selection_share={share:g}): they choose the setting and the round; mistakes "
                            f"are found on the other {len(rows)}")
        return dev.rows(rows), dev.rows(held), rows

    def _read(self, data: Any, name: str) -> Split:
        """A split laid out as the training set is (raw text in the same columns, words, or tokenized rows)."""
        if self._layout is None:  # evaluate_test() before train(): the split sets the form
            self._layout = layout_of(data, self.args.agora_text_columns, name)
        configured = self._layout.columns if self._layout.form == "text" else None
        layout = layout_of(data, configured, name)
        if layout.form != self._layout.form:
            raise AgoraError(f"The {name} holds {layout.form} rows but the training set {self._layout.form} rows: "
                             "give every split in one form.")
        return read_split(data, layout, self._space, name, self.processing_class, self.args.agora_max_length)

    def _tolerance(self) -> float:
        """How far off a development score may be before it counts as a mistake (regression)."""
        if self.args.agora_score_tolerance is not None:
            return float(self.args.agora_score_tolerance)
        low, high = self._score_range or (0.0, 0.0)
        return 0.1 * (high - low)

    def _checked_labeller(self, probe: list[Point]) -> Labeller | None:
        """The labeller as a :class:`Labeller`, its label space checked against the student's after labelling
        ``probe`` (a callable labeller learns its width from its first answer)."""
        labeller = self.labeller if self.labeller is not None else self.args.agora_labeller
        if labeller is None:
            if self.args.distill:
                raise AgoraError("distill=True trains on a labeller's soft targets: pass labeller= (a teacher "
                                 "model, a pipeline or a callable), or set distill=False.")
            return None
        if not isinstance(labeller, Labeller):
            from .labellers import as_labeller

            labeller = as_labeller(labeller, tokenizer=self.processing_class, max_length=self.args.agora_max_length)
        space = self._space
        if space.kind == CLASSIFICATION:
            width = np.asarray(labeller.probabilities(probe)).shape[-1]
        elif space.kind == REGRESSION:
            width = 1 if np.asarray(labeller.scores(probe)).size == len(probe) else -1
        else:
            width = np.asarray(labeller.tag_probabilities(probe)[0]).shape[-1]
        if width != space.num_labels or labeller.num_labels != space.num_labels:
            raise AgoraError(f"The labeller gives {width} classes but the student has num_labels="
                             f"{space.num_labels}: use a labeller for the same task, or give the student that "
                             "many labels.")
        names = labeller.label_names
        if names and space.names and [n.lower() for n in names] != [n.lower() for n in space.names]:
            raise AgoraError(f"The labeller's classes {list(names)} differ from the student's id2label "
                             f"{list(space.names)}: order the student's labels as the labeller's.")
        return labeller

    def _label(self, labeller: Labeller, points: list[Point]) -> Labelled:
        return label_points(self._space.kind, labeller, points, self._space.num_labels, self._score_range)

    def _default_sampler(self, labeller: Labeller, model: nn.Module) -> Sampler:
        """``args.agora_sampler`` (default: nearest neighbours over the pool when there is one, else token edits);
        the nearest-neighbour sampler is built over the pool in ``args.agora_pool_space``."""
        from .samplers import NearestNeighbourSampler, get_sampler

        name = self.args.agora_sampler or (NearestNeighbourSampler.name if self._pool else "token-edits")
        if name != NearestNeighbourSampler.name:
            self.sampler = get_sampler(name)
            return self.sampler
        if not self._pool:
            raise AgoraError("The 'nearest-neighbours' sampler draws from an unlabelled pool: give "
                             "AgoraArguments.agora_unlabelled a file, or AgoraTrainer(unlabelled=texts).")
        space = self.args.agora_pool_space
        if space != "student":
            encoder, tokenizer = getattr(labeller, "model", None), getattr(labeller, "tokenizer", None)
            if not isinstance(encoder, nn.Module) or tokenizer is None:
                raise AgoraError(f"agora_pool_space={space!r} embeds the pool with the labeller's model, and the "
                                 f"labeller {type(labeller).__name__} has none: pass a teacher model as labeller=, "
                                 "or set agora_pool_space='student'.")
        else:
            encoder, tokenizer = _unwrapped(model), self.processing_class
            self._sampler_follows_student = True
        self.sampler = NearestNeighbourSampler(encoder, tokenizer, self._pool, max_length=self.args.agora_max_length,
                                               batch_size=64, draw_once=True, as_point=self._pool_point_maker(),
                                               features=POOL_SPACE_FEATURES[space])
        return self.sampler

    def _pool_point_maker(self) -> Callable[[str, PreTrainedTokenizerBase, int], TokenizedPoint] | None:
        """How a pool sentence becomes a point when the splits hold words (its words, to be tagged), else None:
        raw text is a point as it is."""
        return pool_words_point if self._layout.form == "words" else None

    def _read_pool(self, labeller: Labeller | None, report: AgoraReport) -> list[Point] | None:
        """The unlabelled pool, less the task's own texts (saying how many), or None without one."""
        if self.unlabelled is None:
            return None
        from .samplers import read_unlabelled

        if self._layout.form == "tokenized":
            raise AgoraError("An unlabelled pool is raw text, and the datasets hold tokenized rows: give the "
                             "datasets as raw text (or, for token classification, as words: 'tokens' and "
                             "'ner_tags'), or leave the pool out.")
        if labeller is None:
            raise AgoraError("An unlabelled pool becomes training points only through a labeller: pass "
                             "labeller= (a teacher model), or leave the pool out.")
        pool = read_unlabelled(self.unlabelled, self.args.agora_text_columns)
        kept = [point for point in pool if not any(text in self._task_texts for text in sides(point))]
        report.notes.append(f"unlabelled pool: {len(kept)} texts" + (
            f" ({len(pool) - len(kept)} left out: also in the training, development or test split)"
            if len(kept) < len(pool) else ""))
        if not kept:
            raise AgoraError("Every text of the unlabelled pool is also in the task's splits: give other text.")
        if self.args.agora_sampler not in (None, "nearest-neighbours") and not self.args.agora_pool_labelled:
            report.notes.append(f"agora_sampler={self.args.agora_sampler!r}: the pool is not sampled from")
        return kept

    def _label_pool_rows(self, train: Split, teacher: list[Any] | None, labeller: Labeller,
                         report: AgoraReport) -> tuple[Split, list[Any] | None]:
        """``args.agora_pool_labelled`` pool texts (seeded draw; -1: all) labelled by the labeller and appended
        to the training set; they leave the pool the sampler draws from."""
        count = self.args.agora_pool_labelled
        order = np.random.default_rng(self.args.seed).permutation(len(self._pool))
        chosen = [self._pool[i] for i in (order if count < 0 else order[:count])]
        make = self._pool_point_maker()
        points = chosen if make is None else [make(text, self.processing_class, self.args.agora_max_length)
                                              for text in chosen]
        labelled = self._label(labeller, points)
        keep = labelled.keep(self.args.agora_min_confidence)
        points = [point for point, k in zip(points, keep) if k]
        labelled = labelled.subset(keep)
        report.pool_labelled, report.pool_rows_kept = len(chosen), len(points)
        taken = {id(point) for point in chosen}
        self._pool = [point for point in self._pool if id(point) not in taken]
        train = train.extended(relabelled(self._space.kind, points, labelled.labels), labelled.labels)
        return train, ([*teacher, *labelled.targets] if teacher is not None else None)

    # ---- ranking and records ---------------------------------------------------------------------------------

    def _metric(self) -> tuple[str, bool]:
        """The development metric's key (``eval_...``) and whether greater is better, as Trainer reads them."""
        name = self.args.metric_for_best_model or "loss"
        greater = self.args.greater_is_better
        if greater is None:
            greater = name not in ("loss", "eval_loss")
        return (name if name.startswith("eval_") else f"eval_{name}"), bool(greater)

    def _rank(self, score: float) -> float:
        """Sort key, best first; a NaN score ranks last."""
        if not math.isfinite(score):
            return math.inf
        return -score if self._metric()[1] else score

    def _record_round(self, report: AgoraReport, entry: AgoraRound) -> None:
        self.log({"agora_round": entry.round, "agora_mistakes": entry.mistakes, "agora_generated": entry.generated,
                  "agora_kept": entry.kept, "agora_train_size": entry.train_size,
                  "agora_best_score": entry.best_score, "agora_settings": len(entry.settings)})
        if self.is_world_process_zero():
            report.save(self.args.output_dir)

    def _write_points(self, round_index: int, origin: list[tuple[int, Point]], labelled: Labelled,
                      keep: np.ndarray) -> None:
        """Every generated point of a round, with its source mistake, label, confidence and fate, as JSON lines
        (a tokenized point as its ids, its decoded text and its tags)."""
        if not self.is_world_process_zero():
            return
        folder = Path(self.args.output_dir) / "agora" / f"round-{round_index}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"source": k, "point": self._readable(point), "label": label,
                             "confidence": float(confidence), "kept": bool(kept)})
                 for (k, point), label, confidence, kept in zip(origin, labelled.labels, labelled.confidence, keep)]
        atomic_write(folder / "points.jsonl", "".join(line + "\n" for line in lines))

    def _readable(self, point: Point) -> Any:
        if not isinstance(point, TokenizedPoint):
            return point
        return {"input_ids": list(point.input_ids), "text": self.processing_class.decode(point.input_ids)}


class TeacherCollator:
    """``collator`` with the labeller's soft targets (:data:`TEACHER_COLUMN`) batched beside it: one row per
    example, or for token classification one row per token, padded with zeros to the batch's length on the
    tokenizer's padding side."""

    def __init__(self, collator: Any, padding_side: str = "right") -> None:
        self.collator, self.padding_side = collator, padding_side

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if not features or TEACHER_COLUMN not in features[0]:
            return self.collator(features)
        targets = [torch.as_tensor(feature[TEACHER_COLUMN], dtype=torch.float32) for feature in features]
        batch = self.collator([{k: v for k, v in f.items() if k != TEACHER_COLUMN} for f in features])
        if targets[0].dim() == 2:  # per token
            width = batch["input_ids"].shape[1]
            padded = targets[0].new_zeros((len(targets), width, targets[0].shape[1]))
            for row, target in enumerate(targets):
                length = min(len(target), width)
                if self.padding_side == "left":
                    padded[row, width - length:] = target[-length:] if length else target[:0]
                else:
                    padded[row, :length] = target[:length]
            batch[TEACHER_COLUMN] = padded
        else:
            batch[TEACHER_COLUMN] = torch.stack(targets)
        return batch


class RunTrainer(Trainer):
    """A :class:`~transformers.Trainer` for one setting of one round. With ``distill=(alpha, temperature)``,
    training rows carrying the labeller's soft targets (column ``teacher_logits``) are trained on the task's
    distillation loss (:func:`hf_ose.agora.kinds.distillation_loss` for ``kind``); rows without them (the
    development set) use the model's own loss."""

    def __init__(self, *args: Any, distill: tuple[float, float] | None = None, kind: str = CLASSIFICATION,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.distill, self.kind = distill, kind
        if distill is not None:
            self.loss_is_scaled_for_ga = False  # our loss is a per-batch mean
            side = getattr(self.processing_class, "padding_side", "right")
            self.data_collator = TeacherCollator(self.data_collator, side)

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if TEACHER_COLUMN not in self._signature_columns:
            self._signature_columns.append(TEACHER_COLUMN)

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        teacher = inputs.pop(TEACHER_COLUMN, None)
        if teacher is None or self.distill is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = distillation_loss(self.kind, outputs.logits, labels, teacher.to(outputs.logits.device),
                                 *self.distill)
        return (loss, outputs) if return_outputs else loss
