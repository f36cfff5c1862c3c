"""Plain stochastic gradient descent."""
from __future__ import annotations

import numpy as np

from core._optimizer import check_rate, check_update_arguments

__all__ = ["Sgd"]


class Sgd:
    """``w <- w - learning_rate * g``.

    Parameters
    ----------
    learning_rate : float
        Step size; a finite positive number.
    """

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = check_rate("Sgd", "learning_rate", learning_rate)

    def calculate_update(self, weight_tensor: np.ndarray | float,
                         gradient_tensor: np.ndarray | float) -> np.ndarray | float:
        """Return the updated weights (a new array, or a float for float inputs); the inputs are untouched.

        Parameters
        ----------
        weight_tensor : float or ndarray of any shape
        gradient_tensor : float or ndarray of the same shape
        """
        check_update_arguments("Sgd", weight_tensor, gradient_tensor)
        return weight_tensor - self.learning_rate * gradient_tensor

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.learning_rate})"
