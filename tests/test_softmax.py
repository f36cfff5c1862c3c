import numpy as np
import pytest

from core import SoftMax


def test_forward_values():
    x = np.array([[0.0, np.log(3.0)], [1.0, 1.0]])
    np.testing.assert_allclose(SoftMax().forward(x), [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)


def test_rows_far_below_the_global_max_are_not_nan():
    """The seed subtracted the global max: the second row became exp(-2000)/sum = 0/0."""
    x = np.array([[1000.0, 999.0], [-1000.0, -1001.0]])
    y = SoftMax().forward(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y[0], y[1], rtol=1e-15)


def test_backward_matches_explicit_jacobian():
    rng = np.random.default_rng(0)
    x, e = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    layer = SoftMax()
    y = layer.forward(x)
    grad = layer.backward(e)
    for i in range(5):
        jac = np.diag(y[i]) - np.outer(y[i], y[i])
        np.testing.assert_allclose(grad[i], jac.T @ e[i], rtol=1e-12, atol=1e-15)


def test_float32_and_no_mutation():
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    x0 = x.copy()
    layer = SoftMax()
    y = layer.forward(x)
    assert y.dtype == np.float32 and not np.shares_memory(x, y)
    e = np.ones((1, 3), dtype=np.float32)
    e0 = e.copy()
    assert layer.backward(e).dtype == np.float32
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(e, e0)


def test_bad_input():
    with pytest.raises(RuntimeError, match="call forward"):
        SoftMax().backward(np.ones((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        SoftMax().forward(np.array([[np.inf, 0.0]]))
    with pytest.raises(TypeError, match="numeric"):
        SoftMax().forward(np.array([[None]]))
