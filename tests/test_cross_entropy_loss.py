import numpy as np
import pytest

from core import CrossEntropyLoss

EPS = np.finfo(float).eps


def test_forward_value_and_perfect_prediction():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert CrossEntropyLoss().forward(p, y) == pytest.approx(-np.log(0.8 + EPS) - np.log(0.5 + EPS), rel=1e-15)
    assert CrossEntropyLoss().forward(y, y) == pytest.approx(-2 * np.log(1 + EPS), abs=1e-15)


def test_zero_probability_is_finite():
    p = np.array([[0.0, 1.0]])
    y = np.array([[1.0, 0.0]])
    loss = CrossEntropyLoss()
    assert loss.forward(p, y) == pytest.approx(-np.log(EPS))
    grad = loss.backward(y)
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, [[-1 / EPS, 0.0]])


def test_backward_value():
    p = np.array([[0.25, 0.75]])
    y = np.array([[0.0, 1.0]])
    loss = CrossEntropyLoss()
    loss.forward(p, y)
    np.testing.assert_allclose(loss.backward(y), [[0.0, -1 / (0.75 + EPS)]], rtol=1e-15)


def test_float32_stays_float32():
    p = np.array([[0.25, 0.75]], dtype=np.float32)
    y = np.array([[0.0, 1.0]], dtype=np.float32)
    loss = CrossEntropyLoss()
    loss.forward(p, y)
    assert loss.backward(y).dtype == np.float32


def test_bad_input():
    with pytest.raises(ValueError, match=r"label_tensor must have the shape of prediction_tensor \(2, 3\), "
                                         r"got \(2, 2\)"):
        CrossEntropyLoss().forward(np.full((2, 3), 1 / 3), np.eye(2))
    with pytest.raises(RuntimeError, match="call forward"):
        CrossEntropyLoss().backward(np.eye(2))
    with pytest.raises(ValueError, match=">= 0"):
        CrossEntropyLoss().forward(np.array([[-0.1, 1.1]]), np.array([[0.0, 1.0]]))
    loss = CrossEntropyLoss()
    loss.forward(np.full((2, 2), 0.5), np.eye(2))
    with pytest.raises(ValueError, match=r"\(2, 2\), got \(3, 2\)"):
        loss.backward(np.ones((3, 2)))


def test_overflow_and_tiny_negatives_are_errors_not_warnings():
    """The loss and the gradient stand for the finiteness of the arguments; an overflow of finite ones is
    told apart (no RuntimeWarning: pytest turns those into errors here), and a negative probability too
    small to change p + eps is still refused."""
    p = np.array([[1e-20, 1.0]])
    with pytest.raises(ValueError, match="loss overflowed to inf although both arguments are finite"):
        CrossEntropyLoss().forward(p, np.array([[1e307, 0.0]]))
    loss = CrossEntropyLoss()
    loss.forward(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"overflowed to inf although the label is finite \(max \|label\| 1e\+300\)"):
        loss.backward(np.array([[1e300, 0.0]]))
    with pytest.raises(ValueError, match=r">= 0, got -1e-300 at index \(0, 1\)"):
        CrossEntropyLoss().forward(np.array([[1.0, -1e-300]]), np.array([[1.0, 0.0]]))


def test_mixed_dtypes_and_layouts():
    """float64 labels with float32 predictions give a float64 gradient (numpy's promotion); any layout gives
    the values of the C-ordered arrays."""
    p = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    loss = CrossEntropyLoss()
    loss.forward(p, y)
    assert loss.backward(y).dtype == np.float64
    expected_loss = CrossEntropyLoss().forward(p.astype(float), y)
    expected_grad = CrossEntropyLoss()
    expected_grad.forward(p.astype(float), y)
    for pl, yl in [(np.asfortranarray(p.astype(float)), np.asfortranarray(y)),
                   (np.ascontiguousarray(p.astype(float).T).T, y[:, ::-1][:, ::-1])]:
        assert loss.forward(pl, yl) == pytest.approx(expected_loss, rel=1e-15)
        np.testing.assert_array_equal(loss.backward(yl), expected_grad.backward(y))
