"""Issue 28: the command ends when its checks end, whatever they start, on a layer large enough for workers.

Each command runs through the ``processes`` fixture (its own process group, killed on a time-out), and the
run fails at its end if any process a test started is still alive (root conftest)."""
from __future__ import annotations

import json
import os
import sys
import time

import psutil
import pytest

from gradcheck import check_layer
from tests.process_layers import RecordedBiasGradientMean, RecordedFullyConnected

GRADCHECK = [sys.executable, "-m", "gradcheck"]
BIG = ["--args", "160", "160", "--batch", "32"]      # long enough a check that it goes to worker processes
SLACK = 10.0        # seconds: the command's start-up (Python, numpy, the checker) and a busy machine's jitter


def _pids(log) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.fixture(scope="module")
def in_python():
    """check_layer's own time on each layer, in this process: what the command is held to."""
    times = {}
    for cls in (RecordedFullyConnected, RecordedBiasGradientMean):
        start = time.perf_counter()
        report = check_layer(cls(160, 160), (32, 160))
        times[cls.__name__] = (time.perf_counter() - start, report.ok)
    return times


@pytest.mark.parametrize("options", [[], ["--jobs", "2"], ["--timeout", "120"]], ids=["default", "jobs2", "timeout"])
@pytest.mark.parametrize("layer, code", [("RecordedFullyConnected", 0), ("RecordedBiasGradientMean", 1)])
def test_the_command_ends_when_its_check_ends(processes, in_python, tmp_path, layer, code, options):
    log = tmp_path / "pids"
    start = time.perf_counter()
    done = processes.run(GRADCHECK + [f"tests.process_layers:{layer}", *BIG, *options], timeout=300,
                         env={**os.environ, "GRADCHECK_PID_LOG": str(log)})
    took = time.perf_counter() - start
    seconds, ok = in_python[layer]
    assert done.returncode == code and ok == (code == 0), done.stdout + done.stderr
    assert took < 1.3 * seconds + SLACK, f"the command took {took:.1f} s, check_layer {seconds:.1f} s"
    assert done.stderr == "", done.stderr                       # no resource-tracker warning, no traceback
    pids = _pids(log)
    assert len(pids) >= 3, f"the check ran in {pids}: it should have gone to worker processes"
    assert not _alive(pids), f"processes that ran the check still alive: {_alive(pids)}"


def test_the_report_s_seconds_are_the_check_s_own_time(processes, tmp_path):
    """A layer that starts a process of its own (sleep 600): the check ends when its work ends, that process
    goes with its process group, and the seconds reported are the check's, not a wait for a child."""
    log = tmp_path / "pids"
    start = time.perf_counter()
    done = processes.run(GRADCHECK + ["tests.process_layers:StartsAProcess", "--features", "3", "--json"],
                         timeout=120, env={**os.environ, "GRADCHECK_PID_LOG": str(log)})
    took = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    seconds = json.loads(done.stdout)["checks"][0]["seconds"]
    assert 0 < seconds < took < 60, (seconds, took)
    sleepers = _pids(log)          # the check runs copies of the layer too: each starts one
    time.sleep(0.2)
    assert sleepers and not _alive(sleepers), f"processes the layer started outlived the check: {_alive(sleepers)}"


def test_a_closed_pipe_ends_the_command_at_its_next_line(processes):
    """`gradcheck -v | head -n 1`: the header is written before the first check; the first row after it finds
    the pipe closed, and the command ends there, quietly, with SIGPIPE's status."""
    start = time.perf_counter()
    done = processes.run(["bash", "-c", f"{sys.executable} -m gradcheck -v | head -n 1; "
                                        "echo \"status ${PIPESTATUS[0]}\""], timeout=120)
    assert time.perf_counter() - start < 60
    first, status = done.stdout.strip().splitlines()
    assert first.startswith("check") and status == "status 141", done.stdout
    assert done.stderr == "", done.stderr


def test_rows_are_written_as_each_check_ends(processes):
    process = processes.start(GRADCHECK + ["tests.process_layers", "--features", "3", "--jobs", "1"],
                              env={**os.environ, "GRADCHECK_PID_LOG": os.devnull})
    assert process.stdout.readline().startswith("check")
    row = process.stdout.readline()
    assert "PASS" in row or "ERROR" in row, row
    assert process.poll() is None or process.returncode is not None
    process.communicate(timeout=120)


@pytest.mark.parametrize("gib, cap", [(3.2, ["--max-memory", "1"]), (50, [])], ids=["3.2 GiB under 1", "50 GiB"])
def test_the_memory_cap_ends_the_check_that_allocates_and_the_run_goes_on(processes, tmp_path, gib, cap):
    """--max-memory (default: half the available memory) limits the address space of the check's process:
    a forward that asks for more ends its check with a line naming the cap and the layer's line; the next
    check runs."""
    (tmp_path / "hogs.py").write_text(
        "from tests import process_layers\n\n\n"
        f"class Hog(process_layers.AllocatesGiB):\n    def __init__(self):\n        super().__init__({gib})\n\n\n"
        "class Fine:\n    def forward(self, x):\n        return 3 * x\n\n    def backward(self, e):\n"
        "        return 3 * e\n")
    done = processes.run(GRADCHECK + ["hogs", "--features", "3", *cap], timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {line.split(",")[0]: line for line in done.stdout.splitlines() if line.startswith("hogs:")}
    assert "ERROR" in rows["hogs:Hog()"] and "memory cap of" in rows["hogs:Hog()"], done.stdout
    assert "--max-memory" in rows["hogs:Hog()"] and "in forward (process_layers.py, line" in rows["hogs:Hog()"]
    assert "PASS" in rows["hogs:Fine()"], done.stdout


@pytest.mark.parametrize("how", ["command", "check_layer"])
def test_ctrl_c_at_a_terminal_ends_everything(processes, tmp_path, how):
    """A terminal's Ctrl-C goes to its whole foreground process group: the command, or a Python program with
    check_layer and the workers it forked. The workers leave the signal to their parent, which ends them:
    one line (command) or one KeyboardInterrupt (Python), and no process left."""
    import signal

    log = tmp_path / "pids"
    program = (GRADCHECK + ["tests.process_layers:RecordedFullyConnected", "--args", "1024", "1024"]
               if how == "command" else
               [sys.executable, "-c", "from gradcheck import check_layer\n"
                                      "from tests.process_layers import RecordedFullyConnected\n"
                                      "check_layer(RecordedFullyConnected(1024, 1024), (8, 1024))\n"])
    process = processes.start(program, env={**os.environ, "GRADCHECK_PID_LOG": str(log)})
    deadline = time.monotonic() + 60
    while len(_pids(log)) < 3 and time.monotonic() < deadline:     # the workers are running the check
        time.sleep(0.05)
    assert len(_pids(log)) >= 3, f"no workers started: {_pids(log)}"
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=30)
    if how == "command":
        assert process.returncode == 130 and err.strip().startswith("gradcheck: stopped by SIGINT"), err
        assert len(err.strip().splitlines()) == 1, err
    else:
        assert process.returncode == -signal.SIGINT and err.count("KeyboardInterrupt") == 1, err
    time.sleep(0.2)
    assert not _alive(_pids(log)), f"still alive after Ctrl-C: {_alive(_pids(log))}"


def test_a_command_killed_outright_takes_its_children_with_it(processes, tmp_path):
    """SIGKILL runs no handler: the check child and its workers die with their parents (PR_SET_PDEATHSIG)."""
    import signal

    log = tmp_path / "pids"
    process = processes.start(GRADCHECK + ["tests.process_layers:RecordedFullyConnected", "--args", "1024", "1024"],
                              env={**os.environ, "GRADCHECK_PID_LOG": str(log)})
    deadline = time.monotonic() + 60
    while len(_pids(log)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_pids(log)) >= 3, f"no workers started: {_pids(log)}"
    process.send_signal(signal.SIGKILL)             # the command alone, not its group
    process.wait(timeout=30)
    deadline = time.monotonic() + 5
    while _alive(_pids(log)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(_pids(log)), f"outlived the command: {_alive(_pids(log))}"
