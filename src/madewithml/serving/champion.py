"""Following the champion: `kedro serve` of an alias (``models:/<name>@champion``) moves to the
version the alias points to, without dropping a request.

`ChampionFollower` runs in the `kedro serve` process. Every `poll_interval_s`, or at once when a
caller with the reload token asked for it (`POST /reload`, through the `ReloadRequests` actor),
it pins the alias. A version it does not serve yet is checked first, in this process: its files
against their digests, then loaded and asked the known projects (`check_projects`), whose
answers must be well-formed. Only a version that passes is deployed, as a new version of the
Ray Serve application: Ray Serve's rolling update starts replicas of the new version (each loads
and warms the model before it takes a request), then drains and stops the old ones, whose
requests in flight finish on the version they started with. A version that fails is not
deployed: the service keeps serving the one it has, and the reason is logged (once per version).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import ray

logger = logging.getLogger(__name__)

RELOAD_ACTOR = "madewithml-reload-requests"
RELOAD_NAMESPACE = "madewithml"
RELOAD_PATH = "/reload"


@ray.remote(num_cpus=0)
class ReloadRequests:
    """Where `POST /reload` leaves its request for the `kedro serve` process to take."""

    def __init__(self) -> None:
        self.pending = False

    def request(self) -> None:
        self.pending = True

    def take(self) -> bool:
        pending, self.pending = self.pending, False
        return pending


def start_reload_requests() -> Any:
    """The named actor that the replicas' `/reload` finds (it goes with this driver)."""
    return ReloadRequests.options(name=RELOAD_ACTOR, namespace=RELOAD_NAMESPACE).remote()


class CandidateRefused(Exception):
    """A version that must not be served, and why."""


def check_answers(answers: Any, projects: Sequence[dict[str, str]]) -> None:
    """The answers of a candidate model to the known projects are well-formed: one per project,
    a tag of its own (or `other`) as the prediction, probabilities in [0, 1] that sum to 1."""
    if len(answers) != len(projects):
        raise CandidateRefused(f"{len(answers)} answers to {len(projects)} known projects")
    tags = [column for column in answers.columns if column != "prediction"]
    for row, answer in enumerate(answers.to_dict("records")):
        probabilities = [answer[tag] for tag in tags]
        if not all(isinstance(p, float | int) and 0 <= p <= 1 for p in probabilities):
            raise CandidateRefused(f"known project {row}: probabilities {probabilities}")
        if not math.isclose(sum(probabilities), 1, abs_tol=1e-3):
            raise CandidateRefused(
                f"known project {row}: probabilities sum to {sum(probabilities)}"
            )
        if answer["prediction"] not in [*tags, "other"]:
            raise CandidateRefused(f"known project {row}: prediction {answer['prediction']!r}")


def check_candidate(model_uri: str, projects: Sequence[dict[str, str]]) -> None:
    """Refuse (`CandidateRefused`) a version whose files differ from those it was logged with,
    that does not load, or whose answers to the known `projects` are not well-formed."""
    import pandas as pd  # noqa: PLC0415

    from madewithml.shipping.loading import check_model_files, load_model  # noqa: PLC0415

    try:
        check_model_files(model_uri)
        model = load_model(model_uri)
        answers = model.predict(pd.DataFrame(list(projects), columns=["title", "description"]))
    except CandidateRefused:
        raise
    except Exception as error:  # noqa: BLE001 - any failure refuses the version, with its reason
        lines = str(error).strip().splitlines() or [repr(error)]
        raise CandidateRefused(f"{type(error).__name__}: {lines[0]}") from error
    check_answers(answers, projects)


class ChampionFollower:
    """Moves the service to the version behind `alias_uri` (module docstring).

    `pin` gives the version an alias means now, `check` refuses a candidate, `deploy` serves
    one, `reload_requested` says whether `POST /reload` asked for a check: all injected, so
    that the policy is tested without a registry or Ray.
    """

    def __init__(
        self,
        alias_uri: str,
        serving_uri: str,
        *,
        poll_interval_s: float,
        pin: Callable[[str], str],
        check: Callable[[str], None],
        deploy: Callable[[str], None],
        reload_requested: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alias_uri = alias_uri
        self.serving_uri = serving_uri
        self.poll_interval_s = poll_interval_s
        self._pin, self._check, self._deploy = pin, check, deploy
        self._reload_requested = reload_requested
        self._clock = clock
        self._last_poll = clock()
        self.refused: dict[str, str] = {}  # version URI -> why

    def step(self) -> str | None:
        """Poll when it is time (or a reload was asked for); deploy a new version that passes
        its check. Returns the URI deployed, or None."""
        requested = self._reload_requested()
        if not requested and self._clock() - self._last_poll < self.poll_interval_s:
            return None
        self._last_poll = self._clock()
        try:
            candidate = self._pin(self.alias_uri)
        except Exception as error:  # noqa: BLE001 - the registry unreachable: keep serving
            logger.warning("champion: cannot resolve %s: %s", self.alias_uri, error)
            return None
        if candidate == self.serving_uri or (candidate in self.refused and not requested):
            return None  # nothing new; a version refused already is checked again on reload
        return candidate if self._switch(candidate) else None

    def _switch(self, candidate: str) -> bool:
        """Check `candidate` and deploy it; False (logged, remembered) when it is refused."""
        started = self._clock()
        try:
            self._check(candidate)
        except CandidateRefused as error:
            if self.refused.get(candidate) != str(error):
                logger.error(
                    "champion: %s now points to %s, which is refused (%s); still serving %s",
                    self.alias_uri,
                    candidate,
                    error,
                    self.serving_uri,
                )
            self.refused[candidate] = str(error)
            return False
        checked = self._clock()
        logger.warning(
            "champion: %s now points to %s: checked in %.1f s, deploying it in place of %s",
            self.alias_uri,
            candidate,
            checked - started,
            self.serving_uri,
        )
        try:
            self._deploy(candidate)
        except Exception as error:  # noqa: BLE001 - Ray Serve could not roll it out
            logger.exception(
                "champion: deploying %s failed; serving %s", candidate, self.serving_uri
            )
            self.refused[candidate] = f"deploy failed: {error}"
            return False
        logger.warning(
            "champion: now serving %s (rolled out in %.1f s)", candidate, self._clock() - checked
        )
        self.refused.pop(candidate, None)
        self.serving_uri = candidate
        return True
