import numpy as np
import pytest

from core import Sgd


def test_floats_as_in_the_seed():
    optimizer = Sgd(1.0)
    result = optimizer.calculate_update(1.0, 1.0)
    assert result == 0.0
    assert optimizer.calculate_update(result, 1.0) == -1.0


def test_arrays_not_mutated():
    w, g = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    new = Sgd(0.1).calculate_update(w, g)
    np.testing.assert_allclose(new, [0.95, 2.05])
    np.testing.assert_array_equal(w, [1.0, 2.0])


def test_float32_kept():
    w = np.ones(3, dtype=np.float32)
    assert Sgd(0.1).calculate_update(w, w).dtype == np.float32


@pytest.mark.parametrize("lr, exc", [(0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                     ("0.1", TypeError), (None, TypeError)])
def test_bad_learning_rate(lr, exc):
    with pytest.raises(exc, match="learning_rate"):
        Sgd(lr)


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(2,\), got \(3,\)"):
        Sgd(0.1).calculate_update(np.ones(2), np.ones(3))
