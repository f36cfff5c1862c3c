"""Every process gradcheck starts is started here, and ended here on every path.

One mechanism, ``fork``, for both kinds of process:

- **the check child** (:func:`run_limited`): a check of the command, or ``check_layer(..., timeout=)``, in a
  forked child that leads a process group of its own. It sends its result back through a pipe and leaves
  at once with ``os._exit`` (no exit handlers). Past its time limit it is asked for its Python stack, and
  then the whole group goes. Its memory can be capped (``max_bytes``, an address-space limit).
- **workers** (:class:`Pool`): forked from whichever process runs the check, the check child or the
  caller's own. Each is a copy of the check as it stands, so nothing is pickled but the chunks of work and
  their results. They live for one pass and are killed and reaped when it ends.

Every child is in ``_LIVE`` from its fork until it has been reaped. :func:`end_all` kills them all; the
command's handlers for SIGINT, SIGTERM and a closed stdout call it. A child also dies with its parent
(``PR_SET_PDEATHSIG`` on Linux). Nothing waits for an idle timeout or an exit handler.
"""
from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import os
import pickle
import re
import resource
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait

__all__ = ["CheckTimedOut", "ChildRaised", "MemoryCapExceeded", "Pool", "Stopped", "WorkerFailed", "end_all",
           "run_here_limited", "run_limited", "stopping_signals", "where_it_was"]

_FORK = multiprocessing.get_context("fork")
_ENDING = {signal.SIGINT, signal.SIGTERM}
_LIVE: dict[int, bool] = {}         # pid -> whether it leads its own process group
_OURS = re.compile(r"[/\\](gradcheck|numpy|multiprocessing|joblib|threadpoolctl)[/\\]|[/\\]python3\.\d+[/\\]")


# ------------------------------------------------------------------------------------------ forking, ending

def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when its parent goes, however the parent goes."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    except (OSError, AttributeError):       # pragma: no cover - not Linux: the pipe's EOF still ends a worker
        pass
    if os.getppid() != parent:              # the parent went before the request took effect
        os._exit(1)


def _entry(body: Callable[..., None], args: tuple, own_group: bool, parent: int) -> None:
    """What a forked child runs: its signals set, ``body(*args)``, then ``os._exit`` whatever happened."""
    code = 0
    try:
        if own_group:
            os.setpgrp()                    # a terminal's Ctrl-C reaches the parent, which ends the group
        _die_with_parent(parent)
        # a check child gets signals only from its parent; a worker may share a terminal's group, and its
        # parent ends it: neither prints a traceback for a Ctrl-C
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _ENDING)     # blocked by the parent around the fork
        body(*args)
    except BaseException:  # noqa: BLE001 - a body reports its own errors; this is the last word
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):     # what the checked code printed, not the parent's buffer
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe: nothing more to say
                pass
        os._exit(code)


def _fork(body: Callable[..., None], args: tuple, own_group: bool):
    """A started child running ``body(*args)``, known to :func:`end_all` from before it exists."""
    process = _FORK.Process(target=_entry, args=(body, args, own_group, os.getpid()), daemon=False)
    # a signal landing between the fork and the bookkeeping would leave a child nobody knows of
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _ENDING)
    try:
        process.start()
        _LIVE[process.pid] = own_group
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return process


def _kill(pid: int, own_group: bool) -> None:
    try:
        (os.killpg if own_group else os.kill)(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _end(process) -> None:
    """Kill ``process`` (and its group, if it leads one) and reap it."""
    if process.pid is None:
        return
    own_group = _LIVE.get(process.pid, False)
    _kill(process.pid, own_group)
    process.join()
    _LIVE.pop(process.pid, None)


def end_all() -> None:
    """Kill every child this process started and has not reaped yet, with the groups they lead (for signal
    handlers: it only sends signals; the paths that started them reap them)."""
    for pid, own_group in list(_LIVE.items()):
        _kill(pid, own_group)


# ------------------------------------------------------------------------------------------ the check child

class CheckTimedOut(RuntimeError):
    """A check ran out of its time limit; ``where`` is where the checked code was, ``stack`` the dump."""

    def __init__(self, seconds: float, where: str, stack: str) -> None:
        super().__init__(f"timed out after {seconds:g} s{f', in {where}' if where else ''}")
        self.seconds, self.where, self.stack = seconds, where, stack


class ChildRaised(RuntimeError):
    """The check raised in the child process, or the child died; the message and traceback are the child's."""

    def __init__(self, name: str, message: str, trace: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name, self.trace = name, trace


class MemoryCapExceeded(MemoryError):
    """The checked code asked for more memory than the cap allows; the message names the cap and the line."""


def where_it_was(stack: str, newest_first: bool = True) -> str:
    """The innermost frame of a stack that is not gradcheck's, numpy's or Python's own: ``forward (mymodule.py,
    line 12)``. A faulthandler dump lists the newest call first; a traceback (``newest_first=False``) last."""
    frames = re.findall(r'File "([^"]+)", line (\d+),? in (\S+)', stack)
    for filename, line, function in (frames if newest_first else frames[::-1]):
        if not _OURS.search(filename):
            return f"{function} ({os.path.basename(filename)}, line {line})"
    return ""


def _gib(n: float) -> str:
    return f"{n / 2 ** 30:.3g} GiB"


def _cap(max_bytes: float) -> None:
    """At most ``max_bytes`` more address space than this process has now, for it and what it forks (Linux:
    where /proc does not say how much it has, no cap)."""
    try:
        with open("/proc/self/statm") as statm:
            now = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:     # pragma: no cover - not Linux
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = now + int(max_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


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


def _send_raised(conn, exc: BaseException) -> None:
    try:
        conn.send(("exception", exc))
    except Exception:  # noqa: BLE001 - an exception that does not pickle: its name, text and traceback
        conn.send(("raised", (type(exc).__name__, str(exc), "".join(traceback.format_exception(exc)))))


def _check_child(conn, fn: Callable[[], object], dump_path: str, max_bytes: float | None) -> None:
    with open(dump_path, "w") as dump:
        faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True)
        start = time.perf_counter()
        try:
            if max_bytes is not None:
                _cap(max_bytes)
            result = fn()
            conn.send(("ok", (_portable(result), time.perf_counter() - start)))
        except MemoryError as exc:
            if max_bytes is None:
                _send_raised(conn, exc)
                return
            where = where_it_was("".join(traceback.format_exception(exc)), newest_first=False)
            _send_raised(conn, MemoryCapExceeded(
                f"the check needed more than the memory cap of {_gib(max_bytes)} (--max-memory)"
                f"{f', in {where}' if where else ''}: {type(exc).__name__}: {exc}"))
        except BaseException as exc:  # noqa: BLE001 - anything the check raised goes back to the parent
            _send_raised(conn, exc)
        finally:
            conn.close()


def run_limited(fn: Callable[[], object], seconds: float | None, max_bytes: float | None = None
                ) -> tuple[object, float]:
    """``fn()`` in a forked child of its own process group, within ``seconds`` (None: no limit) and, with
    ``max_bytes``, within that much more address space than it starts with.

    Returns ``(result, seconds fn took)``, or raises what ``fn`` raised (:class:`ChildRaised` for what does
    not pickle or a child that died, :class:`MemoryCapExceeded` past the cap), or :class:`CheckTimedOut`.
    The child's group is killed and the child reaped before this returns or raises, on every path."""
    parent, child = _FORK.Pipe(duplex=False)
    with tempfile.NamedTemporaryFile("w+", suffix=".stack", delete=False) as handle:
        dump_path = handle.name
    process = None
    try:
        process = _fork(_check_child, (child, fn, dump_path, max_bytes), own_group=True)
        child.close()
        if not parent.poll(seconds):
            os.kill(process.pid, signal.SIGUSR1)        # the stack first, then the end of the whole group
            time.sleep(0.3)
            with open(dump_path) as dump:
                stack = dump.read()
            raise CheckTimedOut(seconds, where_it_was(stack), stack)
        try:
            status, payload = parent.recv()
        except EOFError:
            process.join()
            code = process.exitcode
            died = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            cap = f" (under the memory cap of {_gib(max_bytes)}, --max-memory)" if max_bytes is not None else ""
            raise ChildRaised("ChildDied", f"the check's process died, {died}{cap}", "") from None
        if status == "ok":
            return payload
        if status == "exception":
            raise payload
        raise ChildRaised(*payload)
    finally:
        if process is not None:
            _end(process)
        parent.close()
        os.unlink(dump_path)


def run_here_limited(fn: Callable[[], object], seconds: float | None) -> tuple[object, float]:
    """``fn()`` in this process, stopped by :class:`CheckTimedOut` after ``seconds`` (None: no limit); returns
    ``(result, seconds fn took)`` as :func:`run_limited` does.

    For code that a forked child would deadlock in (JAX's runtime is multithreaded and says so at
    ``os.fork``). A real-time timer (``SIGALRM``) raises in the main thread at the next Python instruction, so
    a loop in the checked code ends, but a single call stuck in compiled code runs until it returns. Outside
    the main thread there is no signal to use, and ``fn`` runs without a limit."""
    start = time.perf_counter()
    if seconds is None or threading.current_thread() is not threading.main_thread():
        return fn(), time.perf_counter() - start

    def expire(signum, frame) -> None:
        # raised inside a callback that ignores exceptions (a garbage-collector hook), it would be lost:
        # armed again, it comes back until it lands in the checked code; the caller disarms it
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        stack = "".join(traceback.format_stack(frame))
        raise CheckTimedOut(seconds, where_it_was(stack, newest_first=False), stack)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(), time.perf_counter() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------------------------------ workers

class WorkerFailed(RuntimeError):
    """A worker raised (``trace`` is its traceback) or died; the pass is then run in the calling process."""

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace


def _serve(conn, work: Callable[[object], object]) -> None:
    """A worker's loop: a task in, ``work(task)`` out, until the pipe closes."""
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", work(task)))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
            conn.send(("raised", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))


class Pool:
    """``jobs`` forked workers running ``work(task)``; a context manager that kills and reaps them at its end.

    ``work`` and everything it reaches are the workers' copies, as they were at the fork."""

    def __init__(self, work: Callable[[object], object], jobs: int) -> None:
        self.work, self.jobs = work, jobs
        self._workers: list = []
        self._pipes: list = []

    def __enter__(self) -> Pool:
        try:
            for _ in range(self.jobs):
                mine, theirs = _FORK.Pipe(duplex=True)
                self._workers.append(_fork(_serve, (theirs, self.work), own_group=False))
                self._pipes.append(mine)
                theirs.close()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for pipe in self._pipes:
            pipe.close()
        for process in self._workers:
            _end(process)
        self._workers, self._pipes = [], []

    def results(self, tasks: Sequence[object]) -> Iterator[tuple[int, object]]:
        """``(i, work(tasks[i]))`` for every task, in the order they finish; a task goes to whichever worker
        is free. Raises :class:`WorkerFailed` when a worker raises or dies."""
        queue = list(range(len(tasks)))[::-1]
        busy: dict = {}
        for pipe in self._pipes:
            if queue:
                i = queue.pop()
                pipe.send(tasks[i])
                busy[pipe] = i
        while busy:
            for pipe in wait(list(busy)):
                try:
                    status, value = pipe.recv()
                except EOFError:
                    process = self._workers[self._pipes.index(pipe)]
                    process.join(timeout=1)
                    code = process.exitcode
                    died = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                    raise WorkerFailed(f"a worker process died ({died})") from None
                if status == "raised":
                    raise WorkerFailed(f"a worker raised {value[0]}", value[1])
                yield busy.pop(pipe), value
                if queue:
                    i = queue.pop()
                    pipe.send(tasks[i])
                    busy[pipe] = i


# ------------------------------------------------------------------------------------------ the command's signals

class Stopped(BaseException):
    """SIGTERM, raised in the main thread as KeyboardInterrupt is for SIGINT."""


def _raise_stopped(signum, frame) -> None:
    raise Stopped


class stopping_signals:
    """While active (in the main thread): SIGINT raises KeyboardInterrupt and SIGTERM :class:`Stopped`, so
    the ``finally`` blocks of whatever runs end their processes; on the way out through either, every child
    still known is killed too."""

    def __enter__(self) -> stopping_signals:
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = (signal.signal(signal.SIGINT, signal.default_int_handler),
                             signal.signal(signal.SIGTERM, _raise_stopped))
        return self

    def __exit__(self, kind, exc, trace) -> None:
        if kind is not None and issubclass(kind, (KeyboardInterrupt, Stopped)):
            end_all()
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous[0])
            signal.signal(signal.SIGTERM, self.previous[1])
