"""Issue 21: a run of other people's code ends well: usage errors for what cannot start, strict JSON,
time-outs, a cost guard, and signals that leave nothing behind."""
import json
import re
import time

import pytest

from gradcheck.cli import main


def _strict(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def modules(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)

    def write(name, text):
        (tmp_path / f"{name}.py").write_text(text)
    return write


@pytest.mark.parametrize("source, said", [("def broken(:\n    pass\n", "SyntaxError in"),
                                          ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here")])
def test_a_target_that_cannot_be_imported_is_a_usage_error_in_one_line(modules, capsys, source, said):
    modules("target_mod", source)
    assert main(["target_mod:Layer"]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and "line 1" in err
    assert main(["target_mod:Layer", "--json"]) == 2
    document = _strict(capsys.readouterr().out)
    assert document["exit_code"] == 2 and said in document["error"]


def test_nan_and_inf_gradients_are_written_as_standard_json(modules, capsys):
    modules("nan_mod", "import numpy as np\n"
                       "class InfGradient:\n"
                       "    def forward(self, x):\n        return 2 * x\n"
                       "    def backward(self, e):\n        g = 2 * e\n"
                       "        g[0, 0] = np.inf\n        g[1, 1] = np.nan\n        return g\n")
    assert main(["nan_mod:InfGradient", "--features", "3", "--json"]) == 1
    document = _strict(capsys.readouterr().out)
    worst = document["checks"][0]["report"]["tensors"][0]["worst"]
    flags = {w["analytic_nonfinite"] for w in worst if w["analytic"] is None}
    assert flags == {"Infinity", "NaN"}, worst


@pytest.mark.parametrize("argv, said", [(["--seed", "-1"], "--seed must be an integer from 0"),
                                        (["core:ReLU", "--features", "3", "--reseed", "-1"], "--reseed must be"),
                                        (["--step", "-1e-3"], "--step must be > 0"),
                                        (["--rtol", "-0.5"], "rtol")])
def test_negative_numbers_are_usage_errors_that_say_what_is_wrong(argv, said, capsys):
    assert main(argv) == 2
    assert said in capsys.readouterr().err


def test_more_jobs_than_cores_are_capped_with_a_warning(capsys):
    assert main(["core:ReLU", "--features", "3", "--jobs", "64"]) == 0
    assert "using" in capsys.readouterr().err


SPINNER = '''
import numpy as np


class Spins:
    """Forward loops forever from its fourth call on."""

    def __init__(self):
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        while self.calls > 3:
            pass
        return 2 * x

    def backward(self, e):
        return 2 * e


class Fine:
    def forward(self, x):
        return 2 * x

    def backward(self, e):
        return 2 * e
'''


def test_a_forward_that_never_returns_is_stopped_and_named(modules):
    import time

    from gradcheck import check_layer

    modules("spinner", SPINNER)
    from spinner import Spins

    start = time.perf_counter()
    report = check_layer(Spins(), (3, 2), timeout=1.5)
    assert time.perf_counter() - start < 10
    assert not report.ok and re.search(r"timed out after 1.5 s, in forward \(spinner.py, line 1[34]\)",
                                       report.problems[0]), report.problems


def test_the_command_stops_a_check_at_its_timeout_and_goes_on(modules, capsys):
    modules("spinner", SPINNER)
    assert main(["spinner", "--features", "3", "--timeout", "1.5"]) == 1
    out = capsys.readouterr().out
    assert "spinner:Fine" in out and "PASS" in out                    # the run went on to the next check
    assert re.search(r"timed out after 1.5 s, in forward \(spinner.py, line 1[34]\)", out), out
    assert main(["spinner:Fine", "--features", "3", "--timeout", "-1"]) == 2


def test_a_check_too_large_for_memory_or_time_is_refused_before_it_starts(capsys):
    import time

    start = time.perf_counter()
    assert main(["core:ReLU", "--shape", "100000,100000"]) == 2
    assert time.perf_counter() - start < 5
    assert "needs about 745 GiB (the input alone 74.5 GiB), more than --max-memory" in capsys.readouterr().err
    assert main(["core:FullyConnected", "--args", "256", "256", "--max-seconds", "0.01"]) == 2
    assert "more than --max-seconds 0.01; --mode fast takes far fewer" in capsys.readouterr().err
    assert main(["core:ReLU", "--features", "3", "--max-memory", "0"]) == 2


def _children(pid):
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("signal_name, delay, code", [("SIGINT", 0.3, 130), ("SIGINT", 1.5, 130),
                                                      ("SIGINT", 3.0, 130), ("SIGTERM", 2.0, 143)])
def test_a_signal_to_the_main_process_ends_the_run_and_leaves_no_process(processes, signal_name, delay, code):
    """FullyConnected(1024, 1024) in full mode takes minutes: the signal lands while the check's process and
    its workers start or run. Only the main process gets it (as from `timeout -s INT` or a CI supervisor)."""
    import signal

    import psutil

    process = processes.start(["gradcheck", "core:FullyConnected", "--args", "1024", "1024"])
    time.sleep(delay)
    children = _children(process.pid)
    start = time.perf_counter()
    process.send_signal(getattr(signal, signal_name))
    _, err = process.communicate(timeout=30)
    assert time.perf_counter() - start < 2.5
    assert process.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gradcheck: stopped by {signal_name}"), err
    time.sleep(0.5)
    left = [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"{len(children)} children before, still running: {left}"


def test_an_in_process_time_limit_comes_back_when_its_first_alarm_is_swallowed():
    """The timer of run_here_limited (JAX checks) raises at the next Python instruction; raised inside a hook
    that ignores exceptions (a garbage-collector callback), it would be lost: it comes back until it lands."""
    from gradcheck.supervisor import CheckTimedOut, run_here_limited

    def stubborn():
        try:
            while True:
                pass
        except CheckTimedOut:
            pass                                    # swallowed, as a callback would
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(CheckTimedOut, match="timed out after 0.5 s, in stubborn"):
        run_here_limited(stubborn, 0.5)
    assert time.perf_counter() - start < 5
    assert run_here_limited(lambda: 7, 0.5)[0] == 7
    time.sleep(0.7)                                 # disarmed: no alarm arrives later
