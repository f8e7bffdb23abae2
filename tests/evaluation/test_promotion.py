import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from madewithml.evaluation.promotion import HOLDOUT_COLUMNS, decide_promotion, holdout_identity


@pytest.mark.parametrize(
    ("candidate", "baseline", "champion", "promote", "why"),
    [
        (0.95, 0.90, None, True, "no champion yet"),
        (0.95, 0.90, 0.94, True, "beats the baseline's 0.9000 and the champion's 0.9400 by"),
        (0.93, 0.90, 0.94, False, "does not beat the champion's 0.9400 on the same holdout"),
        (0.94, 0.90, 0.94, False, "does not beat the champion's"),  # a tie keeps the champion
        (0.89, 0.90, None, False, "does not beat the baseline's 0.9000"),
        (0.90, 0.90, 0.80, False, "does not beat the baseline's"),
    ],
)
def test_promotion_rule(candidate, baseline, champion, promote, why):
    decision = decide_promotion(candidate, baseline, champion, 191, 100)
    assert decision["promote"] is promote
    assert why in decision["reason"]


@given(
    candidate=st.floats(0, 1),
    champion=st.none() | st.floats(0, 1),
    rows=st.integers(0, 99),
)
def test_a_holdout_under_the_minimum_promotes_nothing(candidate, champion, rows):
    """Issue 26: a one-row holdout promoted a model with F1 1.0."""
    decision = decide_promotion(candidate, 0.0, champion, rows, 100)
    assert decision["promote"] is False
    assert (
        f"the holdout has {rows} rows, fewer than evaluation.min_holdout_rows 100"
        in (decision["reason"])
    )


@given(
    candidate=st.floats(0, 1),
    champion=st.floats(0, 1),
    margin=st.floats(0, 0.1),
    failed=st.lists(st.text(min_size=1), max_size=5),
)
def test_a_promotion_beats_the_champion_by_more_than_the_margin_and_passes_every_case(
    candidate, champion, margin, failed
):
    decision = decide_promotion(candidate, 0.0, champion, 191, 100, margin, failed)
    assert decision["promote"] is (candidate - champion > margin and candidate > 0 and not failed)
    if failed:
        assert f"it fails {len(failed)} behavioural case" in decision["reason"]
    elif candidate > 0 and not decision["promote"]:
        assert f"by more than evaluation.promotion_margin {margin:g}" in decision["reason"]


def _holdout(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(rows),
            "title": [f"t{i}" for i in range(rows)],
            "description": ["d"] * rows,
            "tag": ["mlops"] * rows,
            "text": ["x"] * rows,  # derived columns do not count
        }
    )


@given(rows=st.integers(1, 30), seed=st.integers(0, 1000), cell=st.data())
def test_the_holdout_digest_changes_with_any_cell_and_not_with_the_row_order(rows, seed, cell):
    holdout = _holdout(rows)
    identity = holdout_identity(holdout)
    assert identity["rows"] == rows
    shuffled = holdout.sample(frac=1, random_state=seed)
    assert holdout_identity(shuffled) == identity
    assert holdout_identity(holdout.assign(text="y")) == identity
    row = cell.draw(st.integers(0, rows - 1))
    column = cell.draw(st.sampled_from(HOLDOUT_COLUMNS))
    changed = holdout.astype(object)
    changed.loc[row, column] = str(changed.loc[row, column]) + "!"
    assert holdout_identity(changed)["digest"] != identity["digest"]
    assert holdout_identity(holdout.iloc[1:])["digest"] != identity["digest"]
