"""The tests' `movie` runner (tests/warm_cli.py) gives each command what a fresh process gets:
its own environment, folder, output, exit status and process; the same output as
`python -m movie_assets.cli`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_generate import movie_env
from tests.warm_cli import run_movie


def _cold(args: list[str], env: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "movie_assets.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["list"], ["status", "nope"], ["edit", "nope", "--segment", "x"]],
    ids=["help", "list", "refused", "usage"],
)
def test_a_warm_command_prints_and_exits_as_a_fresh_process(tmp_path, args):
    env = movie_env(tmp_path / ".movie")
    warm, cold = run_movie(args, env, timeout=120), _cold(args, env)
    assert (warm.returncode, warm.stdout, warm.stderr) == (
        cold.returncode,
        cold.stdout,
        cold.stderr,
    )


def test_each_command_has_its_own_environment_and_folder(tmp_path):
    env = movie_env(tmp_path / "unused")
    for name in ("a", "b"):  # a relative project home: found from the command's own folder
        (tmp_path / name).mkdir()
        env["MOVIE_HOME"] = f"{name}-home"
        done = run_movie(["status", "nope"], env, timeout=60, cwd=str(tmp_path / name))
        assert done.returncode == 2
        assert f"in {tmp_path / name / f'{name}-home' / 'movies'}" in done.stderr
    assert Path.cwd() != tmp_path / "b"  # this process's folder did not change
