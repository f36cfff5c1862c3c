"""Errors that name the fix: a wrong input width against what the layer says it takes, a class without
backward, a class passed where an instance belongs."""
import numpy as np
import pytest

from gradcheck import check_layer


class Dense:
    """x @ W with W of shape (n_in, n_out), no width attribute: the width is read off W and numpy's message."""

    def __init__(self, n_in=5, n_out=3):
        self.weights = np.ones((n_in, n_out))

    def forward(self, x):
        self.x = x
        return x @ self.weights

    def backward(self, e):
        self.gradient_weights = self.x.T @ e
        return e @ self.weights.T


class Sized(Dense):
    """Says its width, and checks it with a message of its own."""

    def __init__(self):
        super().__init__(6, 2)
        self.input_size = 6

    def forward(self, x):
        if x.shape[1] != 6:
            raise ValueError("bad input")
        return super().forward(x)


class Lookup:
    """Rows of a (10, 4) table by integer index: an index out of range is not a width problem."""

    def __init__(self):
        self.weights = np.ones((10, 4))

    def forward(self, idx):
        self.idx = idx
        return self.weights[idx]

    def backward(self, e):
        self.gradient_weights = np.zeros_like(self.weights)
        np.add.at(self.gradient_weights, self.idx, e)


class ForwardOnly:
    def forward(self, x):
        return 2 * x

    def backward_pass(self, e):
        return 2 * e


def test_a_wrong_width_names_the_width_the_layer_holds_and_the_input_to_give():
    with pytest.raises(ValueError, match=r"expects width 5 \(weights of shape \(5, 3\)\), the input has width 4: "
                                         r"give an input of shape \(8, 5\) \(from the command, --features 5"):
        check_layer(Dense(), (8, 4))
    assert check_layer(Dense(), (8, 5)).ok          # the right width passes: nothing else was wrong


def test_a_width_attribute_is_named_even_when_the_layer_raises_its_own_message():
    with pytest.raises(ValueError, match=r"bad input; the layer expects width 6 \(input_size = 6\), the input has "
                                         r"width 3"):
        check_layer(Sized(), (8, 3))


def test_an_index_out_of_range_is_not_taken_for_a_width():
    with pytest.raises(IndexError) as info:
        check_layer(Lookup(), np.array([[1, 12]]))
    assert "expects width" not in str(info.value)


def test_a_layer_without_backward_is_told_what_it_lacks_and_what_it_has():
    with pytest.raises(TypeError, match=r"ForwardOnly has no backward\(\): a layer needs forward\(input_tensor\) "
                                        r"and backward\(error_tensor\).*it has backward_pass: rename it"):
        check_layer(ForwardOnly(), (4, 3))


def test_a_class_is_refused_with_the_instance_to_pass():
    from core import ReLU

    with pytest.raises(TypeError, match=r"ReLU is a class: pass an instance \(ReLU\(\.\.\.\)\)"):
        check_layer(ReLU, (4, 3))
