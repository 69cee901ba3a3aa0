"""Keeps the UI's partition grid to the slots movies plan.

The code server behind `movie ui` and `movie serve` describes only the planned slots
(MOVIE_SLOTS=planned, see movie_assets/partitions.py). When a generate, an edit or a batch changes
which slots some movie plans, this thread asks the webserver to reload the code location, the
UI's "Reload definitions", so the new slots show within seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request

from movie_assets.partitions import planned_slots

log = logging.getLogger(__name__)

RELOAD = (
    "mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) "
    "{ __typename ... on PythonError { message } } }"
)


class SlotWatcher(threading.Thread):
    def __init__(self, graphql_url: str, location: str = "movie", interval_s: float = 2.0):
        super().__init__(name="slot-watcher", daemon=True)
        self.graphql_url = graphql_url
        self.location = location
        self.interval_s = interval_s
        self.shown = planned_slots()  # what the code server loaded at its start
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            current = planned_slots()
            if current != self.shown and self.reload():
                self.shown = current

    def reload(self) -> bool:
        """Reload the code location; False (tried again next time) while the UI is not up."""
        body = json.dumps({"query": RELOAD, "variables": {"name": self.location}}).encode()
        request = urllib.request.Request(
            self.graphql_url, body, {"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())["data"]["reloadRepositoryLocation"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.info("reloading the code location for new slots: %s", error)
            return False
        if answer.get("__typename") != "WorkspaceLocationEntry":
            log.warning("reloading the code location failed: %s", answer)
            return False
        log.info("code location reloaded: the planned slots changed")
        return True

    def stop(self) -> None:
        self._stopping.set()
