import json
from pathlib import Path

import pytest

import hf_ose
from hf_ose import ParetoFront
from hf_ose.objectives.counting import ABnCReport
from hf_ose.architecture import Architecture
from hf_ose.budgets import BudgetError
from hf_ose.record import RecordFormatError, SearchRecord, SearchSettings

#: front.json as `hf-ose extract bert-base-uncased` wrote it before records were typed (hf-ose 0.1.0: an
#: ``info`` dict), a real run over the grid depth {1, 2} x hidden {128, 256} x intermediate {256}, epsilon 0.5.
OLD_FRONT = Path(__file__).parent / "data" / "front-hf-ose-0.1.0.json"


def test_a_front_written_before_records_were_typed_still_loads():
    front = ParetoFront.from_json(OLD_FRONT)
    old = json.loads(OLD_FRONT.read_text())
    assert [p.row() for p in front] == [{k: v for k, v in p.items() if k != "config"} for p in old["points"]]
    record = front.record
    assert record.hf_ose_version is None and record.settings.latency_samples is None
    assert record.settings == SearchSettings(0.5, "fptas", old["info"]["grid"], old["info"]["error_objective"], True)
    assert (record.candidates, record.evaluations, record.evaluation_bound) == (4, 2, 4)
    assert record.parent.architecture == Architecture(12, 12, 768, 3072) and record.parent.params == 109482240
    assert isinstance(record.abnc, ABnCReport) and record.abnc.holds
    assert record.latency["measured"] == 3 and record.monotonicity.violations == []
    assert front.reference.error is None  # not recorded then
    assert front.best("w").architecture == Architecture(2, 4, 256, 256)
    assert front.choose(max_params=5e6).architecture == Architecture(2, 2, 128, 256)
    with pytest.raises(BudgetError, match="does not know .*Re-run the search"):
        front.choose(max_error_increase=0.1)


def test_an_old_front_saved_again_is_written_in_the_typed_form(tmp_path):
    front = ParetoFront.from_json(OLD_FRONT)
    front.to_json(tmp_path / "front.json")
    data = json.loads((tmp_path / "front.json").read_text())
    assert "info" not in data and data["hf_ose_version"] == hf_ose.__version__
    assert data["record"]["hf_ose_version"] == hf_ose.__version__
    assert data["record"]["settings"]["hf_ose_version"] == hf_ose.__version__
    again = ParetoFront.from_json(tmp_path / "front.json")
    assert again.record.settings == front.record.settings and again.record.abnc == front.record.abnc
    assert again.record.hf_ose_version == hf_ose.__version__
    assert [p.row() for p in again] == [p.row() for p in front]


def test_settings_and_record_round_trip_through_json():
    record = ParetoFront.from_json(OLD_FRONT).record
    text = json.dumps(record.to_dict())
    again = SearchRecord.from_dict(json.loads(text))
    assert again.settings == record.settings and again.parent == record.parent and again.failed == record.failed
    settings = SearchSettings.from_dict(json.loads(json.dumps(record.settings.to_dict())))
    assert settings == record.settings


def test_a_json_file_that_is_not_a_front_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(RecordFormatError, match=r"not a front written by hf-ose \(found \['model_type'\]"):
        ParetoFront.from_json(path)
    path.write_text("{not json")
    with pytest.raises(RecordFormatError, match="is not valid JSON"):
        ParetoFront.from_json(path)


def test_a_record_from_a_newer_version_or_a_damaged_one_is_refused_clearly(tmp_path):
    data = json.loads(OLD_FRONT.read_text())
    front = ParetoFront.from_dict(data)
    newer = front.to_dict()
    newer["record"]["hf_ose_version"] = "9.0.0"
    newer["record"]["energy_joules"] = 1.5
    with pytest.raises(RecordFormatError, match=r"does not know: \['energy_joules'\].*'9.0.0'.*upgrade hf-ose"):
        ParetoFront.from_dict(newer)
    damaged = front.to_dict()
    del damaged["record"]["settings"]["epsilon"]
    with pytest.raises(RecordFormatError, match=r"settings lacks \['epsilon'\]"):
        ParetoFront.from_dict(damaged)
