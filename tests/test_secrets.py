"""Secrets never leave the process: not on the terminal, not in the log file, not in Dagster's
storage (events, failure descriptions, asset metadata, run tags), even when a provider echoes
the API key back inside its error message."""

from __future__ import annotations

import io
import json
import logging
import secrets as random_secrets
from pathlib import Path

import dagster as dg
import pytest

from resources.domain.errors import ProviderError
from resources.runtime.secrets import (
    MASK,
    install_dagster_redaction,
    install_logging_redaction,
    known_secrets,
    redact,
    register,
)
from tests.openai_standin import OpenAIStandIn, movie_chat_reply
from tests.test_generate import movie_cli


def _new_key() -> str:
    return "sk-proj-" + random_secrets.token_urlsafe(24)


def _files_holding(root: Path, needle: str) -> list[Path]:
    """Every file under `root` whose bytes contain `needle` (SQLite files, logs, compute logs)."""
    raw = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and raw in p.read_bytes()]


# ---------------------------------------------------------------------------------------------
# redact


def test_every_secret_of_the_environment_is_masked(monkeypatch):
    key, console_key, s3 = _new_key(), "akash-" + "k" * 20, "s3secret/" + "x" * 30
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("AKASH_CONSOLE_API_KEY", console_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3)
    monkeypatch.setenv("MOVIE_PG_URL", "postgresql://movie:pg-password-123@127.0.0.1:5432/x")
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-" + "t" * 16)
    text = (
        f"401: Incorrect API key provided: {key}. console={console_key} s3={s3} "
        f"url=postgresql://movie:pg-password-123@host token=tok-{'t' * 16}"
    )
    clean = redact(text)
    for secret in (key, console_key, s3, "pg-password-123", "tok-" + "t" * 16):
        assert secret not in clean
    assert clean.count(MASK) == 5
    assert clean.startswith("401: Incorrect API key provided: [redacted].")


def test_echoes_cut_short_json_escaped_and_key_shaped_strings_are_masked(monkeypatch):
    key = _new_key()
    monkeypatch.setenv("OPENAI_API_KEY", key)
    assert key[:20] not in redact(f"key {key[:20]}... was refused")  # a truncated echo
    quoted = 'ab"cd\\ef' + "g" * 10
    register(quoted)
    assert json.dumps(quoted)[1:-1] not in redact(json.dumps({"k": quoted}))
    # A key the process does not hold (a proxy echoing another project's key) is masked too.
    assert "sk-other" not in redact("Incorrect API key provided: sk-otherproject1234567890abcd")
    assert "Bearer abcdefghijklmnop123" not in redact("Authorization: Bearer abcdefghijklmnop123")


def test_ordinary_text_and_short_values_are_left_alone(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "short")  # too short to be masked without garbling
    text = "a short story about volcanoes, sha256 " + "a" * 64
    assert redact(text) == text
    assert "short" not in known_secrets()


def test_lease_hmac_secrets_are_known(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIE_HOME", str(tmp_path))
    secret = random_secrets.token_hex(32)
    book = tmp_path / "gpu" / "leases.json"
    book.parent.mkdir(parents=True)
    book.write_text(json.dumps({"leases": {"123": {"dseq": "123", "secret": secret}}}))
    assert secret in known_secrets()
    assert secret not in redact(f"signature made with {secret}")


def test_python_logging_and_the_log_file_are_masked(tmp_path, monkeypatch):
    key = _new_key()
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("MOVIE_HOME", str(tmp_path))
    install_logging_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.secrets")
    logger.addHandler(handler)
    try:
        logger.warning("calling with %s", key)
        try:
            raise ProviderError(f"Incorrect API key provided: {key}", status=401)
        except ProviderError:
            logger.exception("the call failed")
    finally:
        logger.removeHandler(handler)
    assert key not in stream.getvalue()
    assert stream.getvalue().count(MASK) >= 2

    from resources.runtime.logs import append_log

    path = append_log(f"failed with {key}", f"Traceback ...\nProviderError: {key}")
    assert key not in path.read_text() and MASK in path.read_text()


def test_dagster_storage_never_holds_a_secret(tmp_path, monkeypatch):
    """Events, failure descriptions and traces, asset metadata, log lines and run tags."""
    key = _new_key()
    monkeypatch.setenv("OPENAI_API_KEY", key)
    install_dagster_redaction()

    @dg.asset
    def echoed(context):
        context.log.info(f"calling the provider with {key}")
        return dg.MaterializeResult(metadata={"note": f"made with {key}"})

    @dg.asset(deps=[echoed])
    def refused() -> None:
        raise dg.Failure(
            description=f"provider permanent: Incorrect API key provided: {key}",
            metadata={"answer": f'{{"error": "{key}"}}'},
        )

    @dg.asset(deps=[echoed])
    def crashed() -> None:
        raise RuntimeError(f"Error code: 401 - Incorrect API key provided: {key}")

    (tmp_path / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster"))
    try:
        result = dg.materialize(
            [echoed, refused, crashed],
            instance=instance,
            tags={"movie/reason": f"retry with {key}"},
            raise_on_error=False,
        )
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        assert key not in json.dumps(dict(run.tags)) and MASK in run.tags["movie/reason"]
        instance.add_run_tags(result.run_id, {"movie/note": f"key {key}"})
        record = instance.fetch_materializations(dg.AssetKey("echoed"), limit=1).records[0]
        assert record.asset_materialization.metadata["note"].value == f"made with {MASK}"
        failures = [
            event.dagster_event.step_failure_data
            for event in instance.all_logs(result.run_id)
            if event.dagster_event and event.dagster_event.is_step_failure
        ]
        assert len(failures) == 2
        texts = [f.error.to_string() if f.error else "" for f in failures] + [
            f.user_failure_data.description for f in failures if f.user_failure_data
        ]
        assert all(key not in text for text in texts)
        assert any(MASK in text for text in texts)
    finally:
        instance.dispose()
    assert not _files_holding(tmp_path, key)


def test_a_secret_that_looks_like_structure_does_not_break_a_run(tmp_path, monkeypatch):
    """A secret equal to a name in Dagster's serialized form (absurd, but possible) is masked in
    values only, so every event still stores and the run succeeds."""
    monkeypatch.setenv("WEIRD_API_KEY", "__class__")
    install_dagster_redaction()

    @dg.asset
    def plain():
        return dg.MaterializeResult(metadata={"note": "says __class__ in a value"})

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([plain], instance=instance)
    assert result.success
    stored = instance.fetch_materializations(dg.AssetKey("plain"), limit=1).records[0]
    assert stored.asset_materialization.metadata["note"].value == f"says {MASK} in a value"


# ---------------------------------------------------------------------------------------------
# End to end: a provider that echoes the key


@pytest.fixture
def echoing_api():
    with OpenAIStandIn(chat_reply=movie_chat_reply) as api:
        api.echo_key_401 = True
        yield api


@pytest.mark.e2e
def test_a_key_echoed_by_the_provider_is_in_no_output_log_or_storage(tmp_path, echoing_api):
    home = tmp_path / ".movie"
    key = _new_key()
    env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": echoing_api.base_url}
    done = movie_cli(
        home,
        "generate",
        "A secret volcano",
        "--duration",
        "10",
        "--images-per-segment",
        "1",
        "--id",
        "echoed",
        extra_env=env,
    )
    assert echoing_api.requests, "the provider was never called"
    presented = echoing_api.requests[0][2]["authorization"]
    assert presented == f"Bearer {key}"  # the key really went out, and came back in the error
    assert done.returncode == 1, done.stderr[-2000:]
    terminal = done.stdout + done.stderr
    assert "provider permanent" in terminal and "Incorrect API key provided: [redacted]" in terminal
    assert key not in terminal and key[:16] not in terminal

    status = movie_cli(home, "status", "echoed", extra_env=env)
    assert key not in status.stdout + status.stderr

    assert (home / "logs" / "movie.log").exists()
    leaked = _files_holding(home, key) + _files_holding(home, key[:16])
    assert not leaked, f"the key is stored in {leaked}"
    # The failure itself is stored, masked: the check above is not vacuous.
    assert _files_holding(home / "dagster", "Incorrect API key provided: [redacted]")
