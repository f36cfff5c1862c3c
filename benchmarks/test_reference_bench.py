"""A reference check against what it cannot avoid: one forward and one backward of each side is the baseline.

``check_against`` runs the layer three times (parameter discovery, the compared run) and the reference once or
twice; ``bare`` calls forward and backward of the layer and of the reference once each, on the same input.
The ratio check / bare is the reference check's own overhead. ``search-100`` is a ``fuzz_against`` of 100
examples of the same pair (drawn shapes up to the case's), against 100 bare pairs in ``bare-100``. Read it
from one run: ``pytest benchmarks --benchmark-only -k reference``.
"""
import numpy as np
import pytest
from hypothesis import strategies as st

import core
from gradcheck.fuzz import fuzz_against
from gradcheck.reference import check_against
from gradcheck.strategies import batches

# name -> (layer factory, reference factory, input shape)
CASES = {"fc-64x32-b16": (lambda: core.FullyConnected(64, 32), lambda: core.FullyConnected(64, 32), (16, 64)),
         "conv2d-3x8x3x3-16x16": (lambda: core.Conv(1, (3, 3, 3), 8), lambda: core.Conv(1, (3, 3, 3), 8),
                                  (4, 3, 16, 16))}


def _bare(layer, reference, x):
    for side in (layer, reference):
        y = side.forward(x)
        side.backward(np.ones_like(y))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("contender", ["check", "bare"])
def test_reference_check(benchmark, case, contender):
    make_layer, make_reference, shape = CASES[case]
    benchmark.group = f"reference {case}"
    layer, reference = make_layer(), make_reference()
    x = np.random.default_rng(0).standard_normal(shape)
    if contender == "check":
        report = benchmark(check_against, layer, reference, x)
        assert report.ok, str(report)
    else:
        benchmark(_bare, layer, reference, x)


@pytest.mark.parametrize("contender", ["search-100", "bare-100"])
def test_reference_search(benchmark, contender):
    benchmark.group = "reference search fc up to 8x8, batch up to 8"

    def build(draw):
        n_in, n_out = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        return core.FullyConnected(n_in, n_out), core.FullyConnected(n_in, n_out), draw(batches(n_in, 8))

    def bare():
        rng = np.random.default_rng(0)
        for _ in range(100):
            n_in, n_out, b = rng.integers(1, 9, 3)
            _bare(core.FullyConnected(n_in, n_out), core.FullyConnected(n_in, n_out), rng.standard_normal((b, n_in)))

    if contender == "search-100":
        result = benchmark.pedantic(fuzz_against, args=(build,), kwargs={"max_examples": 100}, rounds=3, iterations=1)
        assert result.ok and result.examples >= 50, str(result)
    else:
        benchmark(bare)
