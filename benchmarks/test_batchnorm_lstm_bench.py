"""BatchNormalization and LSTM forward+backward against minimal numpy expressions of the same maths."""
import numpy as np
import pytest

from core import LSTM, BatchNormalization

BN_SHAPE = (64, 32, 16, 16)        # a CNN activation: batch 64, 32 channels, 16x16
STEPS, N_IN, HIDDEN, N_OUT = 32, 16, 32, 8


def _bn_numpy(x, gamma, beta, e):
    """Per-channel batch norm of an image tensor and its three-path backward, nothing else."""
    v = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    mean, var = v.mean(axis=0), v.var(axis=0)
    inv = 1.0 / np.sqrt(var + 1e-10)
    x_hat = (v - mean) * inv
    y = np.moveaxis((x_hat * gamma + beta).reshape(x.shape[0], *x.shape[2:], -1), -1, 1)
    ev = np.moveaxis(e, 1, -1).reshape(-1, x.shape[1])
    g = ev * gamma
    n = len(ev)
    grad = inv / n * (n * g - g.sum(axis=0) - x_hat * np.sum(g * x_hat, axis=0))
    return y, np.moveaxis(grad.reshape(x.shape[0], *x.shape[2:], -1), -1, 1), np.sum(ev * x_hat, 0), ev.sum(0)


@pytest.mark.parametrize("contender", ["layer", "numpy"])
def test_batch_norm(benchmark, contender, load):
    benchmark.group = "batchnorm forward+backward 64x32x16x16" + load
    rng = np.random.default_rng(0)
    x, e = rng.standard_normal(BN_SHAPE), rng.standard_normal(BN_SHAPE)
    layer = BatchNormalization(BN_SHAPE[1])
    layer.weights, layer.bias = 1 + rng.standard_normal(BN_SHAPE[1]), rng.standard_normal(BN_SHAPE[1])

    def run_layer():
        y = layer.forward(x)
        return y, layer.backward(e), layer.gradient_weights, layer.gradient_bias

    run = run_layer if contender == "layer" else (lambda: _bn_numpy(x, layer.weights, layer.bias, e))
    result = benchmark(run)
    for got, want in zip(result, _bn_numpy(x, layer.weights, layer.bias, e)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _lstm_numpy(x, w, w_y, e):
    """The LSTM of core.LSTM written as one plain loop each way (weights with the bias as the last row)."""
    h, c = np.zeros(HIDDEN), np.zeros(HIDDEN)
    us, gs, cs, hs = [], [], [c], []
    for t in range(STEPS):
        u = np.concatenate([x[t], h])
        z = u @ w[:-1] + w[-1]
        f, i, o = _sigmoid(z[:HIDDEN]), _sigmoid(z[HIDDEN:2 * HIDDEN]), _sigmoid(z[3 * HIDDEN:])
        g = np.tanh(z[2 * HIDDEN:3 * HIDDEN])
        c = f * c + i * g
        h = o * np.tanh(c)
        us.append(u), gs.append((f, i, g, o)), cs.append(c), hs.append(h)
    hs = np.array(hs)
    y = _sigmoid(hs @ w_y[:-1] + w_y[-1])
    dz_y = e * y * (1 - y)
    dh_all = dz_y @ w_y[:-1].T
    dw = np.zeros_like(w)
    dx = np.zeros_like(x)
    dh_next, dc_next = np.zeros(HIDDEN), np.zeros(HIDDEN)
    for t in reversed(range(STEPS)):
        f, i, g, o = gs[t]
        tc = np.tanh(cs[t + 1])
        dh = dh_all[t] + dh_next
        dc = dh * o * (1 - tc ** 2) + dc_next
        dz = np.concatenate([dc * cs[t] * f * (1 - f), dc * g * i * (1 - i), dc * i * (1 - g ** 2),
                             dh * tc * o * (1 - o)])
        dw[:-1] += np.outer(us[t], dz)
        dw[-1] += dz
        du = w[:-1] @ dz
        dx[t], dh_next, dc_next = du[:N_IN], du[N_IN:], dc * f
    return y, dx, dw


@pytest.mark.parametrize("contender", ["layer", "numpy"])
def test_lstm(benchmark, contender):
    benchmark.group = "lstm forward+backward 32 steps, 16 -> 32 -> 8"
    rng = np.random.default_rng(1)
    layer = LSTM(N_IN, HIDDEN, N_OUT, rng)
    x, e = rng.standard_normal((STEPS, N_IN)), rng.standard_normal((STEPS, N_OUT))

    def run_layer():
        y = layer.forward(x)
        return y, layer.backward(e), layer.gradient_weights

    run = run_layer if contender == "layer" else \
        (lambda: _lstm_numpy(x, layer.weights, layer.output_layer.weights, e))
    result = benchmark(run)
    for got, want in zip(result, _lstm_numpy(x, layer.weights, layer.output_layer.weights, e)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
