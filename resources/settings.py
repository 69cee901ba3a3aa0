"""Where a project keeps its state. One folder (MOVIE_HOME, default ./.movie) holds the Dagster
instance, the artifact store and the user's inputs, so a project is self-contained."""

from __future__ import annotations

import os
from pathlib import Path


def movie_home() -> Path:
    return Path(os.environ.get("MOVIE_HOME", ".movie")).resolve()


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", str(movie_home() / "dagster"))).resolve()


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
