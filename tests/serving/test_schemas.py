"""The request schema refuses a title or description with nothing to see, as it refuses an
empty one (issue 26: a title of zero-width spaces was accepted, one of spaces refused)."""

import pytest
from pydantic import ValidationError

from madewithml.serving.schemas import Champion, Project


@pytest.mark.parametrize("text", ["   ", "\u200b\u200b", "\ufeff", "\u200d\u2060", "\x00"])
@pytest.mark.parametrize("field", ["title", "description"])
def test_text_with_nothing_to_see_is_refused_naming_the_field(field, text):
    project = {"title": "YOLO", "description": "detection", field: text}
    with pytest.raises(ValidationError) as error:
        Project(**project)
    (problem,) = error.value.errors()
    assert problem["loc"] == (field,)


def test_visible_text_with_invisible_characters_around_it_is_kept():
    project = Project(title="\u200bYOLO\u200b", description="detection")
    assert project.title == "\u200bYOLO\u200b"


def test_the_champion_settings_of_conf_base_are_valid_and_bad_ones_are_named():
    import yaml  # noqa: PLC0415
    from conftest import PROJECT_ROOT  # noqa: PLC0415

    serving = yaml.safe_load((PROJECT_ROOT / "conf/base/serving.yml").read_text())["serving"]
    champion = Champion.model_validate(serving["champion"])
    assert champion.follow is True and champion.check_projects
    for bad, field in [
        ({"poll_interval_s": 0}, "poll_interval_s"),
        ({"poll_interval_s": "30"}, "poll_interval_s"),
        ({"check_projects": []}, "check_projects"),
        ({"check_projects": [{"title": " ", "description": "x"}]}, "check_projects"),
        ({"follow": "yes"}, "follow"),
    ]:
        with pytest.raises(ValidationError) as error:
            Champion.model_validate(serving["champion"] | bad)
        assert error.value.errors()[0]["loc"][0] == field, bad
