"""The summary that ends a `kedro run`: what the evaluated model scored as served, whether it
was promoted and why, where the run and the model are, and what to do next."""

from __future__ import annotations


def run_summary(report: dict | None, run_id: str | None, model_uri: str | None) -> list[str]:
    """The lines of a run's summary from its evaluation report (`report`, None when the run
    evaluated nothing), its MLflow run and the model it logged; empty when there is nothing to
    say."""
    lines = []
    if report is not None:
        f1, baseline = report["overall"]["f1"], report["baseline"]["overall"]["f1"]
        most_likely = report["most_likely"]["overall"]["f1"]
        threshold = report["model"].get("threshold")
        at = "" if threshold is None else f" at its threshold {threshold:.2f}"
        lines.append(
            f"holdout weighted F1 {f1:.3f} as served{at} (most likely tag {most_likely:.3f}; "
            f"TF-IDF baseline {baseline:.3f}); answered other "
            f"{report['answered_other']['served']:.0%} (truly other "
            f"{report['answered_other']['true']:.0%})"
        )
        promotion = report["promotion"]
        verdict = "promoted to champion" if promotion["promote"] else "not promoted"
        lines.append(f"{verdict}: {promotion['reason']}")
        model_uri = model_uri or report["model"].get("model_uri")
    if model_uri:
        lines.append(f"model {model_uri}")
    if not lines:
        return []
    if run_id:
        lines.append(f"MLflow run {run_id}")
    following = "kedro serve  |  kedro viz run  |  kedro mlflow ui"
    if report is None:
        following = "kedro run --pipelines=evaluation  |  " + following
    return ["run summary", *(f"  {line}" for line in lines), f"  next: {following}"]
