"""Checks that end whatever the checked code does: a time limit, and where the code was when it ran out.

:func:`run_limited` runs a check in a forked child process in a process group of its own (so every process
the check starts, its workers and their resource tracker, goes with it). If the child does not answer within
the limit, it is asked for its Python stack (``faulthandler`` on ``SIGUSR1``), then the whole group is
killed, and :class:`CheckTimedOut` says where the checked code was: the innermost frame outside gradcheck
and numpy, the layer's method and line. :func:`stop_children` ends the group of the check running now, for
the command's signal handlers.
"""
from __future__ import annotations

import faulthandler
import multiprocessing
import os
import pickle
import re
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable

__all__ = ["CheckTimedOut", "run_limited", "run_here_limited", "stop_children", "where_it_was"]

_RUNNING: set[int] = set()          # process groups of the checks running now
_ENDING = {signal.SIGINT, signal.SIGTERM}
_OURS = re.compile(r"[/\\](gradcheck|numpy|multiprocessing|joblib|threadpoolctl)[/\\]|[/\\]python3\.\d+[/\\]")


class CheckTimedOut(RuntimeError):
    """A check ran out of its time limit; ``where`` is where the checked code was, ``stack`` the dump."""

    def __init__(self, seconds: float, where: str, stack: str) -> None:
        super().__init__(f"timed out after {seconds:g} s{f', in {where}' if where else ''}")
        self.seconds, self.where, self.stack = seconds, where, stack


def where_it_was(stack: str) -> str:
    """The innermost frame of a faulthandler dump that is not gradcheck's, numpy's or Python's own:
    ``forward (mymodule.py, line 12)``."""
    frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', stack)
    # faulthandler lists the most recent call first, the main thread's first when asked for all threads
    for filename, line, function in frames:
        if not _OURS.search(filename):
            return f"{function} ({os.path.basename(filename)}, line {line})"
    return ""


def _child(conn, fn: Callable[[], object], dump_path: str) -> None:
    os.setpgrp()                    # its own group: a terminal's Ctrl-C reaches the parent, which ends it
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _ENDING)       # blocked by the parent around the fork
    with open(dump_path, "w") as dump:
        faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True)
        try:
            conn.send(("ok", _portable(fn())))
        except BaseException as exc:  # noqa: BLE001 - anything the check raised goes back to the parent
            try:
                conn.send(("exception", exc))
            except Exception:  # noqa: BLE001 - an exception that does not pickle: its name, text, traceback
                conn.send(("raised", (type(exc).__name__, str(exc), traceback.format_exc())))
        finally:
            conn.close()


class _Named:
    """Stands for an object that could not be sent back from the child: its description."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _portable(result: object) -> object:
    """The result without what only the child can use: the report's handle on the checked objects, and a
    fuzz result's layers where they do not pickle (their descriptions stand in)."""
    for item in [result] + list(getattr(result, "others", [])):
        report = getattr(item, "report", item)
        if hasattr(report, "_differences"):
            if hasattr(report, "keep_worst_curves"):
                report.keep_worst_curves()          # the pictures' step curves, while the layer is here
            report._differences = None
        if hasattr(item, "layer"):
            try:
                pickle.dumps(item.layer)
            except Exception:  # noqa: BLE001 - any object that does not pickle
                item.layer = _Named(repr(item.layer))
    return result


class ChildRaised(RuntimeError):
    """The check raised in the child process; the message and traceback are the child's."""

    def __init__(self, name: str, message: str, trace: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name, self.trace = name, trace


def run_limited(fn: Callable[[], object], seconds: float | None) -> object:
    """``fn()`` in a forked child, within ``seconds`` (None: no limit); its result (pickled back), or
    :class:`ChildRaised`, or :class:`CheckTimedOut` after the child's process group was killed."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    with tempfile.NamedTemporaryFile("w+", suffix=".stack", delete=False) as handle:
        dump_path = handle.name
    process = context.Process(target=_child, args=(child, fn, dump_path), daemon=False)
    try:
        # a signal that lands while the child is being made would leave it running unknown to the handler:
        # held back until its pid is known
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _ENDING)
        try:
            process.start()
            _RUNNING.add(process.pid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.close()
        if parent.poll(seconds):
            try:
                status, payload = parent.recv()
            except EOFError:
                status, payload = "raised", ("ChildDied", f"exit code {process.exitcode}", "")
            process.join()
            if status == "ok":
                return payload
            if status == "exception":
                raise payload
            raise ChildRaised(*payload)
        os.kill(process.pid, signal.SIGUSR1)        # the stack first, then the end of the whole group
        time.sleep(0.3)
        with open(dump_path) as dump:
            stack = dump.read()
        raise CheckTimedOut(seconds, where_it_was(stack), stack)
    finally:
        _kill_group(process)
        _RUNNING.discard(process.pid)
        os.unlink(dump_path)


def run_here_limited(fn: Callable[[], object], seconds: float | None) -> object:
    """``fn()`` in this process, stopped by :class:`CheckTimedOut` after ``seconds`` (None: no limit).

    For code that a forked child would deadlock in (JAX's runtime is multithreaded and says so at
    ``os.fork``). A real-time timer (``SIGALRM``) raises in the main thread at the next Python instruction, so
    a loop in the checked code ends, but a single call stuck in compiled code runs until it returns. Outside
    the main thread there is no signal to use, and ``fn`` runs without a limit."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        return fn()

    def expire(signum, frame) -> None:
        # raised inside a callback that ignores exceptions (a garbage-collector hook), it would be lost:
        # armed again, it comes back until it lands in the checked code; the caller disarms it
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        stack = "".join(traceback.format_stack(frame))
        frames = [f for f in traceback.extract_stack(frame) if not _OURS.search(f.filename)]
        where = f"{frames[-1].name} ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})" \
            if frames else ""
        raise CheckTimedOut(seconds, where, stack)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _kill_group(process) -> None:
    if process.pid is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.join(timeout=2)


def stop_children() -> None:
    """Kill the process groups of the checks running now (for a signal handler)."""
    for pid in list(_RUNNING):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
