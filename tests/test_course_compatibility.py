"""What the course's own unit tests of other years do, and core must take: integer biases, weights assigned in
steps of different shapes, initializers reproduced by np.random.seed, and the other years' names."""
import numpy as np
import pytest

from core import (
    BatchNormalization,
    Constant,
    Conv,
    Dropout,
    FullyConnected,
    He,
    NeuralNetwork,
    Phase,
    ReLU,
    Sgd,
    UniformRandom,
    Xavier,
)


def test_an_integer_bias_is_cast_to_the_layer_s_dtype():
    conv = Conv((1, 1), (1, 3, 3), 1)
    conv.bias = np.array([0])
    assert conv.bias.dtype == np.float64
    conv.weights = np.ones((1, 1, 3, 3), dtype=int)
    y = conv.forward(np.ones((1, 1, 5, 5)))
    assert y[0, 0, 2, 2] == 9.0 and y[0, 0, 0, 0] == 4.0         # a 3x3 sum, zero padded at the corner


def test_weights_assigned_in_steps_and_checked_when_forward_runs():
    conv = Conv((1, 1), (1, 3, 3), 1)
    conv.weights = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])    # (3, 3): a kernel, as the tests build it
    conv.weights = np.expand_dims(conv.weights, 0)                 # (1, 3, 3)
    with pytest.raises(ValueError, match=r"Conv.forward: weights must have shape \(1, 1, 3, 3\), got \(1, 3, 3\)"):
        conv.forward(np.ones((1, 1, 5, 5)))
    conv.weights = np.expand_dims(conv.weights, 0)                 # (1, 1, 3, 3)
    conv.bias = np.array([0])
    assert conv.forward(np.ones((1, 1, 5, 5)))[0, 0, 2, 2] == 0.0   # a Laplacian of a constant


@pytest.mark.parametrize("initializer", [Xavier, He, UniformRandom])
def test_initializers_without_a_generator_follow_np_random_seed(initializer):
    np.random.seed(1337)
    first = initializer().initialize((5, 4), 5, 4)
    np.random.seed(1337)
    assert np.array_equal(initializer().initialize((5, 4), 5, 4), first)
    assert np.array_equal(Constant(0.1).initialize((2, 2), 2, 2), np.full((2, 2), 0.1))


def test_layers_without_a_generator_follow_np_random_seed():
    np.random.seed(7)
    fc, conv = FullyConnected(4, 3), Conv(1, (2, 3), 2)
    np.random.seed(7)
    assert np.array_equal(FullyConnected(4, 3).weights, fc.weights)
    assert np.array_equal(Conv(1, (2, 3), 2).weights, conv.weights)


def test_the_phase_enum_set_optimizer_and_input_shape():
    drop = Dropout(0.5)
    drop.phase = Phase.test
    assert drop.testing_phase and drop.phase is Phase.test
    x = np.ones((3, 4))
    assert np.array_equal(drop.forward(x), x)                     # testing: the identity
    drop.phase = Phase.train
    assert not drop.testing_phase
    net = NeuralNetwork(Sgd(1.0))
    net.append_layer(ReLU())
    net.phase = Phase.test
    assert net.layers[0].testing_phase
    fc = FullyConnected(2, 2, 0)
    fc.set_optimizer(Sgd(1.0))
    fc.forward(np.ones((1, 2)))
    before = fc.weights.copy()
    fc.backward(np.ones((1, 2)))
    assert not np.array_equal(fc.weights, before)                 # the optimizer set by set_optimizer ran
    bn = BatchNormalization(2)
    bn.reformat(np.zeros((2, 2, 3, 3)))
    assert bn.input_shape == (2, 2, 3, 3)
    bn.input_shape = (1, 2, 1, 1)
    assert bn.reformat(np.zeros((1, 2))).shape == (1, 2, 1, 1)
