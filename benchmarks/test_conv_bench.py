"""Conv forward+backward against the bare im2col + GEMM computation it is built on.

(batch 32, 16 -> 32 channels, 28x28, 3x3, stride 1). The baseline does the same arithmetic with nothing
else: pad, sliding_window_view, one reshape copy and one matmul forward; two matmuls and the col2im
scatter (a loop over the 9 kernel offsets) backward. Read the ratio from one run:
``pytest benchmarks --benchmark-only -k conv``.
"""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from core import Conv

BATCH, C_IN, C_OUT, SIZE, K = 32, 16, 32, 28, 3


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    layer = Conv(1, (C_IN, K, K), C_OUT, rng)
    x = rng.standard_normal((BATCH, C_IN, SIZE, SIZE))
    e = rng.standard_normal((BATCH, C_OUT, SIZE, SIZE))
    return layer, x, e


def _bare(x, w, b, e):
    """im2col + GEMM forward and backward, minimal."""
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = sliding_window_view(pad, (K, K), axis=(2, 3)).transpose(0, 2, 3, 1, 4, 5).reshape(-1, C_IN * K * K)
    w_flat = w.reshape(C_OUT, -1)
    y = np.moveaxis((cols @ w_flat.T + b).reshape(BATCH, SIZE, SIZE, C_OUT), -1, 1)
    e_flat = np.moveaxis(e, 1, -1).reshape(-1, C_OUT)
    grad_w = e_flat.T @ cols
    grad_cols = (e_flat @ w_flat).reshape(BATCH, SIZE, SIZE, C_IN, K, K)
    grad_pad = np.zeros_like(pad)
    for i in range(K):
        for j in range(K):
            grad_pad[:, :, i:i + SIZE, j:j + SIZE] += np.moveaxis(grad_cols[..., i, j], -1, 1)
    return y, grad_pad[:, :, 1:-1, 1:-1], grad_w, e_flat.sum(axis=0)


@pytest.mark.parametrize("contender", ["layer", "bare-im2col"])
def test_conv_forward_backward(benchmark, case, contender, load):
    benchmark.group = "conv forward+backward 32x16x28x28 -> 32, 3x3" + load
    layer, x, e = case
    if contender == "layer":
        def run():
            y = layer.forward(x)
            return y, layer.backward(e), layer.gradient_weights, layer.gradient_bias
    else:
        def run():
            return _bare(x, layer.weights, layer.bias, e)
    y, grad_x, grad_w, grad_b = benchmark(run)
    ref = _bare(x, layer.weights, layer.bias, e)
    np.testing.assert_allclose(y, ref[0], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grad_x, ref[1], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.reshape(grad_w, ref[2].shape), ref[2], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grad_b, ref[3], rtol=1e-10, atol=1e-10)
