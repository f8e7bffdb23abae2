"""Training in a terminal draws a bar over the batches (counted in the Ray Train worker, drawn
by this console); a run to a pipe or a file prints the per-epoch lines only."""

from __future__ import annotations

import re

import pytest
from factories import tiny_parameters, write_raw_data
from kedro_project import copy_project, kedro_in_terminal

pytestmark = pytest.mark.timeout(900)

# tqdm's finished bar: "epoch 1/1: 100%|█████| 6.00/6.00 [00:02<00:00, 2.9batch/s]" (or, slower,
# "1.47s/batch")
FINISHED_BAR = re.compile(
    r"epoch 1/1: 100%\|█+\| (?P<done>[\d.]+)/(?P<total>[\d.]+) \[[^]]*batch[^]]*\]"
)
COLOUR = re.compile(r"\x1b\[[0-9;]*m")
# A worker's line with nothing after its prefix, e.g. "(RayTrainWorker pid=42) ".
EMPTY_WORKER_LINE = re.compile(r"^\(\w+ pid=\d+(?:, ip=[\d.]+)?\)\s*$", re.MULTILINE)


def test_training_in_a_terminal_draws_a_bar_over_the_batches(tmp_path, tiny_encoder, ray_session):
    raw = write_raw_data(tmp_path / "raw")
    project = copy_project(tmp_path / "project")
    (project / "conf/local/parameters_test.yml").write_text(tiny_parameters(tiny_encoder))
    env = {"RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    returncode, shown = kedro_in_terminal(
        project, "run", "--pipelines=training", data_dir=raw, env=env
    )
    assert returncode == 0, shown[-4000:]
    bars = [match.groupdict() for match in FINISHED_BAR.finditer(shown)]
    assert bars, shown[-4000:]
    assert {(bar["done"], bar["total"]) for bar in bars} == {(bars[0]["total"],) * 2}
    assert "__ray_tqdm_magic_token__" not in shown  # drawn, not printed as the worker's state
    # Drawn from one copy of the state: no empty worker line per update (Ray Train's print
    # patch), and once finished the bar is not drawn again unfinished (a late copy of an old
    # state making a new bar).
    lines = COLOUR.sub("", shown).replace("\r\n", "\n").replace("\r", "\n")
    assert not EMPTY_WORKER_LINE.findall(lines)
    after = lines[lines.index("epoch 1/1: 100%") :]
    assert not re.search(r"epoch 1/1: +\d\d?%", after)
    assert "epoch 1/1  train_loss" in shown  # and the epoch's line as before
