import numpy as np
import pytest

from core import Flatten, Pooling, Sigmoid, TanH
from gradcheck import assert_gradients, check_layer


def _loop_max_pool(x, pool, stride):
    """A plain loop implementation of valid max pooling."""
    rows = (x.shape[2] - pool[0]) // stride[0] + 1
    cols = (x.shape[3] - pool[1]) // stride[1] + 1
    out = np.empty((*x.shape[:2], rows, cols))
    for i in range(rows):
        for j in range(cols):
            y, xx = i * stride[0], j * stride[1]
            out[:, :, i, j] = x[:, :, y:y + pool[0], xx:xx + pool[1]].max(axis=(2, 3))
    return out


@pytest.mark.parametrize("stride, pool", [((2, 2), (2, 2)), ((1, 1), (2, 2)), ((2, 1), (3, 2)), (3, 1)])
def test_pooling_forward_is_the_window_max_and_gradients_check(stride, pool):
    layer = Pooling(stride, pool)
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    np.testing.assert_array_equal(layer.forward(x), _loop_max_pool(x, pair(pool), pair(stride)))
    for mode in ("full", "fast"):
        assert_gradients(Pooling(stride, pool), x, mode=mode)


def test_pooling_overlapping_windows_accumulate_and_ties_get_the_gradient_once():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0                       # the max of all four 2x2 windows (stride 1)
    layer = Pooling((1, 1), (2, 2))
    layer.forward(x)
    grad = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert grad[0, 0, 1, 1] == 10.0 and grad.sum() == 10.0
    tied = np.ones((1, 1, 2, 2))
    layer.forward(tied)
    assert layer.backward(np.array([[[[7.0]]]])).sum() == 7.0


class CopiesToTies(Pooling):
    """Sends each window's error to every element equal to the window's max."""

    def backward(self, error_tensor):
        (winner, shape), e = self._recall(error_tensor)
        (py, px), (sy, sx) = self.pooling_shape, self.stride_shape
        grad = np.zeros(shape)
        x = self._x
        for i in range(winner.shape[2]):
            for j in range(winner.shape[3]):
                window = x[:, :, i * sy:i * sy + py, j * sx:j * sx + px]
                mask = window == window.max(axis=(2, 3), keepdims=True)
                grad[:, :, i * sy:i * sy + py, j * sx:j * sx + px] += mask * e[:, :, i:i + 1, j:j + 1]
        return grad

    def forward(self, input_tensor):
        self._x = np.asarray(input_tensor, dtype=float)
        return super().forward(input_tensor)


def test_a_pooling_that_copies_to_ties_is_caught_with_overlapping_windows():
    x = np.zeros((2, 1, 4, 4))
    x[:, :, 1:3, 1:3] = 1.0
    assert check_layer(Pooling((1, 1), (2, 2)), x).ok
    report = check_layer(CopiesToTies((1, 1), (2, 2)), x)
    assert not report.ok and "are tied" in str(report)


def test_pooling_bad_input():
    with pytest.raises(ValueError, match="smaller than the pooling window"):
        Pooling(1, 3).forward(np.ones((1, 1, 2, 5)))
    with pytest.raises(ValueError, match="4-D"):
        Pooling(1, 2).forward(np.ones((1, 4, 4)))
    with pytest.raises(ValueError, match="positive ints"):
        Pooling((1, 0), 2)


@pytest.mark.parametrize("layer", [TanH, Sigmoid])
def test_activations_any_rank_and_extremes(layer):
    x = np.array([[[-1e3, -20.0, 0.0], [1e-8, 20.0, 1e3]]])
    y = layer().forward(x)
    assert y.shape == x.shape and np.isfinite(y).all()
    lo = -1.0 if layer is TanH else 0.0
    assert (y >= lo).all() and (y <= 1.0).all() and y[0, 0, 2] == (0.0 if layer is TanH else 0.5)
    for mode in ("full", "fast"):
        assert_gradients(layer(), np.random.default_rng(1).standard_normal((3, 2, 4)) * 5, mode=mode)


def test_sigmoid_is_stable_and_symmetric():
    x = np.linspace(-800, 800, 33)[None]
    y = Sigmoid().forward(x)
    np.testing.assert_allclose(y + Sigmoid().forward(-x), 1.0, rtol=0, atol=1e-15)


def test_flatten_shapes_and_no_alias():
    x = np.arange(24.0).reshape(2, 3, 4)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == (2, 12) and not np.shares_memory(x, y)
    back = layer.backward(y)
    np.testing.assert_array_equal(back, x)
    assert_gradients(Flatten(), (2, 3, 2, 2))
