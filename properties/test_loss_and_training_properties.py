import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core import CrossEntropyLoss, FullyConnected, NeuralNetwork, ReLU, Sgd, SoftMax
from properties.strategies import FINITE, SEEDS, WIDTH, one_hot, predictions_and_labels

EPS = np.finfo(float).eps


@given(predictions_and_labels())
def test_cross_entropy_is_finite_and_non_negative(case):
    p, y = case
    loss = CrossEntropyLoss()
    value = loss.forward(p, y)
    # the seed's formula -y log(p + eps) has its exact minimum -log(1 + eps) per row at p = 1, not 0
    assert value >= -len(p) * np.log1p(EPS)
    assert np.isfinite(value)
    assert np.isfinite(loss.backward(y)).all()


@given(st.tuples(st.integers(1, 16), WIDTH).flatmap(one_hot))
def test_cross_entropy_is_zero_at_perfect_predictions(y):
    value = CrossEntropyLoss().forward(y.copy(), y)
    # 0 but for the eps inside the formula: -log(1 + eps) per row
    assert value == pytest.approx(-len(y) * np.log1p(EPS), rel=1e-12)


@given(st.tuples(st.integers(1, 16), st.integers(2, 16)).flatmap(one_hot))
def test_cross_entropy_finite_at_zero_probability(y):
    wrong = np.roll(y, 1, axis=1)                # all mass on a wrong class: p = 0 on the true one
    loss = CrossEntropyLoss()
    assert loss.forward(wrong, y) == pytest.approx(len(y) * -np.log(EPS), rel=1e-12)
    assert np.isfinite(loss.backward(y)).all()


@given(arrays(np.float64, st.integers(1, 20), elements=FINITE),
       arrays(np.float64, 20, elements=FINITE), st.floats(1e-6, 10), st.floats(1e-6, 10))
def test_sgd_steps_against_the_gradient_in_proportion_to_the_learning_rate(w, g, lr, lr2):
    """Laws, not the formula: a zero gradient is a fixed point; the step is anti-parallel to the gradient
    and scales with the learning rate; the arguments are never written."""
    g = g[: len(w)]
    w0, g0 = w.copy(), g.copy()
    step, step2 = Sgd(lr).calculate_update(w, g) - w, Sgd(lr2).calculate_update(w, g) - w
    np.testing.assert_array_equal(Sgd(lr).calculate_update(w, np.zeros_like(g)), w)
    assert np.sum(step * g) <= 0
    # w + step is rounded to the spacing of |w| + |step|: the only slack the proportionality law needs
    slack = 4 * np.spacing(np.abs(w) + np.abs(step) + np.abs(step2))
    np.testing.assert_allclose(step * lr2, step2 * lr, rtol=0, atol=float(np.max(slack * (lr + lr2))))
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(g, g0)


@given(arrays(np.float64, st.integers(1, 20), elements=st.floats(-100, 100)), st.floats(1e-3, 1.0))
def test_sgd_descends_a_quadratic(t, lr):
    """For L(w) = |w - t|^2 / 2 (gradient w - t) and lr <= 1, one step from 0 never raises the loss."""
    w = np.zeros_like(t)
    new = Sgd(lr).calculate_update(w, w - t)
    assert np.sum((new - t) ** 2) <= np.sum((w - t) ** 2) * (1 + 1e-12)


@given(st.lists(st.sampled_from(["fc", "relu", "softmax"]), min_size=1, max_size=6), st.floats(1e-4, 1.0))
def test_network_layers_get_independent_optimizer_copies(kinds, lr):
    optimizer = Sgd(lr)
    net = NeuralNetwork(optimizer)
    for kind in kinds:
        net.append_layer({"fc": lambda: FullyConnected(3, 3), "relu": ReLU, "softmax": SoftMax}[kind]())
    optimizers = [layer.optimizer for layer in net.layers if layer.trainable]
    assert len(optimizers) == kinds.count("fc")
    assert len({id(o) for o in optimizers} | {id(optimizer)}) == len(optimizers) + 1
    assert all(o.learning_rate == lr for o in optimizers)


@given(SEEDS)
def test_optimizer_copies_do_not_share_state(seed):
    """A stateful optimizer (one that counts its steps) must not be shared between layers."""
    class Counting(Sgd):
        def __init__(self, lr):
            super().__init__(lr)
            self.steps = 0

        def calculate_update(self, w, g):
            self.steps += 1
            return super().calculate_update(w, g)

    net = NeuralNetwork(Counting(0.1))
    rng = np.random.default_rng(seed)
    first, second = FullyConnected(3, 3, rng), FullyConnected(3, 3, rng)
    net.append_layer(first)
    net.append_layer(second)
    first.forward(rng.standard_normal((2, 3)))
    first.backward(rng.standard_normal((2, 3)))
    assert (first.optimizer.steps, second.optimizer.steps, net.optimizer.steps) == (1, 0, 0)
    assert copy.deepcopy(first.optimizer).steps == 1
