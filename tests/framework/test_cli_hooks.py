"""Which pipelines `kedro run` is asked for, however the options are written."""

from hypothesis import given
from hypothesis import strategies as st

from madewithml.framework.cli_hooks import requested_pipelines

NAMES = st.lists(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), min_size=1, max_size=4)


@given(names=NAMES, form=st.sampled_from(["--pipelines=", "--pipelines ", "-p ", "--pipeline="]))
def test_every_way_of_naming_pipelines_is_read(names, form):
    if form.startswith(("-p", "--pipeline=")):
        names = names[:1]  # one pipeline per -p/--pipeline
    option, space, _ = form.partition(" ")
    value = ",".join(names)
    args = [option, value] if space else [option + value]
    assert requested_pipelines(["--env", "local", *args, "--tags", "x"]) == names


def test_no_pipeline_option_means_none_asked():
    assert requested_pipelines(["--params=training.num_epochs=1", "-e", "cluster"]) == []
