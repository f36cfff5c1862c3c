"""Root conftest: benchmarks, test order, and the processes the tests start.

- ``--benchmark-only`` turns the ``--benchmark-disable`` of addopts off: addopts disables benchmarks so a plain
  ``pytest`` runs each once as a test; ``pytest benchmarks --benchmark-only`` then times them.
- The ``processes`` fixture starts commands, each in a process group of its own, and kills every group it
  started when the test ends or a command outlives its time; a test never waits on a command's luck.
- At the end of the run, a process that any test started and that is still alive fails the run: every
  process started here carries ``GRADCHECK_TEST_RUN`` in its environment, however it was started.
- Every check the suite runs is held to the report's invariants (``GRADCHECK_VALIDATE``, see
  ``gradcheck.report.invariants``): a full PASS has every element checked, counts add up, the worst list is
  the worst. A check whose report breaks one raises.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from types import SimpleNamespace

import pytest

pytest_plugins = ["pytester"]      # the gradcheck plugin's own tests run pytest inside pytest

RUN_ID = os.environ.setdefault("GRADCHECK_TEST_RUN", uuid.uuid4().hex)
os.environ.setdefault("GRADCHECK_VALIDATE", "1")
LEFT_GRACE = 10.0                  # seconds a process that is ending (a browser's helpers) may take to go


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "benchmark_only", False):
        config.option.benchmark_enable = True


def pytest_collection_modifyitems(session, config, items):
    """The JAX tests run last: JAX's runtime starts threads, and a later ``os.fork()`` (every check with a time
    limit runs in a forked child) could deadlock on a lock one of them holds; JAX warns so at every fork."""
    items.sort(key=lambda item: "test_gradcheck_jax" in item.nodeid)     # stable: the rest keep their order


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture
def processes():
    """``start(argv, **popen)`` a command in a new session (its own process group), pipes for its output;
    ``run(argv, timeout, **popen)`` it to its end: a command still running at ``timeout`` has its group killed
    and fails the test. Every group started is killed when the test ends."""
    started: list[subprocess.Popen] = []

    def start(argv, **popen) -> subprocess.Popen:
        popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
        process = subprocess.Popen(argv, start_new_session=True, **popen)
        started.append(process)
        return process

    def run(argv, timeout: float, **popen) -> subprocess.CompletedProcess:
        process = start(argv, **popen)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            out, err = process.communicate()
            pytest.fail(f"{argv} did not end within {timeout} s (its process group was killed)\n{(err or '')[-3000:]}")
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    yield SimpleNamespace(start=start, run=run)
    for process in started:
        _kill_group(process)
        process.wait()


def _left_running() -> list:
    import psutil

    left = []
    for proc in psutil.process_iter(["pid", "status", "cmdline"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if proc.environ().get("GRADCHECK_TEST_RUN") == RUN_ID:
                left.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return left


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if a process that it started outlives it (after a short grace for ones that are ending)."""
    if os.environ.get("GRADCHECK_TEST_RUN") != RUN_ID or hasattr(session.config, "workerinput"):
        return
    deadline = time.monotonic() + LEFT_GRACE
    left = _left_running()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _left_running()
    if not left:
        return
    lines = "\n".join(f"  pid {p.pid}: {' '.join(p.info['cmdline'] or [])[:200]}" for p in left)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"{len(left)} process(es) started by this test run are still running (now killed):\n{lines}"
    if reporter is not None:
        reporter.write_line(message, red=True)
    for proc in left:
        try:
            proc.kill()
        except Exception:  # noqa: BLE001 - gone meanwhile
            pass
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
