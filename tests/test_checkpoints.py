"""Resuming picks the newest complete Trainer checkpoint and removes the partial ones a kill while saving leaves."""

from __future__ import annotations

import json
import logging

from hf_ose.finetune import last_complete_checkpoint


def _checkpoint(folder, step: int, state: str | None) -> None:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"weights")
    if state is not None:
        (path / "trainer_state.json").write_text(state)


def test_the_newest_complete_checkpoint_is_chosen_and_partial_ones_removed(tmp_path, caplog):
    _checkpoint(tmp_path, 2, json.dumps({"global_step": 2}))
    _checkpoint(tmp_path, 10, json.dumps({"global_step": 10}))
    _checkpoint(tmp_path, 12, '{"global_st')  # cut short
    _checkpoint(tmp_path, 14, None)  # killed before the state was written
    (tmp_path / "checkpoint-notes").mkdir()  # not a checkpoint
    with caplog.at_level(logging.WARNING):
        assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-2", "checkpoint-notes"]
    assert caplog.text.count("Removing the partial checkpoint") == 2


def test_no_checkpoint_means_a_fresh_start(tmp_path):
    assert last_complete_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 3, None)
    assert last_complete_checkpoint(tmp_path) is None and not (tmp_path / "checkpoint-3").exists()
