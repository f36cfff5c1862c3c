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


@pytest.mark.parametrize("contender", ["torch-gradgradcheck", "ours-order-2"])
def test_torch_second_order_check(benchmark, contender):
    """Order 2 of Cube.apply on 16x8: torch's gradgradcheck at its defaults against check_function(order=2)
    (which also checks order 1)."""
    from tests.torch_orders_layers import Cube

    benchmark.group = "torch order 2, Cube.apply 16x8"
    x = torch.randn(16, 8, dtype=torch.float64, requires_grad=True)
    if contender.startswith("torch"):
        assert benchmark(lambda: torch.autograd.gradgradcheck(Cube.apply, (x,)))
    else:
        report = benchmark(lambda: check_function(Cube.apply, x, order=2))
        assert report.ok, str(report)


@pytest.mark.parametrize("contender", ["torch-forward-ad", "ours-rev-fwd"])
def test_torch_forward_mode_check(benchmark, contender):
    """Forward mode of Exp (with its jvp) on 16x8: torch's gradcheck(check_forward_ad=True) at its defaults
    against check_function(modes=("rev", "fwd")); both check reverse mode too."""
    from tests.torch_orders_layers import Exp as ExpWithJvp

    benchmark.group = "torch forward mode, Exp.apply 16x8"
    x = torch.randn(16, 8, dtype=torch.float64, requires_grad=True)
    if contender.startswith("torch"):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.autograd.gradcheck(ExpWithJvp.apply, (x,), check_forward_ad=True)
        assert benchmark(run)
    else:
        report = benchmark(lambda: check_function(ExpWithJvp.apply, x, modes=("rev", "fwd")))
        assert report.ok, str(report)


@pytest.mark.parametrize("contender", ["torch-gradcheck", "ours-full"])
def test_torch_complex_check(benchmark, contender):
    """A complex custom Function (z^2 on 16x8 complex128): torch's gradcheck at its defaults against ours,
    which checks the real and imaginary parts."""
    from tests.torch_orders_layers import ComplexSquare

    benchmark.group = "torch complex, ComplexSquare.apply 16x8"
    z = torch.randn(16, 8, dtype=torch.complex128, requires_grad=True)
    if contender.startswith("torch"):
        assert benchmark(lambda: torch.autograd.gradcheck(ComplexSquare.apply, (z,)))
    else:
        report = benchmark(lambda: check_function(ComplexSquare.apply, z))
        assert report.ok, str(report)


@pytest.mark.parametrize("contender", ["torch-batched-grad", "ours-batched"])
def test_torch_batched_check(benchmark, contender):
    """Batched gradients of ExpVmap on 16x8: torch's gradcheck(check_batched_grad=True) against
    check_function(batched=True); both check reverse mode too."""
    from tests.torch_orders_layers import ExpVmap

    benchmark.group = "torch batched, ExpVmap.apply 16x8"
    x = torch.randn(16, 8, dtype=torch.float64, requires_grad=True)
    if contender.startswith("torch"):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.autograd.gradcheck(ExpVmap.apply, (x,), check_batched_grad=True)
        assert benchmark(run)
    else:
        report = benchmark(lambda: check_function(ExpVmap.apply, x, batched=True))
        assert report.ok, str(report)
