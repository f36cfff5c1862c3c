"""The finiteness test: exact for huge finite values (whose sum overflows) and for any layout."""
import numpy as np

from core._validation import all_finite, dot_product


def test_huge_finite_values_overflow_the_sum_but_count_as_finite():
    for dtype, huge in ((np.float64, 1e200), (np.float32, 1e30)):
        x = np.full(8192, huge, dtype=dtype)
        assert all_finite(x) and all_finite(x.reshape(64, -1).T)
        x[4096] = -np.inf
        assert not all_finite(x)


def test_an_inf_and_a_minus_inf_do_not_cancel():
    x = np.zeros(10)
    x[2], x[7] = np.inf, -np.inf
    assert not all_finite(x)


def test_the_dot_product_of_any_layout():
    a, b = np.arange(6.0).reshape(2, 3), np.full((3, 2), 0.5).T
    assert dot_product(a, b) == 7.5
    assert np.isnan(dot_product(np.array([np.inf]), np.array([0.0])))
