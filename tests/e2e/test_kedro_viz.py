"""Kedro-Viz as a person uses it: `kedro viz run` on loopback, opened in a real headless Chromium,
on a project copy in which `kedro run` ran on the real data (so the previews have data)."""

from __future__ import annotations

import json

import pytest
from browser import (
    artifacts_dir,
    background_command,
    free_port,
    headless_chromium,
    wait_for_json,
)
from kedro_project import KEDRO, kedro, kedro_env

pytestmark = pytest.mark.real_data

PIPELINES = [
    "data_processing",
    "training",
    "tuning",
    "evaluation",
    "inference",
    "monitoring",
    "continuous_training",
]
# Kedro's data engineering convention, in the order the data flows.
LAYERS = ["raw", "primary", "feature", "model_input", "models", "model_output", "reporting"]


@pytest.fixture(scope="module")
def viz(real_default_run, real_data, tmp_path_factory):
    """The URL of `kedro viz run` serving the project copy; stopped (children too) at the end."""
    port = free_port(below=49151)
    log = tmp_path_factory.mktemp("viz") / "kedro-viz.log"
    command = [KEDRO, "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)]
    env = kedro_env(real_default_run, real_data)
    with background_command(command, cwd=real_default_run, env=env, log=log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_for_json(f"{url}/api/main", timeout=120, process=process, log=log)
        yield url
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]


@pytest.fixture(scope="module")
def browser(viz):
    """Chromium as a returning visitor without internet sees Kedro-Viz: no first-visit feature
    tour (turned off by its own setting, which Kedro-Viz keeps in localStorage), and no update
    banner. Offline, kedro-viz's /api/version turns a failed PyPI lookup into the version "None",
    which compares newer than the installed one ("Kedro-Viz None is here!") and arrives up to
    30 s late, over the flowchart. With /api/version unreachable the page shows no banner."""
    with headless_chromium() as driver:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/version"]})
        driver.get(f"{viz}/api/main")  # same origin, and no app running to save over it
        settings = json.dumps({"showFeatureHints": False})
        driver.execute_script("window.localStorage.setItem('KedroViz', arguments[0])", settings)
        yield driver


def _api(url: str, path: str) -> dict:
    import urllib.request  # noqa: PLC0415

    with urllib.request.urlopen(f"{url}{path}", timeout=30) as response:
        return json.load(response)


def _until(driver, condition, seconds: float, screenshot: str, message):
    """`condition`'s first truthy value within `seconds` (elements that React replaced in the
    meantime are looked up again); else save `screenshot` and fail with `message()`."""
    from selenium.common.exceptions import (  # noqa: PLC0415
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    wait = WebDriverWait(
        driver, seconds, poll_frequency=0.5, ignored_exceptions=[StaleElementReferenceException]
    )
    try:
        return wait.until(condition)
    except TimeoutException:
        driver.save_screenshot(str(artifacts_dir() / f"{screenshot}-failed.png"))
        pytest.fail(message())


def _open(driver, url: str, pipeline: str, expected: set[str]) -> dict:
    """Open `pipeline` in the flowchart and wait until every name in `expected` is drawn;
    returns {label: element} of the drawn nodes."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    # Tall enough that Kedro-Viz's zoom-to-fit leaves a pipeline legible in the screenshot.
    driver.set_window_size(1400, 2000)
    driver.get(f"{url}/?pid={pipeline}")

    last: dict = {}

    def drawn_and_still(driver) -> dict | bool:
        # Drawn, and not moving: the flowchart animates into place, and a click on a moving
        # node can land beside it.
        nodes = {n.text: n for n in driver.find_elements(By.CSS_SELECTOR, "g.pipeline-node")}
        if not expected <= set(nodes):
            return False
        now = {name: (nodes[name].rect["x"], nodes[name].rect["y"]) for name in expected}
        still = now == last
        last.clear()
        last.update(now)
        return nodes if still else False

    def missing() -> list[str]:
        drawn = {n.text for n in driver.find_elements(By.CSS_SELECTOR, "g.pipeline-node")}
        return sorted(expected - drawn)

    nodes = _until(
        driver,
        drawn_and_still,
        60,
        f"kedro-viz-{pipeline}",
        lambda: f"{pipeline}: not drawn and still after 60 s: {missing()}",
    )
    covering = [".feature-hints", ".update-reminder-unexpanded"]
    shown = [
        c
        for c in covering
        if any(e.is_displayed() for e in driver.find_elements(By.CSS_SELECTOR, c))
    ]
    assert not shown, f"{shown} cover the flowchart"
    return nodes


def _registered(pipeline: str) -> tuple[set[str], set[str]]:
    """What the project registers for `pipeline`, as Kedro-Viz's API names it (every function
    by its own name, every dataset) and as the flowchart draws it at first (a namespace, such
    as `holdout_preparation`, as one collapsed group hiding its functions and intermediate
    datasets). Parameters are hidden in the flowchart by default."""
    from kedro.framework.project import pipelines  # noqa: PLC0415

    registered = pipelines[pipeline]
    datasets = {name for name in registered.datasets() if not name.startswith("params:")}
    served = {node.name.rsplit(".", 1)[-1] for node in registered.nodes} | datasets
    drawn = {node.namespace or node.name for node in registered.nodes} | {
        name for name in datasets if "." not in name
    }
    return served, drawn


def test_every_pipeline_is_drawn_with_its_nodes_and_layers(viz, browser, project_root):
    registered = {p["id"] for p in _api(viz, "/api/main")["pipelines"]}
    assert {*PIPELINES, "__default__"} <= registered
    assert {"train_model", "tagger"} <= _registered("training")[1]
    assert "holdout_preparation" in _registered("evaluation")[1]
    for pipeline in [*PIPELINES, "__default__"]:
        expected, shown = _registered(pipeline)  # from the project, not from Kedro-Viz
        graph = _api(viz, f"/api/pipelines/{pipeline}")
        kinds = {"task", "data", "modularPipeline"}
        served = {n["name"] for n in graph["nodes"] if n["type"] in kinds}
        assert expected <= served, sorted(expected - served)
        drawn = _open(browser, viz, pipeline, shown)
        assert shown <= set(drawn)
        browser.save_screenshot(str(artifacts_dir() / f"kedro-viz-{pipeline}.png"))
    # The whole system (`kedro run`) has all seven layers, in the order the data flows (Kedro-Viz
    # lists every layer of the project, so also `intermediate`, which only continuous training's
    # merged data is in: its band stays empty here).
    default = _api(viz, "/api/pipelines/__default__")["layers"]
    assert [layer for layer in default if layer != "intermediate"] == LAYERS
    retrain = _api(viz, "/api/pipelines/continuous_training")["layers"]
    assert retrain == [LAYERS[0], "intermediate", *LAYERS[1:]]


@pytest.mark.parametrize(
    ("pipeline", "dataset", "selector", "kind"),
    [
        ("data_processing", "dataset", ".preview-table__row", "table"),
        ("data_processing", "class_balance_plot", "img.pipeline-metadata__plot-image", "plot"),
        ("evaluation", "threshold_plot", "img.pipeline-metadata__plot-image", "plot"),
        ("training", "calibration_plot", "img.pipeline-metadata__plot-image", "plot"),
        ("evaluation", "evaluation_report", ".object-key", "json"),
        ("evaluation", "evaluation_metrics", ".object-key", "json"),
    ],
)
def test_a_dataset_preview_opens(viz, browser, pipeline, dataset, selector, kind):
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    nodes = _open(browser, viz, pipeline, {dataset})
    # The minimap (bottom left) can cover a node at the bottom of a tall flowchart: hide it.
    browser.execute_script(
        "document.querySelectorAll('.pipeline-minimap-container, #pipeline-minimap-graph')"
        ".forEach(element => { element.style.display = 'none'; });"
    )
    nodes[dataset].click()

    def titles(driver) -> list[str]:
        # `.text` is "" until the panel has slid in, so wait for the title rather than read it once.
        selector = ".pipeline-metadata--visible .pipeline-metadata__title"
        return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]

    _until(
        browser,
        lambda d: dataset in titles(d),
        30,
        f"kedro-viz-preview-{dataset}",
        lambda: f"the metadata panel shows {titles(browser)} after 30 s, not {dataset!r}",
    )
    shown = WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, selector), f"no {kind} preview of {dataset}"
    )
    if kind == "plot":  # the PNG really decoded
        assert browser.execute_script("return arguments[0].naturalWidth", shown[0]) > 100
    elif kind == "table":
        assert len(shown) >= 5
    else:
        keys = {element.text.strip('"') for element in shown}
        assert keys & {"model", "evaluation.holdout_f1"}, keys
    browser.save_screenshot(str(artifacts_dir() / f"kedro-viz-preview-{dataset}.png"))


def test_kedro_viz_build_writes_a_static_site_with_every_pipeline(real_default_run, real_data):
    result = kedro(real_default_run, "viz", "build", data_dir=real_data, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    site = real_default_run / "build"
    assert (site / "index.html").is_file()
    for pipeline in PIPELINES:
        graph = json.loads((site / "api" / "pipelines" / pipeline).read_text())
        assert any(n["type"] == "task" for n in graph["nodes"]), pipeline
