"""Movies from the Launchpad: start one, rebuild one, delete one, without the command line.

- `new_movie`: its run config is the movie request, the fields of `movie generate` with their
  descriptions and defaults. It is validated by the CLI's model (MovieRequest, with the TTS's
  voices and the caption fonts) when the run is submitted: a bad request is refused there, with
  the reason on the run, before any movie, partition or process exists (MovieRunCoordinator);
  the run checks it again. A valid one saves the movie, adds its partition and builds it with
  the planner and level runs `movie generate` uses, then publishes it. A build that fails later
  leaves a real movie (it has inputs): run `regenerate_movie` / `rebuild_movie` or `movie
  generate` again to finish it, or delete it.
- `rebuild_movie`: its description lists the movies with pending work and why, and its default
  config names the first of them (read when the code location loads; `movie ui` reloads it when
  the pending work changes), so the Launchpad opens with that movie filled in.
- `delete_movie`: removes a movie's partition and moves its inputs aside (movie_assets/deletion).

Research documents come only from the upload folder (MOVIE_UPLOADS, default
MOVIE_HOME/uploads), by file name: a UI user cannot make the build read other files.
"""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field, ValidationError

from movie_assets.jobs.regenerate import rebuild
from movie_assets.orchestration.pending_marks import pending_summary
from movie_assets.partitions import MOVIE_TAG
from resources.storage.store import ArtifactStore

NEW_MOVIE_JOB = "new_movie"
REBUILD_JOB = "rebuild_movie"
DELETE_JOB = "delete_movie"
NEW_MOVIE_OP = "create_and_build_movie"
REBUILD_OP = "rebuild_one_movie"
DELETE_OP = "delete_one_movie"
UPLOADS_ENV = "MOVIE_UPLOADS"
EXAMPLE_PROMPT = "How honey bees make honey"


def uploads_dir() -> Path:
    from resources.runtime.settings import movie_home

    configured = os.environ.get(UPLOADS_ENV, "").strip()
    return Path(configured).expanduser() if configured else movie_home() / "uploads"


class NewMovie(dg.Config):
    """The movie request: the options of `movie generate`, checked by the same rules."""

    prompt: str = Field(description="What the movie is about, e.g. 'How honey bees make honey'.")
    duration: int = Field(
        default=60, description="Seconds, 10 to 300 in steps of 10 (one segment per 10 s)."
    )
    style: str = Field(
        default="documentary",
        description="Image style: documentary, watercolor, comic, cinematic, minimal or retro.",
    )
    voice: str = Field(
        default="default",
        description="Voice of the narration: 'default', or a voice of the TTS (espeak: f1-f5, "
        "m1-m7).",
    )
    aspect: str = Field(default="9:16", description="Aspect ratio: 9:16, 16:9 or 1:1.")
    images_per_segment: int = Field(default=2, description="Still images per segment, 1 to 5.")
    blueprint: str = Field(
        default="image",
        description="What segments are: image (stills with Ken Burns motion), video-by-text or "
        "video-by-image.",
    )
    documents: list[str] = Field(
        default=[],
        description="Research documents: names of files in the upload folder (MOVIE_UPLOADS, "
        "default MOVIE_HOME/uploads).",
    )
    id: str | None = Field(
        default=None,
        description="Movie id (a-z, 0-9, '-', '_'); default: made from the prompt.",
    )
    audience: str = Field(default="general", description="kids, teens, general or experts.")
    language: str = Field(default="en", description="en, es, fr, de, it, pt, ru or el.")
    emotion: str = Field(default="neutral", description="neutral, calm, excited, serious or warm.")
    assembly: str = Field(
        default="crossfade", description="How segments join: crossfade, cut or fade_through_black."
    )
    music_prompt: str | None = Field(
        default=None, description="Describe the background music (default: written for you)."
    )
    seed: int = Field(default=7, description="Seed of every generator: same seed, same movie.")


class InvalidRequest(ValueError):
    pass


def _errors(error: ValidationError) -> str:
    names = {
        "duration_s": "duration",
        "image_style": "style",
        "aspect_ratio": "aspect",
        "assembly_strategy": "assembly",
    }
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        field = ".".join([names.get(loc[0], loc[0]), *loc[1:]]) if loc else "request"
        lines.append(f"{field}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def _document(name: str) -> str:
    if not name or name != Path(name).name or name.startswith("."):
        raise InvalidRequest(
            f"documents: {name!r} must be the name of a file in the upload folder "
            f"({uploads_dir()}), not a path"
        )
    path = uploads_dir() / name
    if not path.is_file():
        raise InvalidRequest(f"documents: no file {name!r} in the upload folder ({uploads_dir()})")
    return str(path)


def validation_context() -> dict:
    """What `movie generate` checks values against: the TTS's voices, the caption fonts."""
    from movie_assets.producer_resources import producer_resources

    return {"voices": producer_resources()["tts"].voices(), "check_glyphs": True}


def request_from_config(values: dict) -> tuple[str, object]:
    """(movie id, MovieRequest) of a `new_movie` run config, or InvalidRequest saying why."""
    from resources.domain.documents import read_documents
    from resources.domain.errors import InvalidInput
    from resources.domain.models import MovieRequest
    from resources.storage.projects import movie_id_for, validate_movie_id

    try:
        config = NewMovie.model_validate(values)
    except ValidationError as error:
        raise InvalidRequest(_errors(error)) from None
    documents = [_document(name) for name in config.documents]
    fields = {
        "prompt": config.prompt,
        "duration_s": config.duration,
        "image_style": config.style,
        "voice": config.voice,
        "aspect_ratio": config.aspect,
        "images_per_segment": config.images_per_segment,
        "blueprint": config.blueprint,
        "documents": documents,
        "audience": config.audience,
        "language": config.language,
        "emotion": config.emotion,
        "assembly_strategy": config.assembly,
        "music_prompt": config.music_prompt,
        "seed": config.seed,
    }
    try:
        request = MovieRequest.model_validate(fields, context=validation_context())
    except ValidationError as error:
        raise InvalidRequest(_errors(error)) from None
    try:
        read_documents(request.documents)
    except InvalidInput as error:
        raise InvalidRequest(str(error)) from None
    try:
        movie_id = validate_movie_id(
            config.id if config.id is not None else movie_id_for(request.prompt)
        )
    except ValueError as error:
        raise InvalidRequest(f"id: {error}") from None
    return movie_id, request


def _op_config(run_config: dict, op: str) -> dict:
    config = ((run_config or {}).get("ops") or {}).get(op) or {}
    return config.get("config") or {}


def refusal_of(job_name: str, run_config: dict) -> str | None:
    """Why the run may not start (checked when it is submitted), or None."""
    if job_name != NEW_MOVIE_JOB:
        return None
    try:
        movie_id, request = request_from_config(_op_config(run_config, NEW_MOVIE_OP))
    except InvalidRequest as error:
        return f"refused, nothing was created: {error}"
    from resources.storage.projects import ProjectStore

    projects = ProjectStore()
    if projects.exists(movie_id) and projects.load(movie_id).request != request:
        return (
            f"refused, nothing was created: movie {movie_id!r} exists with other settings; "
            "give another id, or change it with `movie edit`"
        )
    return None


def movie_of_config(job_name: str, run_config: dict) -> str | None:
    """The movie a config-driven run works on (for its movie/id tag)."""
    if job_name in (REBUILD_JOB, DELETE_JOB):
        op = REBUILD_OP if job_name == REBUILD_JOB else DELETE_OP
        movie = _op_config(run_config, op).get("movie")
        if movie is None and job_name == REBUILD_JOB:
            movie = default_movie()
        return movie if isinstance(movie, str) and movie else None
    if job_name == NEW_MOVIE_JOB:
        try:
            return request_from_config(_op_config(run_config, NEW_MOVIE_OP))[0]
        except (InvalidRequest, ValueError, OSError):
            return None
    return None


@dg.op(
    name=NEW_MOVIE_OP,
    description="Check the request as `movie generate` does, save the movie, add its "
    "partition and build every level; then publish the video.",
)
def create_and_build_movie(
    context: dg.OpExecutionContext, config: NewMovie, store: ArtifactStore
) -> dg.Output[dict]:
    from movie_assets.orchestration.builder import register_movie
    from resources.storage.projects import MovieInputs, ProjectStore

    try:
        movie_id, request = request_from_config(config.model_dump())
    except InvalidRequest as error:
        raise dg.Failure(f"refused, nothing was created: {error}", allow_retries=False) from None
    projects = ProjectStore()
    with projects.locked(movie_id):
        if projects.exists(movie_id):
            if projects.load(movie_id).request != request:
                raise dg.Failure(
                    f"refused, nothing was created: movie {movie_id!r} exists with other "
                    "settings; give another id",
                    allow_retries=False,
                )
            context.log.info(f"{movie_id} exists with this request: resuming its build")
        else:
            projects.save(MovieInputs(movie_id=movie_id, request=request), change="created (UI)")
    register_movie(context.instance, movie_id)
    context.instance.add_run_tags(context.run_id, {MOVIE_TAG: movie_id})
    context.log.info(
        f"{movie_id}: {request.duration_s} s, {request.segment_count} segments x "
        f"{request.images_per_segment} images"
    )
    return rebuild(context, movie_id, store)


def _example_config() -> dict:
    values = NewMovie(prompt=EXAMPLE_PROMPT).model_dump()
    return {"ops": {NEW_MOVIE_OP: {"config": values}}}


@dg.job(
    name=NEW_MOVIE_JOB,
    config=_example_config(),
    description="Start a new movie: Launchpad, edit the request (prompt, duration, style, voice, "
    "aspect, images per segment, blueprint, documents, id), Launch Run. Checked like "
    "`movie generate`; a bad request is refused before anything is created.",
)
def new_movie() -> None:
    create_and_build_movie()


# ---------------------------------------------------------------------------------------------
# Rebuild: which movie and why, in the job's description and default config


def _describes_pending() -> bool:
    from movie_assets.partitions import _describes_planned_slots

    return _describes_planned_slots()


def pending_now() -> dict[str, list[list[str]]]:
    """The marks the code location describes (only the UI's code server reads them)."""
    if not _describes_pending():
        return {}
    from movie_assets.orchestration.pending_marks import pending_rows

    try:
        return pending_rows()
    except (OSError, ValueError):
        return {}


PENDING_ROWS = pending_now()
PENDING = pending_summary(PENDING_ROWS)


def default_movie() -> str:
    if PENDING:
        return next(iter(PENDING))
    if not _describes_pending():
        return ""
    from resources.storage.projects import ProjectStore

    ids = ProjectStore().list_ids()
    return ids[0] if ids else ""


def pending_description(pending: dict[str, dict]) -> str:
    if not pending:
        return "Every movie is up to date. Rebuilds the movie named in the config."
    lines = []
    for movie_id, found in pending.items():
        causes = "; ".join(found["causes"][:3]) or "downstream of an edit"
        more = f" (+{len(found['causes']) - 3} more)" if len(found["causes"]) > 3 else ""
        lines.append(
            f"PENDING {movie_id}: {found['partitions']} partition(s) to rebuild, because "
            f"{causes}{more}."
        )
    first = next(iter(pending))
    return (
        " ".join(lines) + f" Launchpad > Launch Run rebuilds {first} (preselected below; "
        "change `movie` for another)."
    )


class RebuildMovie(dg.Config):
    movie: str = Field(
        default_factory=default_movie,
        description="The movie to bring up to date (default: the first with pending work).",
    )


@dg.op(
    name=REBUILD_OP,
    description="Rebuild what is stale or missing in the movie, as `movie regenerate` does; "
    "publish the new video.",
)
def rebuild_one_movie(
    context: dg.OpExecutionContext, config: RebuildMovie, store: ArtifactStore
) -> dg.Output[dict]:
    from resources.storage.projects import ProjectStore

    if not config.movie or not ProjectStore().exists(config.movie):
        raise dg.Failure(f"no movie {config.movie!r}: see `movie list`", allow_retries=False)
    return rebuild(context, config.movie, store)


@dg.job(
    name=REBUILD_JOB,
    config={"ops": {REBUILD_OP: {"config": {"movie": default_movie()}}}},
    description=pending_description(PENDING),
)
def rebuild_movie() -> None:
    rebuild_one_movie()


class DeleteMovie(dg.Config):
    movie: str = Field(description="Id of the movie to delete (`movie restore ID` undoes it).")


@dg.op(
    name=DELETE_OP,
    description="Remove the movie's partition; keep its inputs, history and artifacts aside "
    "(restorable) until `movie delete ID --purge`.",
)
def delete_one_movie(context: dg.OpExecutionContext, config: DeleteMovie) -> dg.Output[str]:
    from movie_assets.orchestration.deletion import delete_movie as delete

    try:
        folder = delete(context.instance, config.movie, this_run=context.run_id)
    except (LookupError, ValueError) as error:
        raise dg.Failure(str(error), allow_retries=False) from None
    context.log.info(f"deleted {config.movie}; its inputs are kept in {folder}")
    return dg.Output(
        config.movie,
        metadata={"kept_in": dg.MetadataValue.path(str(folder)), "undo": "movie restore ID"},
    )


@dg.job(
    name=DELETE_JOB,
    description="Delete a movie: its partition goes; its inputs, history and artifacts are kept "
    "and `movie restore ID` brings it back, until `movie delete ID --purge`.",
)
def delete_movie() -> None:
    delete_one_movie()
