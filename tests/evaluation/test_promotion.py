import pytest

from madewithml.evaluation.promotion import decide_promotion


@pytest.mark.parametrize(
    ("candidate", "baseline", "champion", "promote", "why"),
    [
        (0.95, 0.90, None, True, "no champion yet"),
        (0.95, 0.90, 0.94, True, "beats the baseline 0.9000 and champion 0.9400"),
        (0.93, 0.90, 0.94, False, "does not beat the champion's 0.9400"),
        (0.94, 0.90, 0.94, False, "does not beat the champion's"),  # a tie keeps the champion
        (0.89, 0.90, None, False, "does not beat the baseline's 0.9000"),
        (0.90, 0.90, 0.80, False, "does not beat the baseline's"),
    ],
)
def test_promotion_rule(candidate, baseline, champion, promote, why):
    decision = decide_promotion(candidate, baseline, champion)
    assert decision["promote"] is promote
    assert why in decision["reason"]
