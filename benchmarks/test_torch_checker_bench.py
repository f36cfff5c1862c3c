"""This checker against ``torch.autograd.gradcheck`` on the same torch functions, in one group each.

``torch-gradcheck`` (the baseline) is torch's checker at its defaults, ``torch-fast`` with ``fast_mode=True``;
``ours-full`` and ``ours-fast`` are :func:`gradcheck.torch.check_function` / ``check_module`` in their two modes.
Every contender checks the same tensors: a module's input and parameters.
Read the ratios from one run: ``pytest benchmarks/test_torch_checker_bench.py --benchmark-only``, then
``python -m benchmarks.ratios``. Needs the ``torch`` extra.
"""
import warnings

import pytest

torch = pytest.importorskip("torch", reason="the torch extra is not installed (pip install -e '.[torch]')")

from gradcheck.torch import check_function, check_module  # noqa: E402
from tests.torch_layers import Exp  # noqa: E402


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)).double()


def _with_parameters(module):
    """The module as a function of its input and every parameter, so torch's checker checks what ours does
    (given a module, it checks the inputs only)."""
    names = [n for n, _ in module.named_parameters()]

    def call(x, *params):
        return torch.func.functional_call(module, dict(zip(names, params)), (x,))
    return call, tuple(p.detach().clone().requires_grad_(True) for p in module.parameters())


CASES = {
    "Exp.apply 16x8": lambda: (Exp.apply, (torch.randn(16, 8, dtype=torch.float64, requires_grad=True),)),
    "MLP 32-16-4 batch 8": lambda: (_mlp(), (torch.randn(8, 32, dtype=torch.float64, requires_grad=True),)),
}
CONTENDERS = ["torch-gradcheck", "torch-fast", "ours-full", "ours-fast"]


@pytest.mark.parametrize("contender", CONTENDERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_function_check(benchmark, case, contender):
    benchmark.group = f"torch check, {case}"
    fn, inputs = CASES[case]()
    if contender.startswith("torch"):
        if isinstance(fn, torch.nn.Module):
            fn, params = _with_parameters(fn)
            inputs = inputs + params

        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.autograd.gradcheck(fn, inputs, fast_mode=contender == "torch-fast")
        assert benchmark(run)
    else:
        check = check_module if isinstance(fn, torch.nn.Module) else check_function
        mode = contender.split("-")[1]
        report = benchmark(lambda: check(fn, *inputs, mode=mode))
        assert report.ok, str(report)
