import json

import pytest

from hf_ose.architecture import Architecture
from hf_ose.exceptions import CacheMismatchError, OutputNotWritableError
from hf_ose.search.cache import CACHE_FILE, ScoreCache

SEARCH = {"parent": "abc"}
OBJECTIVE = {"objective": "test", "steps": 3}
ARCH = Architecture(2, 4, 128, 256)


def test_scores_survive_a_restart_and_are_keyed_by_objective(tmp_path):
    cache = ScoreCache(tmp_path, SEARCH)
    cache.put("error", OBJECTIVE, ARCH, 0.5, seconds=1.0)
    reopened = ScoreCache(tmp_path, SEARCH)
    assert reopened.get("error", OBJECTIVE, ARCH)["value"] == 0.5
    assert reopened.get("error", {**OBJECTIVE, "steps": 4}, ARCH) is None
    assert reopened.get("latency", OBJECTIVE, ARCH) is None


def test_a_cache_from_a_different_search_is_refused(tmp_path):
    ScoreCache(tmp_path, SEARCH).put("error", OBJECTIVE, ARCH, 0.5)
    with pytest.raises(CacheMismatchError, match="different search.*another cache_dir"):
        ScoreCache(tmp_path, {"parent": "other"})


def test_a_file_that_is_not_a_cache_is_refused(tmp_path):
    (tmp_path / CACHE_FILE).write_text("hello\n")
    with pytest.raises(CacheMismatchError, match="not an hf-ose cache"):
        ScoreCache(tmp_path, SEARCH)


def test_a_cache_folder_that_cannot_be_made_is_refused_naming_the_option(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OutputNotWritableError, match="a-file as the search cache .*--cache-dir"):
        ScoreCache(tmp_path / "a-file", SEARCH)


def test_corrupt_and_foreign_lines_are_reported_and_skipped(tmp_path, caplog):
    cache = ScoreCache(tmp_path, SEARCH)
    cache.put("error", OBJECTIVE, ARCH, 0.5)
    other = Architecture(1, 4, 128, 256)
    cache.put("error", OBJECTIVE, other, 0.7)
    path = tmp_path / CACHE_FILE
    lines = path.read_text().splitlines()
    tampered = json.loads(lines[2])
    tampered["value"] = 0.1  # edited by hand: the checksum no longer matches
    foreign = json.loads(lines[1])
    foreign["search"] = "someone else"
    path.write_text("\n".join([lines[0], json.dumps(foreign), json.dumps(tampered), '{"partial": ']))
    reopened = ScoreCache(tmp_path, SEARCH)
    assert reopened.get("error", OBJECTIVE, ARCH) is None and reopened.get("error", OBJECTIVE, other) is None
    reasons = [reason for _, reason in reopened.skipped_lines]
    assert reasons == ["checksum mismatch", "checksum mismatch", "not valid JSON (a partial write?)"]
    assert "line 4 skipped: not valid JSON" in caplog.text
    # The partial line was closed off: the next record lands on a line of its own and is read back.
    reopened.put("error", OBJECTIVE, ARCH, 0.25)
    assert ScoreCache(tmp_path, SEARCH).get("error", OBJECTIVE, ARCH)["value"] == 0.25


def test_a_line_of_another_search_with_a_valid_checksum_is_skipped(tmp_path):
    cache = ScoreCache(tmp_path, SEARCH)
    stranger = ScoreCache(tmp_path / "other", {"parent": "other"})
    stranger.put("error", OBJECTIVE, ARCH, 0.9)
    foreign_line = (tmp_path / "other" / CACHE_FILE).read_text().splitlines()[1]
    with (tmp_path / CACHE_FILE).open("a") as handle:
        handle.write(foreign_line + "\n")
    reopened = ScoreCache(tmp_path, SEARCH)
    assert reopened.get("error", OBJECTIVE, ARCH) is None
    assert reopened.skipped_lines == [(2, "written by a different search")]
    assert len(cache) == 0


def test_in_memory_cache_writes_no_file(tmp_path):
    cache = ScoreCache(None, SEARCH)
    cache.put("error", OBJECTIVE, ARCH, 0.5)
    assert cache.get("error", OBJECTIVE, ARCH)["value"] == 0.5 and not list(tmp_path.iterdir())
