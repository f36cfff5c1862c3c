"""The finiteness test's fallbacks: a BLAS that fails the self-test, and huge finite values."""
import numpy as np

from core import _validation
from core._validation import DOT_MIN_SIZE, all_finite, dot_product


def test_a_blas_failing_the_self_test_leaves_every_test_elementwise(monkeypatch):
    monkeypatch.setattr(_validation, "_dot_is_ieee", lambda: False)
    x = np.ones(DOT_MIN_SIZE * 2)
    assert all_finite(x)
    x[-1] = np.nan
    assert not all_finite(x)
    a, b = np.arange(4.0).reshape(2, 2), np.full((2, 2), 0.5)
    assert dot_product(a, b) == 3.0


def test_the_blas_here_passes_the_self_test():
    """If this fails, the layers still give exact answers (elementwise), only slower."""
    assert _validation._dot_is_ieee()


def test_huge_finite_values_overflow_the_sum_but_count_as_finite():
    for dtype, huge in ((np.float64, 1e200), (np.float32, 1e30)):
        x = np.full(DOT_MIN_SIZE, huge, dtype=dtype)
        assert all_finite(x) and all_finite(x.reshape(64, -1).T)
        x[DOT_MIN_SIZE // 2] = -np.inf
        assert not all_finite(x)
