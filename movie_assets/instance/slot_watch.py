"""Keeps the UI's partition grid to the slots movies plan.

The code server behind `movie ui` and `movie serve` describes only the planned slots
(MOVIE_SLOTS=planned, see movie_assets/partitions.py). When a generate, an edit or a batch changes
which slots some movie plans, this thread asks the webserver to reload the code location, the
UI's "Reload definitions", so the new slots show within seconds. It does the same when the
pending work of some movie changes (an edit, a rebuild): the `rebuild_movie` job's description
and default movie, read at load, then show which movie to rebuild and why.

It also removes movie partitions that have no inputs (the UI's "Add a partition" makes them; a
run for one is refused): a grid of junk keys helps nobody. `movie delete` moves inputs away
only after removing the partition, so a real movie is never taken for junk.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request

from movie_assets.orchestration.pending_marks import pending_rows
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
        self.shown = self.described()  # what the code server loaded at its start
        self._stopping = threading.Event()
        self._junk_seen: set[str] = set()

    @staticmethod
    def described() -> tuple:
        """What the code location's definitions depend on: planned slots and pending work."""
        return planned_slots(), pending_rows()

    def run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                current = self.described()
                if current != self.shown and self.reload():
                    self.shown = current
                self.prune_junk()
            except Exception as error:  # never let the watcher die; it retries next turn
                log.warning("watching the project failed: %s", error)

    def prune_junk(self) -> None:
        """Delete movie partitions without inputs seen on two turns in a row (a movie being
        created saves its inputs before adding its partition, so none is caught midway)."""
        import dagster as dg

        from movie_assets.orchestration.deletion import remove_junk_partition
        from resources.storage.projects import ProjectStore

        if getattr(self, "_instance", None) is None:
            self._instance = dg.DagsterInstance.get()
        instance = self._instance
        projects = ProjectStore()
        junk = set()
        for key in instance.get_dynamic_partitions("movie"):
            try:
                if not projects.exists(key):
                    junk.add(key)
            except ValueError:  # not even a valid id
                junk.add(key)
        for key in junk & self._junk_seen:
            if remove_junk_partition(instance, key):
                log.info("removed the movie partition %r: it has no inputs", key)
        self._junk_seen = junk

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
