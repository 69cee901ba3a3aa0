"""Source name -> the data versions of one movie's planned partitions.

assets/inputs.py fills this as it defines each input source; the builder records these versions
directly as observations (no run per edit); the UI's "Observe" runs the source assets.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from resources.storage.projects import MovieInputs

SOURCE_VERSIONS: dict[str, Callable[[str, MovieInputs], dict[str, dg.DataVersion]]] = {}
