"""Plain stochastic gradient descent."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Sgd"]


class Sgd:
    """``w <- w - learning_rate * g``.

    Parameters
    ----------
    learning_rate : float
        Step size; a finite positive number.
    """

    def __init__(self, learning_rate: float) -> None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.floating, np.integer)):
            raise TypeError(f"Sgd: learning_rate must be a number, got {type(learning_rate).__name__}")
        if not math.isfinite(learning_rate) or learning_rate <= 0:
            raise ValueError(f"Sgd: learning_rate must be finite and > 0, got {learning_rate}")
        self.learning_rate = float(learning_rate)

    def calculate_update(self, weight_tensor: np.ndarray | float,
                         gradient_tensor: np.ndarray | float) -> np.ndarray | float:
        """Return the updated weights (a new array, or a float for float inputs); the inputs are untouched.

        Parameters
        ----------
        weight_tensor : float or ndarray of any shape
        gradient_tensor : float or ndarray of the same shape
        """
        if np.shape(weight_tensor) != np.shape(gradient_tensor):
            raise ValueError(
                f"Sgd.calculate_update: gradient_tensor must have the shape of weight_tensor "
                f"{np.shape(weight_tensor)}, got {np.shape(gradient_tensor)}"
            )
        return weight_tensor - self.learning_rate * gradient_tensor

    def __repr__(self) -> str:
        return f"Sgd(learning_rate={self.learning_rate})"
