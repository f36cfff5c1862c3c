import numpy as np
import pytest

from core import (
    Adam,
    Constant,
    CrossEntropyLoss,
    FullyConnected,
    He,
    NeuralNetwork,
    ReLU,
    Sgd,
    SgdWithMomentum,
    UniformRandom,
    Xavier,
)


def test_constant_and_uniform():
    np.testing.assert_array_equal(Constant().initialize((2, 3), 4, 5), np.full((2, 3), 0.1))
    np.testing.assert_array_equal(Constant(0.7).initialize((4,), 1, 1), np.full(4, 0.7))
    w = UniformRandom(0).initialize((200, 300), 200, 300)
    assert w.shape == (200, 300) and w.min() >= 0 and w.max() < 1 and abs(w.mean() - 0.5) < 0.01


@pytest.mark.parametrize("cls, std", [(Xavier, lambda i, o: np.sqrt(2 / (i + o))), (He, lambda i, o: np.sqrt(2 / i))])
def test_normal_initializers_have_the_stated_std(cls, std):
    for fan_in, fan_out in [(100, 50), (8, 400)]:
        w = cls(1).initialize((300, 400), fan_in, fan_out)
        assert abs(w.mean()) < 0.01 * std(fan_in, fan_out) * 10
        assert w.std() == pytest.approx(std(fan_in, fan_out), rel=0.01)


def test_initializer_argument_errors():
    with pytest.raises(ValueError, match="fan_in"):
        He().initialize((2, 2), 0, 3)
    with pytest.raises(ValueError, match="sizes >= 1"):
        Xavier().initialize((0, 2), 1, 3)


def test_sgd_with_momentum_by_hand():
    opt = SgdWithMomentum(0.1, 0.9)
    w = opt.calculate_update(np.array([1.0]), np.array([2.0]))      # v = -0.2
    np.testing.assert_allclose(w, [0.8])
    w = opt.calculate_update(w, np.array([2.0]))                      # v = 0.9 * -0.2 - 0.2 = -0.38
    np.testing.assert_allclose(w, [0.42])


def test_adam_by_hand():
    opt = Adam(0.1, 0.9, 0.999)
    w = opt.calculate_update(np.array([1.0, -1.0]), np.array([0.5, -2.0]))
    # first step, bias-corrected: v_hat = g, r_hat = g^2, so the step is lr * sign(g) (up to eps)
    np.testing.assert_allclose(w, [0.9, -0.9], rtol=1e-7)
    w2 = opt.calculate_update(w, np.array([0.5, -2.0]))
    np.testing.assert_allclose(w2, [0.8, -0.8], rtol=1e-7)


@pytest.mark.parametrize("cls, args", [(SgdWithMomentum, (0.1, 1.0)), (SgdWithMomentum, (-1, 0.5)),
                                       (Adam, (0.1, 1.5, 0.9)), (Adam, (0.1, 0.9, 0.0))])
def test_optimizer_argument_errors(cls, args):
    with pytest.raises(ValueError):
        cls(*args)


@pytest.mark.parametrize("optimizer", [Sgd(0.05), SgdWithMomentum(0.05, 0.9), Adam(0.05)])
def test_each_optimizer_descends_a_quadratic(optimizer):
    """Minimise |w - t|^2 / 2: every optimizer gets close to t."""
    t = np.array([3.0, -2.0, 0.5])
    w = np.zeros(3)
    for _ in range(500):
        w = optimizer.calculate_update(w, w - t)
    np.testing.assert_allclose(w, t, atol=1e-2)


def test_fully_connected_initialize_fills_weight_rows_and_bias_row():
    layer = FullyConnected(3, 2)
    layer.initialize(Constant(0.5), Constant(0.1))
    np.testing.assert_array_equal(layer.weights[:-1], 0.5)
    np.testing.assert_array_equal(layer.weights[-1], 0.1)
    f32 = FullyConnected(3, 2, dtype=np.float32)
    f32.initialize(He(0), Constant(0.1))
    assert f32.weights.dtype == np.float32


def test_network_initialises_trainable_layers_and_keeps_the_one_argument_form():
    net = NeuralNetwork(Sgd(0.1), Constant(0.3), Constant(0.2))
    net.loss_layer = CrossEntropyLoss()
    net.append_layer(FullyConnected(2, 2))
    net.append_layer(ReLU())
    np.testing.assert_array_equal(net.layers[0].weights, [[0.3, 0.3], [0.3, 0.3], [0.2, 0.2]])
    plain = NeuralNetwork(Sgd(0.1))
    layer = FullyConnected(2, 2, 0)
    before = layer.weights.copy()
    plain.append_layer(layer)
    np.testing.assert_array_equal(layer.weights, before)
    with pytest.raises(ValueError, match="both"):
        NeuralNetwork(Sgd(0.1), Constant(0.3)).append_layer(FullyConnected(2, 2))


def test_fully_connected_mixed_dtypes_follow_numpy_promotion():
    """float32 input with float64 weights gives float64 (numpy's promotion), as docs/layers.md says."""
    layer = FullyConnected(3, 2)
    assert layer.forward(np.ones((2, 3), dtype=np.float32)).dtype == np.float64
