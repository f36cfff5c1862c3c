import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core import FullyConnected, Sgd
from properties.strategies import BATCH, SEEDS, UNIT, WIDTH


@st.composite
def layer_and_data(draw):
    """A FullyConnected layer with drawn sizes and weights, an input and an error tensor for it."""
    batch, n_in, n_out = draw(BATCH), draw(WIDTH), draw(WIDTH)
    layer = FullyConnected(n_in, n_out, np.random.default_rng(draw(SEEDS)))
    layer.weights = draw(arrays(np.float64, (n_in + 1, n_out), elements=UNIT))
    x = draw(arrays(np.float64, (batch, n_in), elements=UNIT))
    e = draw(arrays(np.float64, (batch, n_out), elements=UNIT))
    return layer, x, e


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-10)


@given(layer_and_data())
def test_forward_matches_a_plain_loop(case):
    layer, x, _ = case
    w = layer.weights
    loop = np.array([[sum(x[b, k] * w[k, j] for k in range(x.shape[1])) + w[-1, j] for j in range(w.shape[1])]
                     for b in range(x.shape[0])])
    _close(layer.forward(x), loop)


@given(layer_and_data(), arrays(np.float64, 16, elements=UNIT))
def test_error_passed_back_never_involves_the_bias_row(case, new_bias):
    layer, x, e = case
    layer.forward(x)
    before = layer.backward(e)
    layer.weights[-1] = new_bias[: layer.output_size]
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(e), before)


@given(layer_and_data(), SEEDS)
def test_weight_gradient_satisfies_the_adjoint_identity(case, seed):
    """<E, f_{W+V}(x) - f_W(x)> = <dL/dW, V>: forward is affine in W, so the difference is exact."""
    layer, x, e = case
    layer.forward(x)
    layer.backward(e)
    assert layer.weights.shape == layer.gradient_weights.shape == (layer.input_size + 1, layer.output_size)
    v = np.random.default_rng(seed).standard_normal(layer.weights.shape)
    before = layer.forward(x)
    layer.weights = layer.weights + v
    lhs, rhs = np.sum(e * (layer.forward(x) - before)), np.sum(layer.gradient_weights * v)
    scale = np.sum(np.abs(e * (layer.forward(x) - before))) + np.sum(np.abs(layer.gradient_weights * v)) + 1.0
    assert abs(lhs - rhs) <= 1e-9 * scale


@given(layer_and_data())
def test_batch_equals_stacked_rows(case):
    layer, x, e = case
    rows = np.vstack([layer.forward(x[i:i + 1]) for i in range(len(x))])
    _close(layer.forward(x), rows)
    per_row = []
    for i in range(len(x)):
        layer.forward(x[i:i + 1])
        layer.backward(e[i:i + 1])
        per_row.append(layer.gradient_weights)
    layer.forward(x)
    layer.backward(e)
    _close(layer.gradient_weights, np.sum(per_row, axis=0))


@given(layer_and_data(), st.floats(-3, 3), st.floats(-3, 3), SEEDS)
def test_backward_linear_and_adjoint(case, a, b, seed):
    layer, x, e1 = case
    rng = np.random.default_rng(seed)
    e2 = rng.standard_normal(e1.shape)
    layer.forward(x)
    g1, g2 = layer.backward(e1), layer.backward(e2)
    _close(layer.backward(a * e1 + b * e2), a * g1 + b * g2)
    # <J u, v> == <u, J^T v>: J u is forward's change for a change u of the input (the layer is affine in x)
    u = rng.standard_normal(x.shape)
    ju = layer.forward(x + u) - layer.forward(x)
    lhs, rhs = np.sum(ju * e1), np.sum(u * g1)
    scale = np.sum(np.abs(ju * e1)) + np.sum(np.abs(u * g1)) + 1.0
    assert abs(lhs - rhs) <= 1e-9 * scale


@given(layer_and_data())
def test_no_optimizer_no_change_and_inputs_untouched(case):
    layer, x, e = case
    w, x0, e0 = layer.weights.copy(), x.copy(), e.copy()
    y = layer.forward(x)
    g = layer.backward(e)
    np.testing.assert_array_equal(layer.weights, w)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(e, e0)
    assert not np.shares_memory(y, x) and not np.shares_memory(g, e)


@given(layer_and_data(), st.floats(1e-4, 1.0))
def test_the_optimizer_gets_the_weights_before_and_the_gradient(case, lr):
    """What the layer does with its optimizer, whatever the optimizer computes: a spy records the call."""
    layer, x, e = case
    calls = []

    class Spy(Sgd):
        def calculate_update(self, weight_tensor, gradient_tensor):
            calls.append((weight_tensor.copy(), gradient_tensor.copy()))
            return np.full_like(weight_tensor, 7.0)

    layer.optimizer = Spy(lr)
    w = layer.weights.copy()
    layer.forward(x)
    layer.backward(e)
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0][0], w)
    np.testing.assert_array_equal(calls[0][1], layer.gradient_weights)
    assert (layer.weights == 7.0).all()
