"""The stage ledger: finished stages are reused, changed settings re-run only what they affect."""

from __future__ import annotations

import json

import pytest

from hf_ose.compression.ledger import LEDGER_NAME, StageLedger, StageLedgerError

IDENTITY = {"parent": "minilm", "task": "sst2"}


class Calls:
    """Stage functions that write a file and count how often they ran."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    def stage(self, name: str, value: str):
        def run(folder):
            self.count[name] = self.count.get(name, 0) + 1
            (folder / "out.txt").write_text(value)
            return {"value": value}
        return run


def run_pipeline(folder, calls: Calls, first_setting: str = "a", second_setting: str = "b", **kwargs):
    ledger = StageLedger(folder, IDENTITY, **kwargs)
    first = ledger.run("first", {"x": first_setting}, [], calls.stage("first", first_setting))
    second = ledger.run("second", {"y": second_setting}, [first.fingerprint], calls.stage("second", second_setting))
    return first, second


def test_a_rerun_reuses_every_finished_stage(tmp_path):
    calls = Calls()
    first, second = run_pipeline(tmp_path, calls)
    again = run_pipeline(tmp_path, calls)
    assert calls.count == {"first": 1, "second": 1}
    assert again == (first, second)
    assert (tmp_path / "second" / "out.txt").read_text() == "b"


def test_a_changed_setting_reruns_its_stage_and_those_after_it_only(tmp_path):
    calls = Calls()
    run_pipeline(tmp_path, calls)
    run_pipeline(tmp_path, calls, second_setting="c")
    assert calls.count == {"first": 1, "second": 2}
    run_pipeline(tmp_path, calls, first_setting="z", second_setting="c")
    assert calls.count == {"first": 2, "second": 3}


def test_an_interrupted_stage_gets_its_folder_back_when_settings_match_and_a_clean_one_when_not(tmp_path):
    ledger = StageLedger(tmp_path, IDENTITY)

    def killed(folder):
        (folder / "checkpoint").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ledger.run("train", {"lr": 1}, [], killed)
    seen = []
    resumed = StageLedger(tmp_path, IDENTITY)
    resumed.run("train", {"lr": 1}, [], lambda folder: seen.append((folder / "checkpoint").exists()) or {})
    assert seen == [True]
    with pytest.raises(KeyboardInterrupt):
        resumed.run("other", {"lr": 1}, [], killed)
    StageLedger(tmp_path, IDENTITY).run("other", {"lr": 2}, [], lambda folder: seen.append((folder / "checkpoint").exists()) or {})
    assert seen == [True, False]


def test_a_folder_of_another_run_or_with_foreign_files_is_refused_unless_overwrite(tmp_path):
    run_pipeline(tmp_path / "run", Calls())
    with pytest.raises(StageLedgerError, match="another run .*parent=minilm, task=sst2.*--overwrite"):
        StageLedger(tmp_path / "run", {"parent": "minilm", "task": "rte"})
    calls = Calls()
    StageLedger(tmp_path / "run", {"parent": "minilm", "task": "rte"}, overwrite=True).run(
        "first", {"x": "a"}, [], calls.stage("first", "a"))
    assert calls.count == {"first": 1}
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(StageLedgerError, match="not empty"):
        StageLedger(tmp_path / "foreign", IDENTITY)
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"


def test_the_ledger_records_version_identity_and_outputs(tmp_path):
    run_pipeline(tmp_path, Calls())
    data = json.loads((tmp_path / LEDGER_NAME).read_text())
    assert data["identity"] == IDENTITY and data["hf_ose_version"]
    assert data["stages"]["second"]["outputs"] == {"value": "b"}
    assert all(0 <= stage["seconds"] < 60 for stage in data["stages"].values())


def test_a_ledger_written_before_stage_times_were_recorded_still_resumes(tmp_path):
    calls = Calls()
    run_pipeline(tmp_path, calls)
    data = json.loads((tmp_path / LEDGER_NAME).read_text())
    for stage in data["stages"].values():
        del stage["seconds"]
    (tmp_path / LEDGER_NAME).write_text(json.dumps(data))
    first, second = run_pipeline(tmp_path, calls)
    assert calls.count == {"first": 1, "second": 1} and first.seconds is None


def test_other_spellings_of_the_parents_folder_resume_the_same_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "minilm").mkdir()
    calls = Calls()
    StageLedger(tmp_path / "run", {"parent": "minilm", "task": "sst2"}).run(
        "first", {"parent": "minilm"}, [], calls.stage("first", "a"))
    for spelling in ("./minilm", "minilm/", str(tmp_path / "minilm")):
        ledger = StageLedger(tmp_path / "run", {"parent": spelling, "task": "sst2"})
        assert ledger.identity == {"parent": "minilm", "task": "sst2"}  # the run's own spelling, for its fingerprints
        ledger.run("first", {"parent": ledger.identity["parent"]}, [], calls.stage("first", "a"))
    assert calls.count == {"first": 1}
    (tmp_path / "other").mkdir()
    with pytest.raises(StageLedgerError, match="another run"):
        StageLedger(tmp_path / "run", {"parent": "other", "task": "sst2"})
    with pytest.raises(StageLedgerError, match="another run"):
        StageLedger(tmp_path / "run", {"parent": "org/minilm", "task": "sst2"})  # a Hub id compares as given
