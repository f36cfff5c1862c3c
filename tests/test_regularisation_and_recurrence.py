import numpy as np
import pytest

from core import (
    LSTM,
    RNN,
    Adam,
    BatchNormalization,
    Constant,
    Conv,
    CrossEntropyLoss,
    DigitsData,
    Dropout,
    Flatten,
    FullyConnected,
    He,
    L1_Regularizer,
    L1Regularizer,
    L2_Regularizer,
    L2Regularizer,
    NeuralNetwork,
    Pooling,
    ReLU,
    Sgd,
    SgdWithMomentum,
    SoftMax,
)
from core.train import accuracy
from gradcheck import assert_gradients, check_layer, check_network

# ----------------------------------------------------------------------------------------- BatchNormalization


def test_batch_norm_vectors_and_images_normalise_per_channel():
    rng = np.random.default_rng(0)
    for shape, axes in [((50, 3), (0,)), ((6, 3, 5, 4), (0, 2, 3))]:
        x = rng.standard_normal(shape) * np.array([1.0, 5.0, 0.1]).reshape(1, 3, *[1] * (len(shape) - 2)) + 2
        y = BatchNormalization(3).forward(x)
        np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-10)
        np.testing.assert_allclose(y.var(axis=axes), 1.0, rtol=1e-6)


def test_batch_norm_moving_averages_start_from_the_first_batch_and_drive_testing():
    rng = np.random.default_rng(1)
    layer = BatchNormalization(2)
    first, second = rng.standard_normal((20, 2)) + 3, rng.standard_normal((20, 2)) - 1
    layer.forward(first)
    np.testing.assert_allclose(layer.moving_mean, first.mean(axis=0))
    layer.forward(second)
    np.testing.assert_allclose(layer.moving_mean, 0.8 * first.mean(axis=0) + 0.2 * second.mean(axis=0))
    np.testing.assert_allclose(layer.moving_var, 0.8 * first.var(axis=0) + 0.2 * second.var(axis=0))
    layer.testing_phase = True
    x = rng.standard_normal((4, 2))
    np.testing.assert_allclose(layer.forward(x), (x - layer.moving_mean) / np.sqrt(layer.moving_var + 1e-10))


def test_batch_norm_reformat_round_trips_and_parameters():
    layer = BatchNormalization(3)
    img = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    vec = layer.reformat(img)
    assert vec.shape == (40, 3)
    np.testing.assert_array_equal(layer.reformat(vec), img)
    assert layer.weights.tolist() == [1, 1, 1] and layer.bias.tolist() == [0, 0, 0] and layer.trainable
    layer.initialize(He(0), Constant(0.5))
    assert layer.weights.tolist() == [1, 1, 1] and layer.bias.tolist() == [0, 0, 0]


@pytest.mark.parametrize("shape", [(8, 3), (3, 3, 4, 2)])
@pytest.mark.parametrize("testing", [False, True])
def test_batch_norm_gradients_in_both_phases(shape, testing):
    rng = np.random.default_rng(2)
    layer = BatchNormalization(3)
    layer.weights, layer.bias = 1 + rng.standard_normal(3), rng.standard_normal(3)
    if testing:
        layer.forward(rng.standard_normal(shape) * 3)
        layer.testing_phase = True
    report = assert_gradients(layer, shape)
    assert [t.name for t in report.tensors] == ["input", "weights", "bias"]


def test_batch_norm_missing_variance_path_is_caught():
    class WithoutVariancePath(BatchNormalization):
        def backward(self, error_tensor):
            (x_hat, inv_std, image, testing), e = self._recall(error_tensor)
            grad = super().backward(error_tensor)
            g = e * self.weights
            return grad + inv_std / len(e) * x_hat * np.sum(g * x_hat, axis=0)     # the variance term removed

    assert not check_layer(WithoutVariancePath(3), (8, 3)).ok


def test_batch_norm_bad_input():
    with pytest.raises(ValueError, match="3 channels"):
        BatchNormalization(3).forward(np.ones((4, 2)))
    with pytest.raises(ValueError, match="2-D or 4-D"):
        BatchNormalization(3).forward(np.ones((4, 3, 2)))


# ----------------------------------------------------------------------------------------- Dropout

def test_dropout_is_seeded_by_numpy_and_the_identity_in_testing():
    np.random.seed(0)
    a = Dropout(0.5).forward(np.ones((4, 5)))
    np.random.seed(0)
    b = Dropout(0.5).forward(np.ones((4, 5)))
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 2.0}
    layer = Dropout(0.5)
    layer.testing_phase = True
    x = np.random.default_rng(0).standard_normal((3, 3))
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)


def test_dropout_is_checked_with_reseed_and_a_missing_scale_is_caught():
    from tests.broken_layers import DropoutMissingScale

    assert_gradients(Dropout(0.7), (6, 4), reseed=1)
    report = check_layer(DropoutMissingScale(0.7), (6, 4), reseed=1)
    assert not report.ok and "0.7 x numeric" in str(report)
    assert "not deterministic" in str(check_layer(Dropout(0.7), (6, 4)))


# ----------------------------------------------------------------------------------------- regularizers

def test_regularizers_values_and_aliases():
    w = np.array([[1.0, -2.0], [0.0, 3.0]])
    np.testing.assert_array_equal(L1Regularizer(0.5).calculate_gradient(w), 0.5 * np.sign(w))
    assert L1Regularizer(0.5).norm(w) == 3.0
    np.testing.assert_array_equal(L2Regularizer(0.5).calculate_gradient(w), 0.5 * w)
    assert L2Regularizer(0.5).norm(w) == 7.0
    assert L1_Regularizer is L1Regularizer and L2_Regularizer is L2Regularizer


@pytest.mark.parametrize("optimizer", [Sgd(0.1), SgdWithMomentum(0.1, 0.9), Adam(0.1)])
def test_optimizers_shrink_by_the_regularizer_gradient(optimizer):
    import copy

    plain, regularised = copy.deepcopy(optimizer), copy.deepcopy(optimizer)
    regularised.add_regularizer(L2Regularizer(0.5))
    w, g = np.array([1.0, -2.0]), np.array([0.3, 0.1])
    np.testing.assert_allclose(regularised.calculate_update(w, g), plain.calculate_update(w, g) - 0.1 * 0.5 * w)
    with pytest.raises(TypeError, match="calculate_gradient"):
        plain.add_regularizer(object())


def test_network_adds_the_norms_to_the_loss_and_check_network_still_passes():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 3)), np.eye(2)[[0, 1, 1, 0]]

    def network(regularizer):
        optimizer = Sgd(0.1)
        if regularizer:
            optimizer.add_regularizer(regularizer)
        net = NeuralNetwork(optimizer, Constant(0.2), Constant(0.1))
        net.data_layer, net.loss_layer = type("Data", (), {"forward": lambda self: (x, y)})(), CrossEntropyLoss()
        net.append_layer(FullyConnected(3, 2))
        net.append_layer(SoftMax())
        return net

    plain, l2 = network(None), network(L2Regularizer(0.01))
    assert l2.forward() == pytest.approx(plain.forward() + 0.01 * np.sum(l2.layers[0].weights ** 2))
    assert check_network(l2).ok          # the check detaches the optimizers, and with them the norm


# ----------------------------------------------------------------------------------------- phases

def test_network_phase_reaches_every_layer():
    net = NeuralNetwork(Sgd(0.1))
    net.append_layer(FullyConnected(2, 2))
    net.append_layer(Dropout(0.5))
    net.phase = True
    assert all(layer.testing_phase for layer in net.layers)
    net.test(np.ones((1, 2)))
    assert net.phase is True
    net.data_layer = type("Data", (), {"forward": lambda self: (np.ones((1, 2)), np.eye(2)[:1])})()
    net.loss_layer = CrossEntropyLoss()
    net.append_layer(SoftMax())
    net.train(1)
    assert net.phase is False and not any(layer.testing_phase for layer in net.layers)


def test_a_cnn_with_batch_norm_and_dropout_trains_and_tests():
    rng = np.random.default_rng(4)
    net = NeuralNetwork(Adam(2e-3), He(rng), Constant(0.1))
    net.data_layer = DigitsData(32, rng, images=True)
    net.loss_layer = CrossEntropyLoss()
    for layer in [Conv(1, (1, 3, 3), 8, rng), BatchNormalization(8), ReLU(), Pooling(2, 2), Flatten(),
                  Dropout(0.8), FullyConnected(128, 10, rng), SoftMax()]:
        net.append_layer(layer)
    net.train(300)
    assert accuracy(net) >= 0.9
    assert net.phase is True and net.layers[1].testing_phase


# ----------------------------------------------------------------------------------------- RNN and LSTM

@pytest.mark.parametrize("cls, gates", [(RNN, 1), (LSTM, 4)])
def test_recurrent_shapes_and_sub_layers_are_checked(cls, gates):
    layer = cls(3, 5, 2, 0)
    assert layer.weights.shape == (3 + 5 + 1, gates * 5) and layer.weights is layer.hidden_layer.weights
    y = layer.forward(np.random.default_rng(0).standard_normal((7, 3)))
    assert y.shape == (7, 2) and ((y > 0) & (y < 1)).all()
    report = assert_gradients(cls(3, 5, 2, 1), (7, 3))
    assert [t.name for t in report.tensors] == ["input", "weights", "output_layer.weights"]


@pytest.mark.parametrize("cls", [RNN, LSTM])
def test_recurrent_memorize_carries_the_state_and_is_reported_by_the_checker(cls):
    x = np.random.default_rng(5).standard_normal((4, 3))
    layer = cls(3, 4, 2, 0)
    first = layer.forward(x)
    np.testing.assert_array_equal(layer.forward(x), first)             # memorize False: same each time
    layer.memorize = True
    layer.forward(x)
    assert not np.array_equal(layer.forward(x), first)
    stateful = cls(3, 4, 2, 0)
    stateful.memorize = True
    assert "memorize=True" in str(check_layer(stateful, x))


@pytest.mark.parametrize("cls", [RNN, LSTM])
def test_recurrent_optimizer_updates_both_sub_layers_with_summed_gradients(cls):
    layer = cls(2, 3, 2, 0)
    layer.optimizer = Sgd(0.5)
    before_h, before_y = layer.hidden_layer.weights.copy(), layer.output_layer.weights.copy()
    layer.forward(np.ones((4, 2)))
    layer.backward(np.ones((4, 2)))
    np.testing.assert_allclose(layer.hidden_layer.weights, before_h - 0.5 * layer.gradient_weights)
    np.testing.assert_allclose(layer.output_layer.weights, before_y - 0.5 * layer.output_layer.gradient_weights)


@pytest.mark.parametrize("cls", [RNN, LSTM])
def test_a_wrong_recurrent_backward_is_blamed_on_its_tensor(cls):
    class ForgetsTheCarry(cls):
        def _back_through_time(self, cache, grad_hidden):
            grad_input, grad_pre, inputs = super()._back_through_time(cache, grad_hidden)
            return grad_input * 0.5, grad_pre, inputs

    report = check_layer(ForgetsTheCarry(3, 4, 2, 0), (5, 3))
    assert [t.name for t in report.tensors if not t.ok] == ["input"]


def test_a_network_with_an_rnn_learns_a_sequence_task():
    """NeuralNetwork runs an RNN on a sequence (the batch axis is time): well above the memoryless 0.63."""
    from core import Xavier
    from core.datasets import RunningSumSigns
    from core.train import sequence_accuracy

    rng = np.random.default_rng(0)
    net = NeuralNetwork(Adam(1e-2), Xavier(rng), Constant(0.0))
    net.data_layer, net.loss_layer = RunningSumSigns(20, rng), CrossEntropyLoss()
    for layer in [RNN(1, 8, 8, rng), FullyConnected(8, 2, rng), SoftMax()]:
        net.append_layer(layer)
    net.train(1500)
    assert sequence_accuracy(net) >= 0.8


@pytest.mark.parametrize("testing", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_batch_norm_names_a_bad_element_found_through_its_statistics(testing, bad):
    """Training tests the input through the per-channel mean and variance, backward the error through the
    bias gradient (its per-channel sum): no pass of their own, and the same message naming the element."""
    rng = np.random.default_rng(0)
    layer = BatchNormalization(3)
    layer.forward(rng.standard_normal((4, 3, 2, 2)))
    layer.testing_phase = testing
    x = rng.standard_normal((4, 3, 2, 2))
    x[2, 1, 0, 1] = bad
    with pytest.raises(ValueError, match=r"forward: input_tensor must be finite, got 1 NaN/inf element\(s\), "
                                         r"first at index \(2, 1, 0, 1\)"):
        layer.forward(x)
    layer.forward(rng.standard_normal((4, 3, 2, 2)))
    e = rng.standard_normal((4, 3, 2, 2))
    e[3, 2, 1, 1] = bad
    with pytest.raises(ValueError, match=r"backward: error_tensor must be finite, got 1 NaN/inf element\(s\), "
                                         r"first at index \(3, 2, 1, 1\)"):
        layer.backward(e)
    with pytest.raises(ValueError, match="overflowed although it is finite"):
        BatchNormalization(1).forward(np.array([[1e308], [-1e308], [1e308]]))
