"""ReLU, SoftMax and CrossEntropyLoss forward+backward at 4096 x 1000 against one-line numpy baselines."""
import numpy as np
import pytest

from core import CrossEntropyLoss, ReLU, SoftMax

SHAPE = (4096, 1000)
EPS = float(np.finfo(float).eps)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE)
    e = rng.standard_normal(SHAPE)
    z = np.exp(x - x.max(axis=1, keepdims=True))
    p = z / z.sum(axis=1, keepdims=True)
    y = np.eye(SHAPE[1])[rng.integers(0, SHAPE[1], SHAPE[0])]
    return x, e, p, y


def _layer_round_trip(layer, x, e):
    layer.forward(x)
    return layer.backward(e)


def _relu_numpy(x, e):
    np.maximum(x, 0)
    return e * (x > 0)


def _softmax_numpy(x, e):
    z = np.exp(x - x.max(axis=1, keepdims=True))
    y = z / z.sum(axis=1, keepdims=True)
    return y * (e - (e * y).sum(axis=1, keepdims=True))


def _ce_numpy(p, y):
    -np.sum(y * np.log(p + EPS))
    return -y / (p + EPS)


@pytest.mark.parametrize("contender", ["layer", "numpy"])
def test_relu(benchmark, data, contender, load):
    benchmark.group = "relu forward+backward 4096x1000" + load
    x, e, _, _ = data
    fn = (lambda: _layer_round_trip(ReLU(), x, e)) if contender == "layer" else (lambda: _relu_numpy(x, e))
    np.testing.assert_array_equal(benchmark(fn), _relu_numpy(x, e))


@pytest.mark.parametrize("contender", ["layer", "numpy"])
def test_softmax(benchmark, data, contender, load):
    benchmark.group = "softmax forward+backward 4096x1000" + load
    x, e, _, _ = data
    fn = (lambda: _layer_round_trip(SoftMax(), x, e)) if contender == "layer" else (lambda: _softmax_numpy(x, e))
    np.testing.assert_allclose(benchmark(fn), _softmax_numpy(x, e), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("contender", ["layer", "numpy"])
def test_cross_entropy(benchmark, data, contender, load):
    benchmark.group = "cross-entropy forward+backward 4096x1000" + load
    _, _, p, y = data

    def layer_round_trip():
        loss = CrossEntropyLoss()
        loss.forward(p, y)
        return loss.backward(y)

    fn = layer_round_trip if contender == "layer" else (lambda: _ce_numpy(p, y))
    np.testing.assert_array_equal(benchmark(fn), _ce_numpy(p, y))
