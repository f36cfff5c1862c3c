"""A whole training iteration, and the gradient checker in full and fast mode."""
import numpy as np
import pytest

from core import FullyConnected
from core.train import build_network
from gradcheck import check_layer, check_network

NETWORKS = {"iris": {}, "digits": {}}


@pytest.mark.parametrize("dataset", list(NETWORKS))
def test_training_iteration(benchmark, dataset):
    benchmark.group = "training iteration"
    net = build_network(dataset, seed=0)
    before = [layer.weights.copy() for layer in net.layers if hasattr(layer, "weights")]
    benchmark(net.train, 1)
    assert net.loss and np.isfinite(net.loss).all()
    after = [layer.weights for layer in net.layers if hasattr(layer, "weights")]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after)), "an iteration must update every layer"


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_gradcheck_fully_connected(benchmark, mode):
    benchmark.group = "gradcheck FullyConnected(64, 32) batch 16"
    layer = FullyConnected(64, 32)
    report = benchmark(check_layer, layer, (16, 64), mode=mode)
    assert report.ok, str(report)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_gradcheck_iris_network(benchmark, mode):
    benchmark.group = "gradcheck iris network"
    net = build_network("iris", seed=0)
    report = benchmark(check_network, net, mode=mode)
    assert report.ok, str(report)


@pytest.mark.parametrize("contender", ["fuzz-100", "checks-100"])
def test_fuzz_small_layer(benchmark, contender):
    """100 examples of a small layer searched by hypothesis, against 100 plain checks at fixed inputs: the
    ratio is the search's own cost."""
    from core import ReLU
    from gradcheck import check_layer
    from gradcheck.fuzz import fuzz_layer, layer_builder

    benchmark.group = "fuzz ReLU, 100 examples, (1-16, 5)"
    if contender == "fuzz-100":
        result = benchmark.pedantic(fuzz_layer, args=(layer_builder(ReLU, 5, 16),), kwargs={"max_examples": 100},
                                    rounds=3, iterations=1)
        assert result.ok and result.examples >= 100
    else:
        inputs = [np.random.default_rng(i).standard_normal((1 + i % 16, 5)) for i in range(100)]
        reports = benchmark.pedantic(lambda: [check_layer(ReLU(), x) for x in inputs], rounds=3, iterations=1)
        assert all(r.ok for r in reports)
