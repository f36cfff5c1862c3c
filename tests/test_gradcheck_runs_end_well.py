"""Issue 21: a run of other people's code ends well: usage errors for what cannot start, strict JSON,
time-outs, a cost guard, and signals that leave nothing behind."""
import json

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
                       "    def backward(self, e):\n        g = 2 * e\n        g[0, 0] = np.inf\n        g[1, 1] = np.nan\n"
                       "        return g\n")
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
