"""Finding a stored run's data: one order of candidates for every reader, matched by fingerprint, never guessed."""

from __future__ import annotations

import pytest

from benchmark.data.open import open_dataset
from benchmark.errors import BusbenchError
from benchmark.evaluation.stored_run import CHECKOUT, dataset_candidates, run_dataset
from tests.helpers import tiny_busi


@pytest.fixture()
def two_copies(tmp_path):
    """A BUSI-layout folder, recorded relative to a working directory, and other data with the same layout."""
    work = tmp_path / "work"
    data = tiny_busi(work / "data" / "BUSI")
    other = tiny_busi(tmp_path / "other" / "BUSI", seed=1)
    doc = {"dataset": {"spec": "data/BUSI", "fingerprint": open_dataset(str(data)).fingerprint()}}
    return work, data, other, doc


def test_candidates_follow_one_order(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUSBENCH_BUSI", "/elsewhere/BUSI")
    doc = {"dataset": {"spec": "../shared/data/BUSI"}}
    assert dataset_candidates(doc) == ["/elsewhere/BUSI", str(tmp_path / "../shared/data/BUSI"),
                                       str(CHECKOUT / "../shared/data/BUSI")]
    assert dataset_candidates(doc, first=("/board/data",))[0] == "/board/data"
    assert dataset_candidates(doc, "given") == ["given"]  # what the user typed is the only candidate
    assert dataset_candidates({"dataset": {"spec": "synthetic:n=30"}})[-1] == "synthetic:n=30"


def test_the_first_candidate_with_the_recorded_fingerprint_is_opened(monkeypatch, two_copies):
    work, data, other, doc = two_copies
    monkeypatch.chdir(work)
    monkeypatch.setenv("BUSBENCH_BUSI", str(other))  # other pixels: passed over for the recorded location
    assert run_dataset(work / "run", doc).fingerprint() == doc["dataset"]["fingerprint"]
    monkeypatch.chdir(other.parent)  # the recorded relative path now names nothing
    with pytest.raises(BusbenchError) as err:
        run_dataset(work / "run", doc)
    assert "fingerprint differs" in str(err.value) and "not found" in str(err.value)
    monkeypatch.setenv("BUSBENCH_BUSI", str(data))
    assert run_dataset(work / "run", doc).fingerprint() == doc["dataset"]["fingerprint"]


def test_given_data_that_differs_is_an_error_not_a_fallback(monkeypatch, two_copies):
    work, data, other, doc = two_copies
    monkeypatch.chdir(work)
    with pytest.raises(BusbenchError, match="fingerprint differs"):
        run_dataset(work / "run", doc, str(other))
    with pytest.raises(BusbenchError, match="give --dataset"):
        run_dataset(work / "run", {"dataset": {"fingerprint": "x"}})
