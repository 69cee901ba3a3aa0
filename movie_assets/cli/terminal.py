"""What the terminal shows: user values printed literally, one line per failure, traces to the log.

Every string a user typed is data. `lit` escapes Rich markup (a prompt containing "[/x]" would
otherwise crash Rich or restyle the screen) and makes control characters visible instead of
letting them act on the terminal; it also masks every secret the process knows
(resources/runtime/secrets.py). `report_crash` turns any uncaught error into one line naming its
class
and the log file that holds the full trace (`--verbose` prints the trace too).
"""

from __future__ import annotations

import sys
import traceback
import unicodedata

from rich.console import Console
from rich.markup import escape

from resources.domain.errors import classify
from resources.runtime.logs import append_log
from resources.runtime.secrets import redact

console = Console(stderr=True)
VERBOSE = {"on": False}


def visible(value: object) -> str:
    """`value` as text with control characters shown as \\xNN instead of acting on a terminal,
    and secrets masked."""
    text = redact(str(value))
    if not any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        return text
    return "".join(
        c if c in "\n\t" or unicodedata.category(c) != "Cc" else f"\\x{ord(c):02x}" for c in text
    )


def lit(value: object) -> str:
    """A user value, safe to embed in Rich markup: printed exactly as typed."""
    return escape(visible(value))


def fail(message: str, code: int = 2) -> None:
    """Print `error: message` (taken literally) and exit; nothing after this runs."""
    console.print("[bold red]error:[/] " + lit(message), soft_wrap=True)  # never split a line
    sys.exit(code)


def report_crash(error: BaseException) -> int:
    """One line for the terminal, the trace for the log; returns the exit code."""
    trace = redact("".join(traceback.format_exception(error)))
    try:
        path = append_log(f"movie {' '.join(sys.argv[1:2])} failed", trace)
    except OSError:  # the disk that failed the command may refuse the log too
        path = None
    found = classify(error)
    line = found.describe() if found else f"{type(error).__name__}: {error}"
    line = " ".join(redact(line).split())
    if VERBOSE["on"]:
        console.print(lit(trace))
    console.print("[bold red]error:[/] " + lit(line), soft_wrap=True)
    if path is not None and path.exists():
        console.print(f"[dim]full trace: {lit(path)}[/]", soft_wrap=True)
    return 1


def open_instance():
    """The project's instance; runs whose process died are marked failed, and the user told."""
    from movie_assets.orchestration.builder import prepare_instance, reap_dead_runs

    instance = prepare_instance()
    reaped = reap_dead_runs(instance)
    if reaped:
        console.print(
            f"[yellow]marked {len(reaped)} run(s) failed because their process died[/] "
            f"({', '.join(run_id[:8] for run_id in reaped)}); `movie generate` resumes the build"
        )
    return instance
