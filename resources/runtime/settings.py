"""Where a project keeps its state. One folder (MOVIE_HOME, default ./.movie) holds the Dagster
instance, the artifact store and the user's inputs, so a project is self-contained."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def movie_home() -> Path:
    return Path(os.environ.get("MOVIE_HOME", ".movie")).resolve()


MODES = ("local", "production")


def production_mode(env: Mapping[str, str] | None = None) -> bool:
    """MOVIE_MODE=production: PostgreSQL instance, S3 artifacts, runs through the daemon's queue
    (see movie_assets/instance/queued_builder.py); local (the default) keeps everything in
    MOVIE_HOME."""
    env = os.environ if env is None else env
    mode = env.get("MOVIE_MODE", "local").strip().lower() or "local"
    if mode not in MODES:
        raise ValueError(f"MOVIE_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    return mode == "production"


def dagster_home() -> Path:
    default = movie_home() / ("production/dagster" if production_mode() else "dagster")
    return Path(os.environ.get("DAGSTER_HOME", str(default))).resolve()


def font_path(bold: bool = True) -> Path:
    """DejaVu Sans (Latin, Greek, Cyrillic) from matplotlib's wheel, found without importing it."""
    from importlib.util import find_spec

    spec = find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is required for its bundled DejaVu fonts")
    root = Path(next(iter(spec.submodule_search_locations)))
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return root / "mpl-data" / "fonts" / "ttf" / name


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
