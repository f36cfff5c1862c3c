"""gradcheck.torch: the verdict on torch custom Functions and modules, side by side with torch's own checker.

Needs the ``torch`` extra (``.ci/run`` installs it); without torch the module is skipped, saying so.
"""
from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch extra is not installed (pip install -e '.[torch]')")

from gradcheck.report import GradientCheckError, crux  # noqa: E402
from gradcheck.torch import assert_gradients, check_function, check_module  # noqa: E402
from tests.torch_layers import BROKEN, CORRECT, Exp, Linear  # noqa: E402

# what sets each failure apart in the first line of our report
WHY = {
    "sigmoid forgets (1 - y)": "wrong gradient of x",
    "one element off by 1e-3": "wrong gradient of x (1 element",
    "one element off by 1e-5": "wrong gradient of x (1 element",
    "needs_input_grad index slip": "with only w requiring grad, backward gives another gradient of w",
    "needs_input_grad branch, wrong shape": "with only w requiring grad, backward raised RuntimeError",
    "drops a cotangent": "wrong gradient of x",
    "stashed input modified in place": "wrong gradient of x",
    "saved tensor modified in place": "modified by an inplace operation",
    "writes into its input": "forward writes into its input x",
    "relu masked by the error's sign": "wrong gradient of x",
    "layer norm without the mean's gradient": "wrong gradient of x",
    "output memoised by shape": "wrong gradient of x",
    "batch-mean gradient in every row": "wrong gradient of x",
    "buffer changes the output each call": "not deterministic",
    "float32 sigmoid one element off by 0.3 %": "wrong gradient of x (1 element",
    "bias gradient averaged, parameters in a dict": "wrong gradient of params.b",
}


def ours(fn, inputs) -> tuple[bool, str]:
    """(ok, the report's first line); autograd's own error when backward raises (as a numpy layer's backward
    that raises, it reaches the caller: here, the version counter of a saved tensor modified in place)."""
    check = check_module if isinstance(fn, torch.nn.Module) else check_function
    try:
        report = check(fn, *inputs)
    except RuntimeError as exc:
        return False, f"raised RuntimeError: {exc}"
    return report.ok, crux(report)


def torchs(fn, inputs) -> bool:
    """torch.autograd.gradcheck with its default settings; raising counts as a failure."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bool(torch.autograd.gradcheck(fn, inputs))
    except Exception:  # noqa: BLE001 - GradcheckError, or the RuntimeError of a bug autograd itself saw
        return False


def test_the_zoo_has_a_reason_for_every_bug():
    assert set(WHY) == set(BROKEN)


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_functions_pass(name):
    fn, make = CORRECT[name]
    ok, text = ours(fn, make())
    assert ok, text


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_functions_fail_for_their_reason(name):
    fn, make = BROKEN[name]
    ok, text = ours(fn, make())
    assert not ok
    assert WHY[name] in text, text


def side_by_side() -> list[tuple[str, str, bool, bool]]:
    """(case, 'correct' or 'bug', our verdict right, torch's verdict right) for the whole zoo."""
    rows = []
    for kind, zoo in (("correct", CORRECT), ("bug", BROKEN)):
        for name, (fn, make) in zoo.items():
            should_pass = kind == "correct"
            rows.append((name, kind, ours(fn, make())[0] == should_pass, torchs(fn, make()) == should_pass))
    return rows


def table(rows: list[tuple[str, str, bool, bool]], theirs: str) -> str:
    lines = [f"| case | kind | this checker | {theirs} |", "|---|---|---|---|"]
    for name, kind, our_right, their_right in rows:
        verdict = {("correct", True): "PASS", ("correct", False): "FAIL (false alarm)",
                   ("bug", True): "FAIL (caught)", ("bug", False): "PASS (missed)"}
        lines.append(f"| {name} | {kind} | {verdict[kind, our_right]} | {verdict[kind, their_right]} |")
    return "\n".join(lines)


def test_side_by_side_with_torch_autograd_gradcheck(capsys):
    """Ours is right on every case of the zoo; torch's misses and false alarms are listed (``-s`` shows the
    table docs/torch-jax.md quotes)."""
    rows = side_by_side()
    with capsys.disabled():
        print("\n" + table(rows, "torch.autograd.gradcheck (defaults)"))
    assert all(our_right for _, _, our_right, _ in rows), [r for r in rows if not r[2]]


# ------------------------------------------------------------------------------------------- behaviour

def _normal_leaf(*shape: int):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


def test_caller_tensors_modules_and_torch_state_are_left_as_they_were():
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    x0 = x.detach().clone()
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    assert check_module(module, x).ok
    assert check_function(BROKEN["writes into its input"][0], x).ok is False
    assert torch.equal(x.detach(), x0) and x.grad is None
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())
    assert module[0].weight.dtype == torch.float32, "the float64 check ran on a copy"
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), rng)


def test_parameters_are_checked_by_name_and_a_wrong_one_is_named():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(2, 3, 3)
            self.scale = torch.nn.Parameter(torch.ones(3, 1))
            self.frozen = torch.nn.Parameter(torch.ones(1), requires_grad=False)

        def forward(self, x):
            return self.conv(x) * self.scale * self.frozen

    report = check_module(Scaled(), (2, 2, 7))
    assert report.ok, str(report)
    assert sorted(t.name for t in report.tensors) == ["conv.bias", "conv.weight", "scale", "x"]

    class WrongScale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, y, s):
            ctx.save_for_backward(y, s)
            return y * s

        @staticmethod
        def backward(ctx, g):
            y, s = ctx.saved_tensors
            return g * s, (g * y).sum(dim=(0, 2)).reshape(s.shape) * 2

    class Bad(Scaled):
        def forward(self, x):
            return WrongScale.apply(self.conv(x), self.scale)

    report = check_module(Bad(), (2, 2, 7))
    assert not report.ok and "wrong gradient of scale" in crux(report)


def test_float32_code_that_cannot_run_in_float64_is_checked_in_float32():
    w = torch.randn(4, 3)                                     # float32, closed over: x64 @ w32 raises

    def project(x):
        return torch.tanh(x @ w)

    report = check_function(project, torch.randn(5, 4))
    assert report.ok, str(report)
    assert any("own dtypes" in m for m in report.warnings) and report.precision == "float32"

    class Tanh2Percent(torch.autograd.Function):      # float32 resolves about 1e-5 here: a 2 % error is caught
        @staticmethod
        def forward(ctx, y):
            out = torch.tanh(y)
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return g * (1 - out * out) * 1.02

    assert not check_function(lambda x: Tanh2Percent.apply(x @ w), torch.randn(5, 4)).ok


def test_a_module_whose_copy_cannot_run_in_float64_is_checked_as_it_is():
    """A float32 tensor held as a plain attribute (not a buffer) is not converted by .to(float64), and a
    product with it refuses float64: the module itself is checked, in float32, and left as it was."""
    class Projector(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)
            self.basis = torch.randn(3, 2)

        def forward(self, x):
            return torch.tanh(self.lin(x)) @ self.basis

    module = Projector()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    report = check_module(module, torch.randn(5, 4))
    assert report.ok, str(report)
    assert report.precision == "float32" and any("own dtypes" in w for w in report.warnings)
    assert sorted(t.name for t in report.tensors) == ["lin.bias", "lin.weight", "x"]
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())


def test_randomness_is_refused_without_reseed_and_checked_with_it():
    layer = torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Dropout(0.5))
    refused = check_module(layer, (4, 6))
    assert not refused.ok and "not deterministic" in crux(refused)
    assert check_module(layer, (4, 6), reseed=0).ok


def test_only_tensors_that_require_grad_are_checked_and_other_arguments_pass_through():
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, dtype=torch.float64)                 # a constant here
    b = torch.randn(3, dtype=torch.float64)
    report = check_function(Linear.apply, x, w, b)
    assert report.ok and [t.name for t in report.tensors] == ["x"]
    idx = torch.tensor([2, 0, 1])
    report = check_function(lambda v, i, k: v[:, i] * k, torch.randn(4, 3, dtype=torch.float64), idx, 2.0)
    assert report.ok and [t.name for t in report.tensors] == ["v"]

    def scales_in_place(v, s):
        s.mul_(1.0)                                 # touches the constant: the caller's tensor stays as it was
        return v * s
    s = torch.full((3,), 2.0, dtype=torch.float64)
    assert check_function(scales_in_place, _normal_leaf(4, 3), s).ok
    assert s._version == 0


def test_assert_gradients_raises_an_assertion_error_with_the_crux_first():
    assert_gradients(Exp.apply, (6, 4))
    assert_gradients(torch.nn.Linear(3, 2), (4, 3))
    with pytest.raises(GradientCheckError, match=r"^ExpOneElement\.apply: wrong gradient of x"):
        assert_gradients(*BROKEN["one element off by 1e-3"][0:1], *BROKEN["one element off by 1e-3"][1]())


def test_the_report_is_json_like_any_other():
    data = json.loads(json.dumps(check_function(Exp.apply, (3, 2)).to_dict()))
    assert data["ok"] is True and data["tensors"][0]["name"] == "x"


def test_bad_arguments_are_clear_errors():
    with pytest.raises(TypeError, match="at least one input"):
        check_function(Exp.apply)
    with pytest.raises(TypeError, match="no floating tensor"):
        check_function(lambda i: i * 2, torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        check_module(Exp.apply, (2, 2))
    with pytest.raises(ValueError, match="rtol"):
        check_function(Exp.apply, (2, 2), rtol=float("nan"))
    with pytest.raises(TypeError, match="expected a tensor"):
        check_function(lambda x: x.sum().item(), (2, 2))


def test_the_numpy_path_imports_neither_torch_nor_jax(processes):
    code = ("import sys, numpy as np, gradcheck, core\n"
            "assert gradcheck.check_layer(core.ReLU(), (4, 3)).ok\n"
            "from gradcheck import cli\n"
            "assert cli.main(['core:FullyConnected', '--args', '3', '2']) == 0\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'jaxlib'))\n"
            "assert not bad, bad\n")
    done = processes.run([sys.executable, "-c", code], timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_command_checks_torch_targets(tmp_path, processes):
    (tmp_path / "myops.py").write_text(
        "import torch\n"
        "class Cube(torch.autograd.Function):\n"
        "    @staticmethod\n"
        "    def forward(ctx, x):\n"
        "        ctx.save_for_backward(x)\n"
        "        return x ** 3\n"
        "    @staticmethod\n"
        "    def backward(ctx, g):\n"
        "        (x,) = ctx.saved_tensors\n"
        "        return 3 * g * x * x * 1.0001\n"
        "def affine(x, w):\n"
        "    return x @ w + 1\n")

    def run(*argv):
        return processes.run([sys.executable, "-m", "gradcheck", *argv], cwd=tmp_path, timeout=300)

    bad = run("myops:Cube", "--shape", "4,3")
    assert bad.returncode == 1 and "x: 12 element(s) wrong" in bad.stdout, bad.stdout + bad.stderr
    good = run("myops:affine", "--shape", "4,3", "3,2", "--json")
    assert good.returncode == 0, good.stdout + good.stderr
    assert [t["name"] for t in json.loads(good.stdout)["checks"][0]["report"]["tensors"]] == ["x", "w"]
    module = run("torch.nn:Linear", "--args", "3", "2", "--shape", "5,3")
    assert module.returncode == 0 and "PASS" in module.stdout, module.stdout + module.stderr
    missing = run("myops:Cube")
    assert missing.returncode == 2 and "--shape" in missing.stderr
    numpy_only = run("myops:Cube", "--shape", "4,3", "--fuzz")
    assert numpy_only.returncode == 2 and "numpy layers" in numpy_only.stderr


def test_a_layer_in_float32_is_checked_where_torch_raises_false_alarms():
    """The float32 module of the zoo: torch's checker fails it at its default settings, ours passes it
    (checked as a float64 copy, at float64's rtol), and a 1e-4 relative error in a float32 module is caught."""
    fn, make = CORRECT["float32 Linear module"]
    assert not torchs(fn, make())
    assert ours(fn, make())[0]
    assert np.isclose(check_module(fn, *make()).rtol, 1e-6)

    class Off(torch.autograd.Function):
        @staticmethod
        def forward(ctx, y):
            return y * 1.0

        @staticmethod
        def backward(ctx, g):
            return g * (1 + 1e-4)

    class Slightly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(6, 4)

        def forward(self, x):
            return Off.apply(self.lin(x))

    assert "wrong gradient" in ours(Slightly(), make())[1]


def test_tensors_in_dicts_lists_and_tuples_are_checked_and_named_by_their_path():
    fn, make = CORRECT["parameters in a dict, a dict out"]
    params, x = make()
    before = {k: v.detach().clone() for k, v in params.items()}
    report = check_function(fn, params, x)
    assert report.ok and sorted(t.name for t in report.tensors) == ["params.b", "params.w", "x"], str(report)
    assert all(torch.equal(params[k], before[k]) for k in before), "the caller's tensors are left as they were"
    fn, make = CORRECT["tensors in a list, a tuple out"]
    assert sorted(t.name for t in check_function(fn, *make()).tensors) == ["pair.0", "pair.1"]
    # an integer tensor inside a container passes through; its output twin (indices) is not an output
    picked = check_function(lambda d: {"v": d["x"][d["i"]].exp(), "i": d["i"]},
                            {"x": torch.randn(5, 3, dtype=torch.float64, requires_grad=True),
                             "i": torch.tensor([0, 2, 2])})
    assert picked.ok and [t.name for t in picked.tensors] == ["d.x"], str(picked)
