"""The request schema refuses a title or description with nothing to see, as it refuses an
empty one (issue 26: a title of zero-width spaces was accepted, one of spaces refused)."""

import pytest
from pydantic import ValidationError

from madewithml.serving.schemas import Project


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
