"""Every failure is one of the four classes, retried only when a retry can help, and its one line
says what to do: producer ValueErrors, stored data that does not parse, missing files; empty ids
are refused; limits count characters; usage errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from pydantic import BaseModel

from movie_assets.assets.producer_steps import classified_failures
from resources.domain.errors import (
    INVALID_INPUT,
    LOCAL_ENVIRONMENT,
    PROVIDER_PERMANENT,
    PROVIDER_TRANSIENT,
    ProviderError,
    classify,
)
from tests.test_generate import movie_cli, movie_in_process

SECRET_BYTES = "bytes-from-the-blob-0123456789"


class Stored(BaseModel):
    title: str
    count: int


def _corrupt_parse() -> None:
    Stored.model_validate_json(json.dumps({"title": SECRET_BYTES, "count": "many"}))


def _raise(error: BaseException) -> None:
    raise error


# ---------------------------------------------------------------------------------------------
# Classes


@pytest.mark.parametrize(
    ("make", "kind", "retryable", "says"),
    [
        (lambda: _raise(ValueError("voice rate must be positive")), INVALID_INPUT, False, "change"),
        (_corrupt_parse, LOCAL_ENVIRONMENT, False, "movie verify --repair"),
        (lambda: json.loads('{"cut": '), LOCAL_ENVIRONMENT, False, "movie regenerate"),
        (
            lambda: open("/nonexistent/artifacts/sha256/ab/abcd.wav", "rb"),
            LOCAL_ENVIRONMENT,
            False,
            "movie verify --repair",
        ),
        (lambda: _raise(ProviderError("bad request", status=400)), PROVIDER_PERMANENT, False, ""),
        (lambda: _raise(ProviderError("overloaded", status=503)), PROVIDER_TRANSIENT, True, ""),
    ],
)
def test_each_error_maps_to_one_class_with_what_to_do(make, kind, retryable, says):
    with pytest.raises(Exception) as caught:
        make()
    found = classify(caught.value)
    assert found is not None and found.kind == kind
    assert found.retryable is retryable
    line = found.describe()
    assert line.startswith(f"{kind}: ") and "\n" not in line
    assert says in line
    assert SECRET_BYTES not in line and "many" not in line  # stored bytes are never shown


def test_unexpected_errors_stay_unclassified():
    assert classify(KeyError("x")) is None
    assert classify(ZeroDivisionError()) is None


# ---------------------------------------------------------------------------------------------
# In a real run: retried only if transient


def _attempts_of(error: BaseException, tmp_path: Path) -> tuple[int, str]:
    """Materialize an asset (with a retry policy, as every provider asset has) that raises
    `error`; returns how many times its body ran and the failure's description."""
    calls = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    @classified_failures
    def produced(context):
        calls.append(1)
        raise error

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([produced], instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data
    description = failure.user_failure_data.description if failure.user_failure_data else ""
    return len(calls), description or failure.error.message


@pytest.mark.parametrize(
    ("error", "attempts", "kind"),
    [
        (ValueError("the producer refused: speed 0"), 1, INVALID_INPUT),
        (FileNotFoundError(2, "No such file", "/gone/blob.json"), 1, LOCAL_ENVIRONMENT),
        (ProviderError("key refused", status=401), 1, PROVIDER_PERMANENT),
        (ProviderError("overloaded", status=503), 3, PROVIDER_TRANSIENT),
    ],
)
def test_a_run_retries_only_what_a_retry_can_help(error, attempts, kind, tmp_path):
    ran, description = _attempts_of(error, tmp_path)
    assert ran == attempts
    assert description.startswith(f"{kind}: "), description


def test_unparsable_stored_data_fails_once_without_showing_the_bytes(tmp_path):
    try:
        _corrupt_parse()
    except Exception as error:  # the real ValidationError, raised inside the asset
        parsed = error
    ran, description = _attempts_of(parsed, tmp_path)
    assert ran == 1
    assert description.startswith(f"{LOCAL_ENVIRONMENT}: stored data does not parse as Stored")
    assert SECRET_BYTES not in description


# ---------------------------------------------------------------------------------------------
# The CLI


def _one_error_line(done) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and "Usage:" not in done.stderr
    return lines[0]


def test_an_empty_id_is_refused_naming_the_field(tmp_path, monkeypatch):
    home = tmp_path / ".movie"
    done = movie_in_process(
        monkeypatch, home, "generate", "Volcanoes", "--duration", "10", "--id", ""
    )
    assert done.returncode == 2
    assert _one_error_line(done).startswith("error: id: movie id '' must be")
    assert not (home / "movies").exists() or not any((home / "movies").iterdir())


def test_length_limits_of_text_say_characters(tmp_path, monkeypatch):
    home = tmp_path / ".movie"
    done = movie_in_process(monkeypatch, home, "generate", "Volcanoes", "--music-prompt", "m" * 501)
    assert done.returncode == 2
    assert "music_prompt: should have at most 500 characters, got 501" in done.stderr
    assert "items" not in done.stderr

    from resources.domain.models import MovieRequest
    from resources.storage.projects import MovieInputs, ProjectStore

    inputs = MovieInputs(movie_id="long", request=MovieRequest(prompt="Volcanoes", duration_s=10))
    ProjectStore(home / "movies").save(inputs, change="created")
    edited = movie_in_process(
        monkeypatch, home, "edit", "long", "--segment", "0", "--narration", "n" * 1001
    )
    assert edited.returncode == 2, edited.stderr
    assert "narration: should have at most 1000 characters, got 1001" in edited.stderr
    assert "items" not in edited.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("generate",), "Missing argument 'PROMPT'"),
        (("generate", "Volcanoes", "--durtion", "10"), "No such option '--durtion'"),
        (("frobnicate",), "No such command 'frobnicate'"),
        (("generate", "Volcanoes", "--duration", "ten"), "'ten' is not a valid integer"),
    ],
)
def test_usage_errors_print_one_line(tmp_path, monkeypatch, args, says):
    done = movie_in_process(monkeypatch, tmp_path / ".movie", *args)
    assert done.returncode == 2
    line = _one_error_line(done)
    assert says in line and "(see `movie " in line and "--help`)" in line


def test_movie_alone_shows_the_help(tmp_path):
    done = movie_cli(tmp_path / ".movie")
    assert done.returncode == 2
    assert done.stderr.startswith("Usage: movie [OPTIONS] COMMAND") and "error:" not in done.stderr


@pytest.mark.parametrize(
    ("make", "starts", "says"),
    [
        (_corrupt_parse, f"{LOCAL_ENVIRONMENT}: stored data does not parse", "verify --repair"),
        (lambda: json.loads("{"), f"{LOCAL_ENVIRONMENT}: stored data is not valid", "regenerate"),
        (lambda: open("/gone/blob.wav", "rb"), f"{LOCAL_ENVIRONMENT}: ", "/gone/blob.wav"),
        (lambda: _raise(ValueError("rate must be > 0")), f"{INVALID_INPUT}: ", "rate must be > 0"),
    ],
)
def test_the_line_of_an_unwrapped_asset_failure_names_its_class(make, starts, says):
    """Assets without a retry policy are not wrapped: the build's one line still classifies."""
    from movie_assets.orchestration.builder import failure_line

    @dg.asset
    def rendered():
        make()

    result = dg.materialize(
        [rendered], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data
    line = failure_line(failure.error)
    assert line.startswith(starts) and says in line, line
    assert "\n" not in line and SECRET_BYTES not in line and "many" not in line
