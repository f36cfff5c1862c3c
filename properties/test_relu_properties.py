import numpy as np
from hypothesis import given

from core import ReLU
from properties.strategies import FINITE_MATRICES, KINKED_MATRICES


@given(KINKED_MATRICES)
def test_forward_masks(x):
    y = ReLU().forward(x)
    positive = x > 0
    np.testing.assert_array_equal(y[positive], x[positive])
    assert (y[~positive] == 0).all()


@given(KINKED_MATRICES, FINITE_MATRICES)
def test_backward_passes_error_exactly_where_input_positive(x, e_any):
    e = np.resize(e_any, x.shape) + 1.0     # an error tensor of x's shape
    layer = ReLU()
    layer.forward(x)
    grad = layer.backward(e)
    np.testing.assert_array_equal(grad[x > 0], e[x > 0])
    assert (grad[x <= 0] == 0).all()


@given(FINITE_MATRICES)
def test_forward_idempotent(x):
    once = ReLU().forward(x)
    np.testing.assert_array_equal(ReLU().forward(once), once)
