import numpy as np
import pytest

from core import Embedding, Sgd
from gradcheck import check_layer


def test_repeated_indices_add_their_error_rows():
    layer = Embedding(3, 2, 0)
    layer.forward(np.array([[2, 2], [0, 2]]))
    layer.backward(np.ones((2, 2, 2)))
    # index 2 occurs three times, 0 once, 1 never: the counts, per column
    np.testing.assert_array_equal(layer.gradient_weights, [[1, 1], [0, 0], [3, 3]])


def test_the_gradient_check_passes_with_integer_input():
    report = check_layer(Embedding(10, 4, 0), np.array([[1, 9], [0, 3], [9, 9]]))
    assert report.ok and [t.name for t in report.tensors] == ["weights"], str(report)


def test_the_optimizer_updates_only_the_rows_used():
    layer = Embedding(4, 2, 0)
    layer.optimizer = Sgd(1.0)
    before = layer.weights.copy()
    layer.forward(np.array([[1]]))
    layer.backward(np.ones((1, 1, 2)))
    changed = ~np.isclose(layer.weights, before).all(axis=1)
    assert changed.tolist() == [False, True, False, False]


@pytest.mark.parametrize("x, error, match", [
    (np.array([[0.5, 1.0]]), TypeError, "integer indices"),
    (np.array([[0, 4]]), IndexError, r"index 4 at \(0, 1\) is outside \[0, 4\)"),
    (np.array([[-1]]), IndexError, "outside"),
    (np.array(3), ValueError, "batch axis")])
def test_bad_indices_are_refused_with_what_was_given(x, error, match):
    with pytest.raises(error, match=match):
        Embedding(4, 2, 0).forward(x)


def test_backward_before_forward_and_a_wrong_error_shape_are_refused():
    layer = Embedding(4, 2, 0)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 1, 2)))
    layer.forward(np.array([[1, 2]]))
    with pytest.raises(ValueError):
        layer.backward(np.ones((1, 2, 3)))
