import numpy as np
import pytest

from core import CrossEntropyLoss, FullyConnected, IrisData, NeuralNetwork, ReLU, Sgd, SoftMax
from core.train import accuracy, build_network


class _NextOnlyData:
    """A data layer with only the seed's older ``next()``."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((4, 3))
        self.y = np.eye(2)[[0, 1, 1, 0]]

    def next(self):
        return self.x, self.y


def _small_network(data=None):
    net = NeuralNetwork(Sgd(0.1))
    net.data_layer = data or _NextOnlyData()
    net.loss_layer = CrossEntropyLoss()
    net.append_layer(FullyConnected(3, 2, np.random.default_rng(1)))
    net.append_layer(SoftMax())
    return net


def test_append_trainable_layer_gives_independent_optimizer_copies():
    net = NeuralNetwork(Sgd(1.0))
    fc1, fc2 = FullyConnected(4, 3), FullyConnected(3, 3)
    net.append_trainable_layer(fc1)
    net.append_layer(ReLU())
    net.append_layer(fc2)
    assert net.layers == [fc1, net.layers[1], fc2]
    assert fc1.optimizer is not fc2.optimizer
    assert fc1.optimizer is not net.optimizer
    assert fc1.optimizer.learning_rate == 1.0
    assert getattr(net.layers[1], "optimizer", None) is None


def test_forward_backward_train_with_next_only_data_layer():
    net = _small_network()
    loss = net.forward()
    assert loss == pytest.approx(CrossEntropyLoss().forward(net.test(net.data_layer.x), net.data_layer.y))
    before = net.layers[0].weights.copy()
    net.backward()
    assert not np.array_equal(before, net.layers[0].weights)
    net.train(20)
    assert len(net.loss) == 20
    assert net.loss[-1] < loss


def test_backward_before_forward_and_missing_parts():
    with pytest.raises(RuntimeError, match="call forward"):
        _small_network().backward()
    net = NeuralNetwork(Sgd(0.1))
    net.loss_layer = CrossEntropyLoss()
    with pytest.raises(RuntimeError, match="data_layer is not set"):
        net.forward()
    net.data_layer = object()
    with pytest.raises(TypeError, match="forward\\(\\) or next\\(\\)"):
        net.forward()
    with pytest.raises(ValueError, match="iterations"):
        net.train(-1)


@pytest.mark.parametrize("seed", range(10))
def test_seed_iris_settings_reach_90_percent(seed):
    """The seed's exact set-up: Sgd(1e-3), IrisData(50), FC(4,3), ReLU, FC(3,3), SoftMax, 4000 iterations."""
    rng = np.random.default_rng(seed)
    net = NeuralNetwork(Sgd(1e-3))
    net.data_layer = IrisData(50, rng)
    net.loss_layer = CrossEntropyLoss()
    net.append_layer(FullyConnected(4, 3, rng))
    net.append_layer(ReLU())
    net.append_layer(FullyConnected(3, 3, rng))
    net.append_layer(SoftMax())
    net.train(4000)
    assert net.loss[-1] < net.loss[0] / 4
    assert accuracy(net) >= 0.9


def test_digits_reaches_95_percent():
    net = build_network("digits", seed=0)
    net.train(3000)
    assert accuracy(net) >= 0.95


def test_training_a_small_network_runs_blas_on_one_thread_and_a_large_one_on_all():
    from threadpoolctl import threadpool_info

    from core import CrossEntropyLoss, FullyConnected, Layer, NeuralNetwork, Sgd, SoftMax

    seen = []

    class Spy(Layer):
        def forward(self, x):
            seen.append(max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"), default=1))
            return x

        def backward(self, e):
            return e

    def network(width):
        net = NeuralNetwork(Sgd(1e-3))
        net.data_layer = type("Data", (), {"next": lambda self: (np.ones((2, width)), np.eye(width)[:2])})()
        net.loss_layer = CrossEntropyLoss()
        for layer in (Spy(), FullyConnected(width, width, 0), SoftMax()):
            net.append_layer(layer)
        return net

    network(4).train(1)
    assert seen[-1] == 1
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    network(300).train(1)                       # 90K weights: above the small-network limit
    assert seen[-1] == max(blas, default=1)
