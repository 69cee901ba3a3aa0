"""Fixtures shared by the whole session, defined once here so each starts once.

A session fixture imported into several test modules starts once per module; defined here it
starts once per session:
- `seaweedfs`, `postgres`: real servers on free loopback ports (see tests/servers.py);
- `tiny_models`: tiny random-weight diffusers pipelines saved to a temp folder;
- `small_render` (autouse): MOVIE_RENDER_DIVISOR=3, so every movie a test builds, in this process
  or in a `movie` subprocess, daemon or webserver it starts, renders 360x640 instead of 1080x1920.
  Tests about the render size take it away (`monkeypatch.delenv("MOVIE_RENDER_DIVISOR")` or
  `extra_env={"MOVIE_RENDER_DIVISOR": ""}`); tests/test_generate.py checks the full 1080x1920.

Markers: `e2e` marks the slow end-to-end tests (real servers, browser, whole-movie builds,
concurrency, kills). `.ci/run` runs `-m "not e2e"` first, then `-m e2e`, each on pytest-xdist
workers with `--dist loadfile` (a module's tests and its module fixtures stay on one worker).
Session fixtures start once per worker.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from movie_assets.instance.local_stack import LocalPostgres, LocalSeaweedS3, free_port, new_secret
from tests.servers import outside_pytest_tmp

RENDER_DIVISOR = "3"  # 1080x1920 -> 360x640

# The longest modules (minutes of whole-movie builds each), in the order xdist should hand them
# out: started first, they overlap the short ones instead of running alone at the end.
LONGEST_MODULES = (
    "test_reliability",
    "test_akash_movie",
    "test_production",
    "test_regenerate",
    "test_ui_browser",
    "test_diffusers",
    "test_video",
    "test_migrate",
    "test_integrity",
    "test_akash_idle",
    "test_akash_launcher",
    "test_batches_build",
    "test_ui_automation",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first (stable: the tests of a module keep their order)."""

    def rank(item: pytest.Item) -> int:
        module = item.path.stem
        return LONGEST_MODULES.index(module) if module in LONGEST_MODULES else len(LONGEST_MODULES)

    items.sort(key=rank)


_module_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::")[0]
    _module_seconds[module] = _module_seconds.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    """The slowest modules (setup, calls and teardown summed): where a stage's time goes, and
    the order LONGEST_MODULES should keep."""
    slowest = sorted(_module_seconds.items(), key=lambda item: -item[1])[:15]
    if slowest:
        terminalreporter.write_sep("-", "slowest modules (s)")
        for module, seconds in slowest:
            terminalreporter.write_line(f"{seconds:8.1f}  {module}")


@pytest.fixture(scope="session", autouse=True)
def small_render():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOVIE_RENDER_DIVISOR", RENDER_DIVISOR)
        yield


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seaweedfs")
    server = LocalSeaweedS3(
        folder / "data",
        free_port(),
        access_key="AK" + uuid.uuid4().hex[:14],
        secret_key=new_secret(),
    ).start()
    yield server
    server.stop(grace_s=2)


@pytest.fixture(scope="session")
def postgres():
    folder = outside_pytest_tmp("movie-pg-")
    server = LocalPostgres(folder / "pgdata", free_port(), password=new_secret()).start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("diffusers", reason="the gpu extra (torch, diffusers) is not installed")
    from tests.tiny_pipelines import build_ltx_video, build_text_to_image

    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "image": build_text_to_image(root / "tiny-sd"),
        "video": build_ltx_video(root / "tiny-ltx"),
    }
