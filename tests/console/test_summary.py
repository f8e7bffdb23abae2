"""The summary that ends a `kedro run`: the served score against the baseline, the promotion and
its reason, where the model and the run are, and what comes next."""

from madewithml.console.summary import run_summary

REPORT = {
    "overall": {"f1": 0.9693},
    "most_likely": {"overall": {"f1": 0.9701}},
    "baseline": {"overall": {"f1": 0.8953}},
    "answered_other": {"served": 0.152, "true": 0.136},
    "model": {"model_uri": "models:/madewithml-tagger/3", "threshold": 0.364},
    "promotion": {"promote": True, "reason": "served holdout F1 0.9693 beats ..."},
}


def test_an_evaluated_run_says_its_served_score_and_whether_it_was_promoted():
    lines = run_summary(REPORT, "a" * 32, None)
    assert lines == [
        "run summary",
        "  holdout weighted F1 0.969 as served at its threshold 0.36 (most likely tag 0.970; "
        "TF-IDF baseline 0.895); answered other 15% (truly other 14%)",
        "  promoted to champion: served holdout F1 0.9693 beats ...",
        "  model models:/madewithml-tagger/3",
        f"  MLflow run {'a' * 32}",
        "  next: kedro serve  |  kedro viz run  |  kedro mlflow ui",
    ]


def test_a_run_that_only_trained_points_at_the_evaluation():
    lines = run_summary(None, "b" * 32, "models:/madewithml-tagger/4")
    assert lines[1] == "  model models:/madewithml-tagger/4"
    assert lines[-1].startswith("  next: kedro run --pipelines=evaluation")


def test_a_model_that_was_not_promoted_says_why_and_a_run_with_nothing_says_nothing():
    report = {**REPORT, "promotion": {"promote": False, "reason": "does not beat the champion"}}
    assert "  not promoted: does not beat the champion" in run_summary(report, None, None)
    assert run_summary(None, "c" * 32, None) == []
