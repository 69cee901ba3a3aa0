"""The pending marks: what a rebuild will redo, per movie, as the `up_to_date` checks recorded it.

A small JSON file per movie under DAGSTER_HOME/up_to_date ([asset, partition, why] rows),
written by checks/stale_marks.py after `movie edit` and every rebuild. Reading it needs no
Dagster storage, so the code location can describe pending work at load, and the slot watcher
and the command line read it too.
"""

from __future__ import annotations


def marks_file(movie_id: str):
    from resources.runtime.settings import dagster_home

    return dagster_home() / "up_to_date" / f"{movie_id}.json"


def read_marks(path) -> list[list[str]]:
    """The marks file's rows ([asset, partition] in older files, [asset, partition, why] now);
    an unreadable file counts as no marks."""
    import json

    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [list(map(str, row)) for row in rows if isinstance(row, list) and len(row) >= 2]


def pending_rows() -> dict[str, list[list[str]]]:
    """The marks of every movie that still exists and has pending work: {movie: [[asset,
    partition, why], ...]}. Reads a small file per movie and no Dagster storage, so the code
    location can describe it at load."""
    from resources.runtime.settings import dagster_home
    from resources.storage.projects import ProjectStore

    projects = ProjectStore()
    found: dict[str, list[list[str]]] = {}
    folder = dagster_home() / "up_to_date"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        movie_id = path.stem
        try:
            if not projects.exists(movie_id):
                continue
        except ValueError:
            continue
        rows = read_marks(path)
        if rows:
            found[movie_id] = rows
    return found


def _cause(row: list[str]) -> str | None:
    """ "shot_image s01i0: shot_input has a new data version" for a partition that needs work
    itself; None for one only downstream of such a partition."""
    if len(row) < 3 or row[2].startswith("after "):
        return None
    return f"{row[0]} {row[1].split('|')[-1]}: {row[2]}"


def pending_summary(rows: dict[str, list[list[str]]] | None = None) -> dict[str, dict]:
    """{movie: {"partitions": n, "causes": [...]}} of the movies with pending work."""
    rows = pending_rows() if rows is None else rows
    return {
        movie_id: {
            "partitions": len(found),
            "causes": [c for c in map(_cause, found) if c],
        }
        for movie_id, found in rows.items()
    }


def pending_by_asset(rows: dict[str, list[list[str]]] | None = None) -> dict[str, str]:
    """{asset: "bees (1: shot_input has a new data version)"}: a line per asset with pending
    partitions, naming the movies, how many partitions and the first reason."""
    rows = pending_rows() if rows is None else rows
    per_asset: dict[str, dict[str, list[str]]] = {}
    for movie_id, found in rows.items():
        for row in found:
            per_asset.setdefault(row[0], {}).setdefault(movie_id, []).append(
                row[2] if len(row) > 2 else "stale"
            )
    return {
        asset: ", ".join(
            f"{movie_id} ({len(whys)}: {whys[0]})" for movie_id, whys in movies.items()
        )
        for asset, movies in per_asset.items()
    }


def marks_signature() -> tuple:
    """Changes whenever a marks file does (the UI reloads its descriptions then)."""
    from resources.runtime.settings import dagster_home

    folder = dagster_home() / "up_to_date"
    if not folder.is_dir():
        return ()
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(found)
