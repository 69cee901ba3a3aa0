"""Small set-ups several test modules share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from movie_assets.orchestration.builder import prepare_instance
from resources.domain.models import MovieRequest
from resources.storage.projects import MovieInputs, ProjectStore

ROOT = Path(__file__).resolve().parent.parent


def instance_with_movie(
    home: Path, monkeypatch: pytest.MonkeyPatch, movie_id: str
) -> dg.DagsterInstance:
    """A fresh project home's instance (the project's dagster.yaml written into it) holding one
    movie: its inputs saved and its partition added, nothing built yet."""
    monkeypatch.setenv("MOVIE_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("MOVIE_MODE", raising=False)
    instance = prepare_instance()
    request = MovieRequest(prompt="Bees and flowers", duration_s=20)
    ProjectStore().save(MovieInputs(movie_id=movie_id, request=request), change="created")
    instance.add_dynamic_partitions("movie", [movie_id])
    return instance


def run_python(*args: str | Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    """`python ARGS` in the repository root, which must exit 0 (else the tail of its stderr is
    the failure); its output as text."""
    done = subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done
