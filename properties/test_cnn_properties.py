"""Laws of the convolutional layers: linearity, shift equivariance, striding, the window max, round trips,
and the adjoint identity <E, J v> = <J^T E, v> for every layer, in every direction it is differentiable along."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from core import Conv, Flatten, Pooling, ReLU, Sigmoid, SoftMax, TanH
from gradcheck.strategies import arrays
from properties.strategies import SEEDS

KERNEL = st.integers(1, 4)
SIZE = st.integers(1, 7)


@st.composite
def conv_case(draw, spatial=None):
    """A Conv with drawn kernel, channels, stride and weights, and an input for it."""
    spatial = draw(st.integers(1, 2)) if spatial is None else spatial
    kernel = tuple(draw(KERNEL) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    channels, kernels = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    layer = Conv(stride, (channels, *kernel), kernels, np.random.default_rng(draw(SEEDS)))
    layer.weights = np.random.default_rng(draw(SEEDS)).standard_normal(layer.weights.shape)
    x = draw(arrays((draw(st.integers(1, 3)), channels, *(draw(SIZE) for _ in range(spatial)))))
    return layer, x


def _scale(*arrays_) -> float:
    return 1.0 + sum(float(np.sum(np.abs(a))) for a in arrays_)


@given(conv_case(), SEEDS, st.floats(-3, 3), st.floats(-3, 3))
def test_conv_is_linear_in_its_input_and_in_its_weights(case, seed, a, b):
    layer, x1 = case
    rng = np.random.default_rng(seed)
    x2 = rng.standard_normal(x1.shape)
    layer.bias = np.zeros_like(layer.bias)
    combined = layer.forward(a * x1 + b * x2)
    apart = a * layer.forward(x1) + b * layer.forward(x2)
    assert np.abs(combined - apart).max() <= 1e-10 * _scale(a * x1, b * x2) * _scale(layer.weights)
    w1, w2 = layer.weights.copy(), rng.standard_normal(layer.weights.shape)
    layer.weights = a * w1 + b * w2
    combined = layer.forward(x1)
    layer.weights = w1
    y1 = layer.forward(x1)
    layer.weights = w2
    apart = a * y1 + b * layer.forward(x1)
    assert np.abs(combined - apart).max() <= 1e-10 * _scale(x1) * _scale(a * w1, b * w2)


@given(conv_case(spatial=2), st.integers(0, 2), st.integers(0, 2))
def test_stride_1_conv_is_equivariant_to_shifts_away_from_the_border(case, dy, dx):
    layer, x = case
    layer.stride_shape = (1, 1)
    shifted = np.roll(x, (dy, dx), axis=(2, 3))
    y, y_shifted = layer.forward(x), np.roll(layer.forward(shifted), (-dy, -dx), axis=(2, 3))
    m, n = layer.weights.shape[2:]
    top, left = m + dy, n + dx                     # rows and columns the wrap-around or the padding can reach
    inner = (slice(None), slice(None), slice(top, x.shape[2] - top), slice(left, x.shape[3] - left))
    np.testing.assert_allclose(y_shifted[inner], y[inner], rtol=1e-12, atol=1e-9 * _scale(x))


@given(conv_case())
def test_stride_s_is_stride_1_subsampled(case):
    layer, x = case
    strided = layer.forward(x)
    stride = layer.stride_shape
    layer.stride_shape = (1,) * len(stride)
    dense = layer.forward(x)
    # the same sums, but from GEMMs of other shapes: BLAS may block them differently, so rounding may differ
    # by a few ulps of the terms' magnitude
    bound = 16 * np.finfo(float).eps * (_scale(x) * _scale(layer.weights) + _scale(layer.bias))
    np.testing.assert_allclose(strided, dense[(slice(None), slice(None), *(slice(None, None, s) for s in stride))],
                               rtol=0, atol=bound)


@st.composite
def pooling_case(draw):
    window = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(window[0], 7)),
             draw(st.integers(window[1], 7)))
    return Pooling(stride, window), draw(arrays(shape))


@given(pooling_case(), SEEDS)
def test_pooling_returns_the_window_max_and_its_gradient_sums_to_the_errors(case, seed):
    layer, x = case
    (py, px), (sy, sx) = layer.pooling_shape, layer.stride_shape
    y = layer.forward(x)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            window = x[:, :, i * sy:i * sy + py, j * sx:j * sx + px]
            np.testing.assert_array_equal(y[:, :, i, j], window.max(axis=(2, 3)))
    e = np.random.default_rng(seed).standard_normal(y.shape)
    grad = layer.backward(e)
    np.testing.assert_allclose(grad.sum(axis=(2, 3)), e.sum(axis=(2, 3)), rtol=1e-12, atol=1e-12)


@given(arrays(st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))))
def test_flatten_round_trips(x):
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == (len(x), x[0].size)
    np.testing.assert_array_equal(layer.backward(y), x)
    np.testing.assert_array_equal(y.reshape(x.shape), x)


def _differentiable_directions(layer, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """v, zeroed where the layer has a kink at x: ReLU at 0, a max pooled over tied values."""
    if isinstance(layer, ReLU):
        return np.where(x != 0, v, 0.0)
    if isinstance(layer, Pooling):
        values, counts = np.unique(x, return_counts=True)
        return np.where(np.isin(x, values[counts > 1]), 0.0, v)
    return v


@given(st.sampled_from(["conv", "pooling", "relu", "tanh", "sigmoid", "softmax", "flatten"]),
       st.integers(1, 3), st.integers(1, 2), st.integers(2, 5), SEEDS)
def test_adjoint_identity_for_every_layer(kind, batch, channels, size, seed):
    """<E, J v> = <J^T E, v>, with J v measured by a central difference small enough for the ordering of
    the input's values (so the same linear piece on both sides) and for the curvature (smooth layers)."""
    rng = np.random.default_rng(seed)
    layer = {"conv": lambda: Conv((1, 2), (channels, 3, 2), 2, rng), "pooling": lambda: Pooling(1, 2),
             "relu": ReLU, "tanh": TanH, "sigmoid": Sigmoid, "softmax": SoftMax, "flatten": Flatten}[kind]()
    shape = (batch, channels * size) if kind == "softmax" else (batch, channels, size, size)
    x = np.round(rng.standard_normal(shape), 3)           # rounded: ties and zeros occur
    v = _differentiable_directions(layer, x, rng.standard_normal(shape))
    y = layer.forward(x)
    e = rng.standard_normal(y.shape)
    grad = layer.backward(e)
    eps = 1e-6                                         # well below the 1e-3 spacing of x's values
    jv = (layer.forward(x + eps * v) - layer.forward(x - eps * v)) / (2 * eps)
    lhs, rhs = float(np.sum(e * jv)), float(np.sum(grad * v))
    assert abs(lhs - rhs) <= 1e-6 * (1.0 + np.sum(np.abs(e * jv)) + np.sum(np.abs(grad * v)))
