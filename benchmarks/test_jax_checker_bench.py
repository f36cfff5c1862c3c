"""This checker against ``jax.test_util.check_grads`` on the same JAX functions, at order 2 and in forward mode.

``check-grads`` (the baseline) is JAX's checker at its defaults, which checks one random direction per order;
``ours-full`` and ``ours-fast`` are :func:`gradcheck.jax.check_function` with ``order=2`` (which also checks
order 1) or ``modes=("fwd",)``, every element or fast mode's sparse directions. Most of ours is compiling: each
check jits its forward and its VJP (or JVPs) anew. Read the ratios from one run:
``pytest benchmarks/test_jax_checker_bench.py --benchmark-only``. Needs the ``jax`` extra.
"""
import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the jax extra is not installed (pip install -e '.[jax]')")
import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

from gradcheck.jax import check_function  # noqa: E402

X = np.random.default_rng(0).standard_normal((16, 8))


def _softplus(x):
    return jnp.logaddexp(x, 0.0)


@pytest.mark.parametrize("contender", ["check-grads", "ours-full", "ours-fast"])
@pytest.mark.parametrize("check", ["order 2", "forward mode"])
def test_jax_higher_check(benchmark, check, contender):
    benchmark.group = f"jax {check}, softplus 16x8"
    order, modes = (2, ("rev",)) if check == "order 2" else (1, ("fwd",))
    if contender == "check-grads":
        def run():
            with jax.enable_x64(True):
                check_grads(_softplus, (jnp.asarray(X),), order=order, modes=modes)
        benchmark(run)
    else:
        mode = contender.split("-")[1]
        report = benchmark(lambda: check_function(_softplus, X, order=order, modes=modes, mode=mode))
        assert report.ok, str(report)
