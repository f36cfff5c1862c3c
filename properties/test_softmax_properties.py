import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from core import SoftMax
from properties.strategies import EXTREME, MATRICES, SEEDS, logits_with_row_scales, matrices


@given(logits_with_row_scales())
def test_rows_are_distributions_and_never_nan(x):
    y = SoftMax().forward(x)
    assert np.isfinite(y).all()
    assert ((y >= 0) & (y <= 1)).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=0, atol=8 * np.finfo(float).eps * x.shape[1])


@given(matrices(EXTREME))
def test_extreme_logits_stay_distributions(x):
    y = SoftMax().forward(x)
    assert np.isfinite(y).all() and ((y >= 0) & (y <= 1)).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=0, atol=8 * np.finfo(float).eps * x.shape[1])


@given(MATRICES, st.lists(st.floats(-100, 100), min_size=16, max_size=16))
def test_invariant_to_a_constant_added_to_a_row(x, shifts):
    shifted = x + np.array(shifts[: len(x)])[:, None]
    # x + c is rounded to the spacing of |c| + |x| (<= 110): that relative error of the logits is the only
    # difference, and it moves each probability by at most about that much
    atol = 4 * np.spacing(110.0)
    np.testing.assert_allclose(SoftMax().forward(shifted), SoftMax().forward(x), rtol=0, atol=atol)


@given(matrices(EXTREME))
def test_order_preserving(x):
    y = SoftMax().forward(x)
    for row_x, row_y in zip(x, y):
        order = np.argsort(row_x, kind="stable")
        assert (np.diff(row_y[order]) >= 0).all()


@given(MATRICES, SEEDS)
def test_backward_is_linear_in_the_error(x, seed):
    layer = SoftMax()
    layer.forward(x)
    rng = np.random.default_rng(seed)
    e1, e2 = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    a, b = 1.5, -0.25
    combined = layer.backward(a * e1 + b * e2)
    np.testing.assert_allclose(combined, a * layer.backward(e1) + b * layer.backward(e2), rtol=1e-9, atol=1e-12)
