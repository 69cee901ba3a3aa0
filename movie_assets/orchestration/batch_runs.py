"""Building a batch of movies inside one Dagster run, under a budget.

A movie spans three partitions definitions, so it is several runs (one per level); the batch run
drives them itself, level after level, with the builder's planner and Builder: the same code path
and the same counts as `movie generate` / `movie regenerate`, and no wait for a daemon tick
between levels. Every level run lands in the instance, so the UI shows each one.

Movies are built in the order of the batch file. Before a movie starts, the estimated cost of its
planned calls is checked against the batch and daily budgets; after every level, what the ledger
recorded is checked again. Once a movie does not fit, it and every movie after it are skipped
with the reason. A movie stopped between levels never reaches final_video, so nothing
half-built is published.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Literal

import dagster as dg
from pydantic import BaseModel, Field

from resources.domain.batch_files import TITLE_PLACEHOLDER, BatchFile, BatchMovie, RowError
from resources.domain.budget import Budget, estimate_usd, spent_usd
from resources.domain.errors import classify
from resources.domain.feeds import entry_document, feed_entry
from resources.domain.models import MovieRequest
from resources.storage.projects import MovieInputs, ProjectStore
from resources.storage.store import ArtifactRef

Status = Literal["built", "up to date", "skipped", "stopped", "failed"]


class MovieOutcome(BaseModel):
    line: int | None = None  # in the batch file (None for the nightly rebuild)
    movie_id: str | None = None
    prompt: str = ""
    status: Status
    reason: str = ""
    duration_s: int | None = None  # the movie's length
    build_s: float = 0.0
    estimated_usd: float = 0.0
    cost_usd: float = 0.0  # what the ledger recorded for it during this run
    rebuilt: dict[str, int] = Field(default_factory=dict)  # asset -> partitions rebuilt
    output_uri: str | None = None
    thumbnail: ArtifactRef | None = None


class BatchReport(BaseModel):
    name: str
    sha256: str = ""
    started: float
    finished: float = 0.0
    budget_usd: float | None = None
    daily_budget_usd: float | None = None
    movies: list[MovieOutcome]
    rejected: list[RowError] = Field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return sum(m.cost_usd for m in self.movies)

    def count(self, status: Status) -> int:
        return sum(m.status == status for m in self.movies)


class MovieTarget(BaseModel):
    """One movie to bring up to date: a batch row, or an existing movie (nightly rebuild)."""

    line: int | None = None
    movie_id: str | None = None
    row: BatchMovie | None = None


def save_request(movie_id: str, request: MovieRequest, change: str) -> MovieInputs:
    """Create the movie, or record the new request as an edit (its overrides are kept), so a
    changed row rebuilds only what the change touches."""
    store = ProjectStore()
    with store.locked(movie_id):
        if store.exists(movie_id):
            inputs = store.load(movie_id)
            if inputs.request == request:
                return inputs
            edited = inputs.model_copy(update={"request": request})
            store.save(edited, change=change)
            return edited
        inputs = MovieInputs(movie_id=movie_id, request=request)
        store.save(inputs, change=change)
        return inputs


def resolve_row(row: BatchMovie, batch_name: str) -> str:
    """Save the row's movie (a feed row reads its entry now) and return the movie id."""
    request = row.request
    movie_id = row.movie_id
    if row.feed is not None:
        entry = feed_entry(row.feed.url, row.feed.entry)
        document = entry_document(entry)
        request = request.model_copy(
            update={
                "prompt": request.prompt.replace(TITLE_PLACEHOLDER, entry.title)[:2000],
                "documents": [*request.documents, str(document)],
            }
        )
        movie_id = movie_id or entry.movie_id()
    movie_id = movie_id or row.resolved_id()
    save_request(movie_id, request, change=f"batch {batch_name} line {row.line}")
    return movie_id


def queue_static_rows(instance: dg.DagsterInstance, batch: BatchFile) -> list[str]:
    """Save and register the rows that need no fetching, so they show in the UI at once."""
    from movie_assets.orchestration.builder import register_movie

    ids = []
    for row in batch.movies:
        if row.feed is None:
            ids.append(resolve_row(row, batch.name))
            register_movie(instance, ids[-1])
    return ids


class OverBudget(Exception):
    """Raised between levels when the ledger shows a budget is spent."""

    def __init__(self, message: str, refusal: str) -> None:
        super().__init__(message)
        self.refusal = refusal


class BatchBuilder:
    """Brings movies up to date one after another, sharing one worker pool across them."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        budget: Budget,
        producers: Mapping[str, object],
        log: Callable[[str], None],
        workers: int | None = None,
    ) -> None:
        self.instance = instance
        self.budget = budget
        self.producers = producers
        self.log = log
        self.workers = workers
        self._stack = ExitStack()
        self._builders: dict[bool, object] = {}
        self.over_budget: str | None = None
        self.movies: set[str] = set()

    def __enter__(self) -> BatchBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _builder(self, pending: Mapping[str, Mapping[str, str]]):
        """In-process for movies with one partition per level (worker start-up costs more than
        it saves there), else a pool of workers started once for the whole batch."""
        from movie_assets.orchestration.builder import Builder

        pooled = self.workers != 0 and max(len(p) for p in pending.values()) > 1
        if pooled not in self._builders:
            builder = Builder(self.workers if pooled else 0)
            self._builders[pooled] = self._stack.enter_context(builder)
        return self._builders[pooled]

    def build(self, target: MovieTarget, batch_name: str) -> MovieOutcome:
        outcome = MovieOutcome(line=target.line, movie_id=target.movie_id, status="failed")
        if target.row is not None:
            outcome.prompt = target.row.request.prompt
            if target.row.feed is None:
                outcome.movie_id = target.row.resolved_id()
        if self.over_budget:
            outcome.status, outcome.reason = "skipped", f"skipped: {self.over_budget}"
            return outcome
        started = time.time()
        try:
            self._build(target, batch_name, outcome, started)
        except Exception as error:  # one movie's failure never stops the others
            found = classify(error)
            outcome.status = "failed"
            outcome.reason = found.describe() if found else f"{type(error).__name__}: {error}"
            self.log(f"{outcome.movie_id or target.line}: failed: {outcome.reason}")
        outcome.build_s = round(time.time() - started, 2)
        if outcome.movie_id:
            outcome.cost_usd = round(spent_usd(started, {outcome.movie_id}), 6)
        return outcome

    def _build(
        self, target: MovieTarget, batch_name: str, outcome: MovieOutcome, started: float
    ) -> None:
        from movie_assets.orchestration.builder import (
            build_levels,
            observe_inputs,
            pending_work,
            register_movie,
        )

        movie_id = resolve_row(target.row, batch_name) if target.row else target.movie_id
        assert movie_id is not None
        outcome.movie_id = movie_id
        self.movies.add(movie_id)
        inputs = ProjectStore().load(movie_id)
        outcome.prompt = inputs.request.prompt
        outcome.duration_s = inputs.request.duration_s
        register_movie(self.instance, movie_id)
        observe_inputs(self.instance, movie_id)
        pending = pending_work(self.instance, movie_id, inputs)
        if not pending:
            outcome.status = "up to date"
            self._finish(outcome)
            return
        outcome.estimated_usd = round(estimate_usd(pending, self.producers), 6)
        refusal = self.budget.refusal(outcome.estimated_usd, self.movies)
        if refusal:
            self.over_budget = refusal
            outcome.status, outcome.reason = "skipped", f"skipped: {refusal}"
            self.log(f"{movie_id}: {outcome.reason}")
            return
        outcome.rebuilt = {asset: len(rows) for asset, rows in pending.items()}

        def check_budget(job: str, plan) -> Callable:
            """Before each level with work: stop if the batch's spend reached its budget."""
            if plan is not None and plan.work:
                if refusal := self.budget.refusal(0.0, self.movies):
                    raise OverBudget(f"stopped before {job}, not published: {refusal}", refusal)
            return lambda work, error: None

        try:
            failures = build_levels(
                self.instance, movie_id, inputs, pending, self._builder(pending), check_budget
            )
        except OverBudget as stop:
            self.over_budget = stop.refusal
            outcome.status, outcome.reason = "stopped", str(stop)
            self.log(f"{movie_id}: {outcome.reason}")
            return
        if failures:
            work, error = failures[0]
            outcome.reason = f"{work.job} {work.partition}: {error}"
            self.log(f"{movie_id}: failed: {outcome.reason}")
            return
        outcome.status = "built"
        self._finish(outcome)
        self.log(f"{movie_id}: built in {time.time() - started:.1f} s")

    def _finish(self, outcome: MovieOutcome) -> None:
        from movie_assets.io_manager import latest_artifacts
        from movie_assets.orchestration.delivery import publish_latest

        assert outcome.movie_id is not None
        store = self.producers.get("store")
        published = publish_latest(self.instance, outcome.movie_id, store)  # type: ignore[arg-type]
        outcome.output_uri = published.path.as_uri() if published else None
        thumb = latest_artifacts(self.instance, dg.AssetKey("thumbnail"), outcome.movie_id)
        outcome.thumbnail = thumb.main if thumb else None


def run_batch(
    name: str,
    targets: list[MovieTarget],
    *,
    budget: Budget,
    producers: Mapping[str, object],
    log: Callable[[str], None],
    sha256: str = "",
    rejected: list[RowError] | None = None,
) -> BatchReport:
    from movie_assets.orchestration.builder import prepare_instance

    report = BatchReport(
        name=name,
        sha256=sha256,
        started=time.time(),
        budget_usd=budget.batch_usd,
        daily_budget_usd=budget.daily_usd,
        movies=[],
        rejected=rejected or [],
    )
    with BatchBuilder(prepare_instance(), budget, producers, log) as builder:
        for target in targets:
            report.movies.append(builder.build(target, name))
    report.finished = time.time()
    return report


def batch_targets(batch: BatchFile) -> list[MovieTarget]:
    return [MovieTarget(line=row.line, movie_id=row.movie_id, row=row) for row in batch.movies]


def all_movie_targets() -> list[MovieTarget]:
    """Every movie of the project: the nightly rebuild brings each one up to date."""
    return [MovieTarget(movie_id=movie_id) for movie_id in ProjectStore().list_ids()]
