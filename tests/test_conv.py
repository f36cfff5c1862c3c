import numpy as np
import pytest
from scipy.signal import correlate

from core import Adam, Constant, Conv, He, Sgd, SgdWithMomentum
from gradcheck import assert_gradients


def _loop_same_correlation(x, w, b, stride):
    """A plain loop implementation of Conv's definition, for any kernel parity and stride (2-D)."""
    batch, _, rows, cols = x.shape
    k, _, m, n = w.shape
    pad = np.pad(x, ((0, 0), (0, 0), ((m - 1) // 2, m // 2), ((n - 1) // 2, n // 2)))
    out = np.zeros((batch, k, -(-rows // stride[0]), -(-cols // stride[1])))
    for bi in range(batch):
        for ki in range(k):
            for oy in range(out.shape[2]):
                for ox in range(out.shape[3]):
                    y, xx = oy * stride[0], ox * stride[1]
                    out[bi, ki, oy, ox] = np.sum(pad[bi, :, y:y + m, xx:xx + n] * w[ki]) + b[ki]
    return out


@pytest.mark.parametrize("m, n", [(3, 3), (1, 5), (5, 3)])
def test_forward_matches_scipy_correlate_for_odd_kernels(m, n):
    rng = np.random.default_rng(0)
    layer = Conv(1, (3, m, n), 2, rng)
    x = rng.standard_normal((2, 3, 7, 6))
    expected = np.stack([np.stack([sum(correlate(x[b, c], layer.weights[k, c], mode="same") for c in range(3))
                                   + layer.bias[k] for k in range(2)]) for b in range(2)])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel, stride", [((2, 2), (1, 1)), ((2, 4), (2, 3)), ((4, 3), (3, 2)), ((3, 3), (2, 2))])
def test_forward_matches_a_loop_for_even_kernels_and_strides(kernel, stride):
    rng = np.random.default_rng(1)
    layer = Conv(stride, (2, *kernel), 3, rng)
    x = rng.standard_normal((2, 2, 7, 8))
    np.testing.assert_allclose(layer.forward(x), _loop_same_correlation(x, layer.weights, layer.bias, stride),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", [3, 4, 5])
def test_one_d_length_9_stride_3(kernel):
    layer = Conv(3, (1, kernel), 2, np.random.default_rng(2))
    x = np.random.default_rng(3).standard_normal((2, 1, 9))
    y = layer.forward(x)
    assert y.shape == (2, 2, 3)
    # 1-D is the 2-D convolution of a single row
    as_2d = _loop_same_correlation(x[:, :, None, :], layer.weights[:, :, None, :], layer.bias, (1, 3))
    np.testing.assert_allclose(y, as_2d[:, :, 0, :], rtol=1e-12, atol=1e-12)
    assert_gradients(layer, x)


@pytest.mark.parametrize("stride, conv, shape", [
    (1, (2, 3, 3), (2, 2, 6, 5)), (1, (2, 2, 2), (2, 2, 5, 5)), (1, (2, 2, 4), (2, 2, 6, 7)),
    ((2, 3), (3, 3, 2), (2, 3, 7, 8)), ((3, 2), (1, 4, 4), (1, 1, 9, 7)), (2, (2, 3), (2, 2, 9)),
    ((3,), (1, 4), (2, 1, 10)),
])
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_gradients(stride, conv, shape, mode):
    assert_gradients(Conv(stride, conv, 3, np.random.default_rng(4)), shape, mode=mode)


def test_attributes_initialize_and_one_optimizer_with_a_bias_copy():
    layer = Conv((1, 1), (2, 3, 4), 5)
    assert layer.weights.shape == (5, 2, 3, 4) and layer.bias.shape == (5,) and layer.trainable
    seen = []

    class Recording(Constant):
        def initialize(self, weights_shape, fan_in, fan_out):
            seen.append((tuple(weights_shape), fan_in, fan_out))
            return super().initialize(weights_shape, fan_in, fan_out)

    layer.initialize(Recording(0.5), Recording(0.1))
    assert seen == [((5, 2, 3, 4), 2 * 3 * 4, 5 * 3 * 4), ((5,), 2 * 3 * 4, 5 * 3 * 4)]
    assert (layer.weights == 0.5).all() and (layer.bias == 0.1).all()
    layer.optimizer = Adam(1e-3)
    assert layer._bias_optimizer is not layer.optimizer and isinstance(layer._bias_optimizer, Adam)


@pytest.mark.parametrize("optimizer", [Sgd(0.1), SgdWithMomentum(0.1, 0.9), Adam(0.1)])
def test_backward_updates_weights_and_bias_with_their_own_optimizers(optimizer):
    rng = np.random.default_rng(5)
    layer = Conv(1, (1, 3, 3), 2, rng)
    layer.initialize(He(0), Constant(0.1))
    layer.optimizer = optimizer
    w, b = layer.weights.copy(), layer.bias.copy()
    x = rng.standard_normal((2, 1, 5, 5))
    layer.forward(x)
    layer.backward(np.ones((2, 2, 5, 5)))
    assert not np.array_equal(layer.weights, w) and not np.array_equal(layer.bias, b)


@pytest.mark.parametrize("args, match", [
    ((1, (2, 3, 3, 3), 2), r"\(c, m\) or \(c, m, n\)"), ((1, (2, 0, 3), 2), "positive ints"),
    (((1, 2, 3), (2, 3, 3), 2), "1 or 2 entries"), ((0, (2, 3), 2), "positive ints"), ((1, (2, 3), 0), "positive"),
])
def test_bad_construction(args, match):
    with pytest.raises(ValueError, match=match):
        Conv(*args)


def test_bad_input_names_expected_and_given():
    layer = Conv(1, (2, 3, 3), 2)
    with pytest.raises(ValueError, match=r"2 channels.*got shape \(1, 3, 5, 5\)"):
        layer.forward(np.ones((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"4-D.*got 3-D"):
        layer.forward(np.ones((1, 2, 5)))
    with pytest.raises(RuntimeError, match="call forward"):
        layer.backward(np.ones((1, 2, 5, 5)))
    layer.forward(np.ones((1, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"\(1, 2, 5, 5\), got \(1, 2, 5, 4\)"):
        layer.backward(np.ones((1, 2, 5, 4)))


def test_float32_stays_float32_and_input_is_not_written():
    layer = Conv(1, (1, 3, 3), 2)
    layer.weights, layer.bias = layer.weights.astype(np.float32), layer.bias.astype(np.float32)
    x = np.random.default_rng(6).standard_normal((2, 1, 4, 4)).astype(np.float32)
    x0 = x.copy()
    y = layer.forward(x)
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
    np.testing.assert_array_equal(x, x0)
