import numpy as np
import pytest

from core import FullyConnected, Sgd


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_weights_shape_and_init(rng):
    layer = FullyConnected(4, 3, rng)
    assert layer.trainable
    assert layer.weights.shape == (5, 3)
    assert np.all(layer.weights[-1] > 0), "bias row must start strictly positive"
    limit = np.sqrt(6 / 7)
    assert np.all(np.abs(layer.weights[:-1]) <= limit)
    assert layer.gradient_weights is None


def test_init_is_reproducible_from_rng():
    a = FullyConnected(4, 3, np.random.default_rng(7)).weights
    b = FullyConnected(4, 3, np.random.default_rng(7)).weights
    c = FullyConnected(4, 3, np.random.default_rng(8)).weights
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_forward_is_affine_with_bias_row(rng):
    layer = FullyConnected(4, 3, rng)
    x = rng.standard_normal((6, 4))
    expected = np.hstack([x, np.ones((6, 1))]) @ layer.weights  # the seed's formulation
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-14, atol=1e-14)


def _loop_forward(x, w):
    """A plain loop implementation: y[b, j] = sum_k x[b, k] w[k, j] + w[-1, j]."""
    y = np.zeros((x.shape[0], w.shape[1]))
    for b in range(x.shape[0]):
        for j in range(w.shape[1]):
            y[b, j] = sum(x[b, k] * w[k, j] for k in range(x.shape[1])) + w[-1, j]
    return y


def test_backward_satisfies_the_adjoint_identity_for_input_and_weights(rng):
    """<E, J v> = <J^T E, v>: forward is affine in x and in W, so J v is an exact difference of two forwards
    (computed by a plain loop, not by the layer)."""
    layer = FullyConnected(4, 3, rng)
    x, e = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    layer.forward(x)
    grad = layer.backward(e)
    assert layer.gradient_weights.shape == layer.weights.shape
    w = layer.weights.copy()
    v, dw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    np.testing.assert_allclose(np.sum(e * (_loop_forward(x + v, w) - _loop_forward(x, w))), np.sum(grad * v),
                               rtol=1e-12)
    np.testing.assert_allclose(np.sum(e * (_loop_forward(x, w + dw) - _loop_forward(x, w))),
                               np.sum(layer.gradient_weights * dw), rtol=1e-12)


def test_no_optimizer_never_changes_weights(rng):
    layer = FullyConnected(4, 3, rng)
    before = layer.weights.copy()
    layer.forward(rng.standard_normal((6, 4)))
    layer.backward(rng.standard_normal((6, 3)))
    np.testing.assert_array_equal(layer.weights, before)


def test_optimizer_gets_the_pre_update_weights_and_the_error_uses_them(rng):
    layer, twin = FullyConnected(4, 3, 7), FullyConnected(4, 3, 7)     # the same weights
    layer.optimizer = Sgd(0.5)
    before = layer.weights.copy()
    x, e = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    layer.forward(x), twin.forward(x)
    np.testing.assert_array_equal(layer.backward(e), twin.backward(e))      # twin has no optimizer
    np.testing.assert_array_equal(layer.gradient_weights, twin.gradient_weights)
    np.testing.assert_array_equal(layer.weights, Sgd(0.5).calculate_update(before, twin.gradient_weights))


def test_update_decreases_loss(rng):
    """The seed's check: stepping against the gradient of sum(Y) lowers sum(Y) (also through the bias)."""
    layer = FullyConnected(4, 3, rng)
    layer.optimizer = Sgd(1e-2)
    x = rng.random((9, 4))
    for _ in range(5):
        y = layer.forward(x)
        layer.backward(np.ones_like(y))
        assert layer.forward(x).sum() < y.sum()


def test_float32_stays_float32(rng):
    layer = FullyConnected(4, 3, rng, dtype=np.float32)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    grad = layer.backward(np.ones_like(y))
    assert grad.dtype == np.float32 and layer.gradient_weights.dtype == np.float32
    layer.optimizer = Sgd(0.1)
    layer.forward(x)
    layer.backward(np.ones_like(y))
    assert layer.weights.dtype == np.float32


def test_inputs_are_not_written_and_outputs_are_new(rng):
    layer = FullyConnected(4, 3, rng)
    layer.optimizer = Sgd(0.1)
    x, e = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    x0, e0 = x.copy(), e.copy()
    y = layer.forward(x)
    g = layer.backward(e)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(e, e0)
    assert not np.shares_memory(y, x) and not np.shares_memory(g, e)


def test_integer_input_is_accepted_as_float(rng):
    layer = FullyConnected(2, 2, rng)
    np.testing.assert_allclose(layer.forward(np.array([[1, 2]])), layer.forward(np.array([[1.0, 2.0]])))


def test_wrong_width_names_expected_and_given(rng):
    with pytest.raises(ValueError, match=r"width 4.*got width 5"):
        FullyConnected(4, 3, rng).forward(np.ones((6, 5)))


@pytest.mark.parametrize("bad, exc, pattern", [
    (np.ones(4), ValueError, r"2-D.*got 1-D shape \(4,\)"),
    (np.ones((2, 3, 4)), ValueError, r"2-D.*got 3-D"),
    (np.ones((0, 4)), ValueError, r"empty batch"),
    (np.array([["a", "b", "c", "d"]]), TypeError, r"real numeric.*<U1"),
    (np.ones((2, 4), dtype=complex), TypeError, r"real numeric.*complex"),
    (np.array([[1.0, np.nan, 0, 0]]), ValueError, r"finite.*1 NaN/inf.*\(0, 1\)"),
    (np.array([[1.0, 0, 0, -np.inf]]), ValueError, r"finite.*\(0, 3\)"),
])
def test_bad_input(rng, bad, exc, pattern):
    with pytest.raises(exc, match=pattern):
        FullyConnected(4, 3, rng).forward(bad)


def test_bad_error_tensor(rng):
    layer = FullyConnected(4, 3, rng)
    layer.forward(np.ones((6, 4)))
    with pytest.raises(ValueError, match=r"shape of the last forward output \(6, 3\), got \(6, 4\)"):
        layer.backward(np.ones((6, 4)))
    with pytest.raises(ValueError, match="finite"):
        layer.backward(np.full((6, 3), np.nan))


def test_backward_before_forward(rng):
    with pytest.raises(RuntimeError, match="call forward"):
        FullyConnected(4, 3, rng).backward(np.ones((6, 3)))


@pytest.mark.parametrize("args, exc", [((0, 3), ValueError), ((4, -1), ValueError), ((4.0, 3), TypeError),
                                       ((True, 3), TypeError)])
def test_bad_sizes(args, exc):
    with pytest.raises(exc):
        FullyConnected(*args)


def test_weights_of_any_shape_are_taken_and_forward_names_the_shape_it_needs(rng):
    """Course code assigns in steps (a kernel, then np.expand_dims of it): the shape is checked at forward."""
    layer = FullyConnected(4, 3, rng)
    layer.weights = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"weights must have shape \(5, 3\), got \(4, 3\)"):
        layer.forward(np.ones((2, 4)))
    new = np.zeros((5, 3))
    layer.weights = new
    assert layer.weights is new
    layer.weights = np.ones((5, 3), dtype=int)              # integers: cast to the layer's float dtype
    assert layer.weights.dtype == np.float64 and layer.forward(np.ones((2, 4))).tolist() == [[5.0] * 3] * 2


def test_optimizer_setter_checks_protocol(rng):
    with pytest.raises(TypeError, match="calculate_update"):
        FullyConnected(4, 3, rng).optimizer = object()


def test_non_finite_weights_and_overflow_are_named(rng):
    layer = FullyConnected(2, 2, rng)
    layer.weights[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"weights must be finite.*\(0, 1\)"):
        layer.forward(np.ones((3, 2)))
    layer = FullyConnected(2, 2, rng)
    layer.weights[:] = 10.0
    with pytest.raises(ValueError, match="overflowed"):
        layer.forward(np.full((1, 2), 1e308))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_on_every_memory_layout_matches_the_loop(rng, dtype):
    """Contiguous, strided and Fortran-ordered operands and mixed dtypes all compute the same affine map."""
    layer = FullyConnected(5, 3, rng, dtype=dtype)
    x = rng.standard_normal((4, 10)).astype(dtype)[:, ::2]          # a strided view
    expected = _loop_forward(x.astype(np.float64), layer.weights.astype(np.float64))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(layer.forward(x), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.forward(np.ascontiguousarray(x)), expected, rtol=tol, atol=tol)
    layer.weights = np.asfortranarray(layer.weights)
    np.testing.assert_allclose(layer.forward(np.ascontiguousarray(x)), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.forward(x.astype(np.float64 if dtype == np.float32 else np.float32)),
                               expected, rtol=1e-5, atol=1e-5)


def test_error_tensor_checks_through_the_bias_row(rng):
    layer = FullyConnected(3, 2, rng)
    layer.forward(np.ones((4, 3)))
    for bad in (np.nan, np.inf, -np.inf):
        e = np.ones((4, 2))
        e[2, 1] = bad
        with pytest.raises(ValueError, match=r"error_tensor must be finite.*\(2, 1\)"):
            layer.backward(e)
    with pytest.raises(ValueError, match="overflowed"):
        layer.backward(np.full((4, 2), 1e308))


def test_bias_and_finiteness_over_several_row_blocks(rng):
    """The bias is added and the output tested in blocks of whole rows: with 3 outputs a block holds 43,690
    rows, so a batch of 100,000 spans three. Every row gets the bias, and a bad input in the last block is
    named."""
    layer = FullyConnected(2, 3, rng)
    x = rng.standard_normal((100_000, 2))
    y = layer.forward(x)
    rows = [0, 43_689, 43_690, 87_380, 99_999]
    np.testing.assert_allclose(y[rows], _loop_forward(x[rows], layer.weights), rtol=1e-12, atol=1e-12)
    x[99_998, 1] = -np.inf
    with pytest.raises(ValueError, match=r"input_tensor must be finite, got 1 NaN/inf element\(s\), "
                                         r"first at index \(99998, 1\)"):
        layer.forward(x)


def test_outputs_of_several_blocks_against_an_independent_product():
    """The bias is added and tested in blocks of rows: an output of 300 x 512 spans two blocks; the last row's
    NaN is found in the second."""
    from core.fully_connected import BLOCK

    rng = np.random.default_rng(3)
    layer = FullyConnected(8, 512, rng)
    x = rng.standard_normal((300, 8))
    assert x.shape[0] * 512 > BLOCK
    w, b = layer.weights[:-1], layer.weights[-1]
    oracle = np.einsum("bi,io->bo", x, w) + b
    np.testing.assert_allclose(layer.forward(x), oracle, rtol=1e-12, atol=1e-12)
    x[-1, 3] = np.nan
    with pytest.raises(ValueError, match=r"input_tensor must be finite, got 1 NaN/inf element\(s\), first at index "
                                         r"\(299, 3\)"):
        layer.forward(x)
