"""The service's statistics: requests, projects and batches counted, each finished request's
time split by phase, a request refused before its batch in no phase."""

import pytest

from madewithml.serving.timings import PHASES, ServiceStats

MARKS = {
    "received": 10.0,
    "parsed": 10.5,
    "checked": 10.75,
    "batched": 12.0,
    "predicted": 14.0,
    "answered": 14.25,
    "sent": 15.0,
}


def test_a_request_s_time_is_split_by_phase_and_adds_up():
    stats = ServiceStats()
    stats.batch(requests=2, projects=17)
    stats.record(MARKS)
    stats.record({mark: 2 * value for mark, value in MARKS.items()})
    seconds = stats.as_dict()["seconds"]
    assert seconds == pytest.approx(
        {
            "parse": 1.5,
            "check": 0.75,
            "queue": 3.75,
            "predict": 6.0,
            "answer": 0.75,
            "respond": 2.25,
        }
    )
    assert sum(seconds.values()) == pytest.approx(3 * (MARKS["sent"] - MARKS["received"]))
    assert stats.as_dict() | {"seconds": None} == {
        "requests": 2,
        "projects": 17,
        "batches": 1,
        "seconds": None,
    }


def test_a_request_refused_before_its_batch_counts_in_no_phase():
    stats = ServiceStats()
    stats.record({"received": 1.0, "parsed": 1.5, "sent": 2.0})  # a 422 from the check
    assert set(stats.as_dict()["seconds"].values()) == {0.0}
    assert [phase for phase, _, _ in PHASES] == list(stats.as_dict()["seconds"])
