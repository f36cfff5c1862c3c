import numpy as np
import pytest

from core import ReLU


def test_forward_and_backward_values():
    x = np.array([[-2.0, -0.0, 0.0, 3.0], [1.0, -1.0, 5.0, -5.0]])
    layer = ReLU()
    np.testing.assert_array_equal(layer.forward(x), [[0, 0, 0, 3], [1, 0, 5, 0]])
    e = np.arange(8.0).reshape(2, 4) + 1
    np.testing.assert_array_equal(layer.backward(e), [[0, 0, 0, 4], [5, 0, 7, 0]])
    assert not ReLU.trainable


def test_float32_and_no_mutation():
    x = np.array([[-1.0, 2.0]], dtype=np.float32)
    x0 = x.copy()
    layer = ReLU()
    y = layer.forward(x)
    assert y.dtype == np.float32 and not np.shares_memory(x, y)
    assert layer.backward(np.ones((1, 2), dtype=np.float32)).dtype == np.float32
    np.testing.assert_array_equal(x, x0)


def test_backward_uses_latest_forward():
    layer = ReLU()
    layer.forward(np.array([[1.0, -1.0]]))
    layer.forward(np.array([[-1.0, 1.0]]))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 2))), [[0, 1]])


def test_any_rank():
    x = np.array([[[[-1.0, 2.0], [0.0, 3.0]]]])
    layer = ReLU()
    np.testing.assert_array_equal(layer.forward(x), [[[[0, 2], [0, 3]]]])
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[[[0, 1], [0, 1]]]])


def test_bad_input():
    with pytest.raises(RuntimeError, match="call forward"):
        ReLU().backward(np.ones((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        ReLU().forward(np.array([[np.nan]]))
    with pytest.raises(ValueError, match=r"at least 1-D \(batch, ...\)"):
        ReLU().forward(np.float64(3.0))
    layer = ReLU()
    layer.forward(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"\(2, 2\), got \(2, 3\)"):
        layer.backward(np.ones((2, 3)))
