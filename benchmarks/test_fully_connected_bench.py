"""FullyConnected forward/backward against the bare matrix products it is built on, and the seed's version.

Read the ratio layer / bare-matmul from one run: ``pytest benchmarks --benchmark-only -k fc``.
"""
import itertools

import numpy as np
import pytest

from benchmarks.seed_layers import SeedFullyConnected
from core import FullyConnected

SIZES = {"32x64x32": (32, 64, 32), "256x512x256": (256, 512, 256), "2048x1024x1024": (2048, 1024, 1024)}
DTYPES = {"float64": np.float64, "float32": np.float32}
CONTENDERS = ["layer", "bare-matmul", "seed-concat"]
TOLERANCE = {"float64": {"rtol": 1e-10, "atol": 1e-10}, "float32": {"rtol": 1e-4, "atol": 1e-3}}
_PRODUCT = list(itertools.product(SIZES, DTYPES, CONTENDERS))
CASES = pytest.mark.parametrize("size, dtype, contender", _PRODUCT, ids=["-".join(case) for case in _PRODUCT])


def _case(size, dtype):
    batch, n_in, n_out = SIZES[size]
    rng = np.random.default_rng(0)
    layer = FullyConnected(n_in, n_out, rng, dtype=DTYPES[dtype])
    x = rng.standard_normal((batch, n_in)).astype(DTYPES[dtype])
    e = rng.standard_normal((batch, n_out)).astype(DTYPES[dtype])
    return layer, x, e


@CASES
def test_forward(benchmark, size, dtype, contender, load):
    benchmark.group = f"fc-forward {size} {dtype}{load}"
    layer, x, _ = _case(size, dtype)
    w, b = layer.weights[:-1].copy(), layer.weights[-1].copy()
    if contender == "layer":
        out = benchmark(layer.forward, x)
    elif contender == "bare-matmul":
        out = benchmark(lambda: x @ w)
        out = out + b
    else:
        out = benchmark(SeedFullyConnected(layer.weights).forward, x)
    assert out.dtype == x.dtype
    np.testing.assert_allclose(out, layer.forward(x), **TOLERANCE[dtype])


@CASES
def test_backward(benchmark, size, dtype, contender, load):
    benchmark.group = f"fc-backward {size} {dtype}{load}"
    layer, x, e = _case(size, dtype)
    layer.forward(x)
    w = layer.weights[:-1].copy()
    if contender == "layer":
        grad = benchmark(layer.backward, e)
    elif contender == "bare-matmul":
        grad, _ = benchmark(lambda: (e @ w.T, x.T @ e))
    else:
        seed = SeedFullyConnected(layer.weights)
        seed.forward(x)
        grad = benchmark(seed.backward, e)
    assert grad.dtype == x.dtype
    np.testing.assert_allclose(grad, e @ w.T, **TOLERANCE[dtype])
