"""Ctrl-C and SIGTERM stop a build quietly: one line, no traceback, the runs marked, and the same
command resumes (finished partitions and provider calls are not redone).

The CLI process turns both signals into `Interrupted` (a KeyboardInterrupt carrying the signal).
While Dagster executes a run in this process it holds SIGINT (and maps SIGTERM onto it) and only
records the interrupt, so the signal is also noted through a wakeup fd: `raise_if_interrupted`
after the run raises it then. Run workers never raise on a signal: they note it, the run that is
executing fails as interrupted (producing.classified_failures keeps the retry policy from
retrying it), and they start no other run.

A terminal's Ctrl-C goes to every process of the foreground group, including the helpers a run
starts (Dagster's compute-log `tail` and its watcher script, which would print a
KeyboardInterrupt trace, and ffmpeg). Processes started while a run executes therefore inherit
a blocked SIGINT (`children_ignore_ctrl_c`): the main thread blocks it, and one idle thread that
keeps it unblocked receives it for the process, so the run itself still sees the interrupt.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
MESSAGE = "interrupted: run the same command again"
RECEIVER_THREAD = "movie-signals"  # the thread that receives Ctrl-C while children run

_state: dict = {"signum": None, "read_fd": None}


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(NAMES.get(signum, f"signal {signum}"))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 130)


def exit_code(error: BaseException) -> int:
    if isinstance(error, Interrupted):
        return error.exit_code
    received = _state["signum"]
    return EXIT_CODES.get(received, 130) if received else 130


def _watch_wakeup_fd() -> None:
    """Every signal with a Python handler (ours, or Dagster's while a run executes) writes its
    number to this pipe, so an interrupt Dagster swallowed can still be seen afterwards."""
    if _state["read_fd"] is not None or threading.current_thread() is not threading.main_thread():
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    _state["read_fd"] = read_fd


_read_lock = threading.Lock()


def _drain() -> list[int]:
    """Signals noted in the wakeup pipe since the last read (the receiver thread and the main
    thread both read; the lock makes whoever reads a byte record it before the other looks)."""
    read_fd = _state["read_fd"]
    if read_fd is None:
        return []
    try:
        data = os.read(read_fd, 512)
    except (BlockingIOError, OSError):
        return []
    seen = [number for number in data if number in EXIT_CODES]
    if seen and _state["signum"] is None:
        _state["signum"] = signal.Signals(seen[0])
    return seen


def interrupted() -> int | None:
    """The signal (SIGINT or SIGTERM) received so far, if any; sticky once seen."""
    with _read_lock:
        _drain()
    return _state["signum"]


def raise_if_interrupted() -> None:
    signum = interrupted()
    if signum is not None:
        raise Interrupted(signum)


def _raise(signum: int, frame) -> None:
    _state["signum"] = signal.Signals(signum)
    raise Interrupted(signum)


def _note(signum: int, frame) -> None:
    if _state["signum"] is None:
        _state["signum"] = signal.Signals(signum)


def _stop_children() -> None:
    """A run is executing and was interrupted: end what it started (ffmpeg, the compute-log
    helpers), so the main thread, waiting on one of them, sees the interrupt now rather than
    when the child is done. They started with SIGINT blocked, so they get SIGTERM."""
    import psutil

    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        try:
            if "resource_tracker" in " ".join(child.cmdline()):
                continue  # multiprocessing's own helper, not the run's
            child.terminate()
        except psutil.Error:
            continue


@contextmanager
def run_executing() -> Iterator[None]:
    """While a run executes here, an interrupt also ends the processes it started."""
    _state["running"] = True
    try:
        yield
    finally:
        _state["running"] = False


def _start_receiver() -> None:
    """One thread with SIGINT unblocked: it takes the signal for the process while the main
    thread blocks it (Python runs the handler in the main thread as usual), and it watches the
    wakeup pipe, so an interrupted run is stopped even while the main thread waits on a child."""
    if _state.get("receiver") is not None:
        return
    ready = threading.Event()
    read_fd = _state["read_fd"]

    def receive() -> None:
        import select

        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        ready.set()
        if read_fd is None:
            threading.Event().wait()
        while True:
            select.select([read_fd], [], [])
            with _read_lock:
                seen = _drain()
            if seen and _state.get("running"):
                _stop_children()

    thread = threading.Thread(target=receive, name=RECEIVER_THREAD, daemon=True)
    thread.start()
    ready.wait(5)
    _state["receiver"] = thread


@contextmanager
def children_ignore_ctrl_c() -> Iterator[None]:
    """Processes started inside this block start with SIGINT blocked (the mask is inherited
    across fork and exec); this process still receives it through the receiver thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _start_receiver()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def install_cli() -> None:
    """The CLI process: SIGINT and SIGTERM raise Interrupted."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _raise)
    signal.signal(signal.SIGTERM, _raise)
    _watch_wakeup_fd()
    _start_receiver()


def _forget_parent_state() -> None:
    """A forked child (a build worker forked from the CLI) starts with none of its parent's
    signal plumbing: the wakeup pipe is the parent's (whoever reads first would take the
    other's signal), the receiver thread did not survive the fork, and the lock may have been
    held by it."""
    global _read_lock
    _read_lock = threading.Lock()
    read_fd = _state.get("read_fd")
    if read_fd is not None:
        try:
            signal.set_wakeup_fd(-1)  # the C-level wakeup fd is inherited too
        except ValueError:  # not the main thread: nothing was set for this one
            pass
        os.close(read_fd)
    _state.clear()
    _state.update(signum=None, read_fd=None)


os.register_at_fork(after_in_child=_forget_parent_state)


def install_worker() -> None:
    """A run worker: signals are noted, never raised outside a run (no traceback); a run that is
    executing sees them through Dagster as an interrupt."""
    signal.signal(signal.SIGINT, _note)
    signal.signal(signal.SIGTERM, _note)
    _watch_wakeup_fd()
    _start_receiver()
    # For good: what a run starts (compute-log helpers, ffmpeg) never takes a terminal's Ctrl-C.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def stop_processes(pids: list[int], grace_s: float = 15.0) -> list[int]:
    """Interrupt `pids` (and what they started), wait up to `grace_s` for them to end, then kill
    whatever is left with its children; returns the pids that had to be killed."""
    import psutil

    processes = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            process.send_signal(signal.SIGINT)
            processes.append(process)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(processes, timeout=grace_s)
    killed = []
    for process in alive:
        try:
            family = [*process.children(recursive=True), process]
        except psutil.Error:
            family = [process]
        for member in family:
            try:
                member.kill()
            except psutil.Error:
                pass
        killed.append(process.pid)
    psutil.wait_procs(alive, timeout=5)
    return killed
