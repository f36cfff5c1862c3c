"""State hygiene: nothing the checker touches stays changed, even when the layer raises."""
import numpy as np
import pytest

from core import FullyConnected, ReLU, Sgd
from core.train import build_network
from gradcheck import check_layer, check_network


class RaisesAfterSomeCalls(FullyConnected):
    """Raises a non-domain error from forward after n calls, i.e. in the middle of the numeric pass."""

    def __init__(self, *args, after=20, **kw):
        super().__init__(*args, **kw)
        self.calls, self.after = 0, after

    def forward(self, input_tensor):
        self.calls += 1
        if self.calls > self.after:
            raise KeyError("boom")
        return super().forward(input_tensor)


@pytest.mark.parametrize("after", [0, 3, 10, 40])
def test_weights_and_optimizer_restored_when_the_layer_raises(after):
    layer = RaisesAfterSomeCalls(4, 3, after=after)
    optimizer = Sgd(0.1)
    layer.optimizer = optimizer
    weights = layer.weights
    before = weights.copy()
    with pytest.raises(KeyError):
        check_layer(layer, (5, 4))
    assert layer.weights is weights
    np.testing.assert_array_equal(layer.weights, before)
    assert layer.optimizer is optimizer


def test_optimizer_detached_during_the_check_and_put_back():
    """The layer's own optimizer is never called during the check: detached, or replaced by the recording
    optimizer (which returns the weights unchanged), and put back afterwards."""
    from gradcheck.recorded import RecordingOptimizer

    seen = []

    class Spy(FullyConnected):
        def backward(self, error_tensor):
            seen.append(self.optimizer)
            return super().backward(error_tensor)

    layer = Spy(3, 2)
    optimizer = Sgd(1.0)
    layer.optimizer = optimizer
    before = layer.weights.copy()
    assert check_layer(layer, (4, 3)).ok
    assert seen and all(o is None or isinstance(o, RecordingOptimizer) for o in seen)
    assert any(isinstance(o, RecordingOptimizer) for o in seen), "what backward hands over is recorded"
    assert layer.optimizer is optimizer
    np.testing.assert_array_equal(layer.weights, before)


def test_float32_weights_array_object_and_values_restored():
    layer = FullyConnected(3, 2, dtype=np.float32)
    weights = layer.weights
    before = weights.copy()
    check_layer(layer, (4, 3))
    assert layer.weights is weights and weights.dtype == np.float32
    np.testing.assert_array_equal(weights, before)


def test_callers_input_is_never_written():
    x = np.random.default_rng(0).standard_normal((4, 3))
    x0 = x.copy()
    check_layer(ReLU(), x)
    check_layer(FullyConnected(3, 2), x, mode="fast")
    np.testing.assert_array_equal(x, x0)


def test_network_state_restored():
    net = build_network("iris", seed=0)
    net.train(3)
    data_layer, losses = net.data_layer, list(net.loss)
    optimizers = [getattr(layer, "optimizer", None) for layer in net.layers]
    weights = [layer.weights.copy() for layer in net.layers if hasattr(layer, "weights")]
    assert check_network(net).ok
    assert net.data_layer is data_layer and net.loss == losses
    assert [getattr(layer, "optimizer", None) for layer in net.layers] == optimizers
    for w, layer in zip(weights, [layer for layer in net.layers if hasattr(layer, "weights")]):
        np.testing.assert_array_equal(layer.weights, w)


def test_weights_property_returning_a_copy_is_refused_clearly():
    class CopyingWeights(FullyConnected):
        @property
        def weights(self):
            return self._weights.copy()

    with pytest.raises(TypeError, match="returns a new array on every access"):
        check_layer(CopyingWeights(3, 2), (4, 3))
