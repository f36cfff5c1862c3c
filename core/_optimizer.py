"""What the optimizers share: argument checks, and the regularizer's weight shrinkage."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Optimizer", "check_rate"]


def check_rate(owner: str, name: str, value: object, upper: float | None = None) -> float:
    """A finite number > 0 (and < ``upper`` when given), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0 or (upper is not None and value >= upper):
        bound = f"in (0, {upper:g})" if upper is not None else "finite and > 0"
        raise ValueError(f"{owner}: {name} must be {bound}, got {value}")
    return float(value)


class Optimizer:
    """Base of the optimizers: ``calculate_update(weight_tensor, gradient_tensor)`` returns new weights.

    With a regularizer added, the weights are also shrunk by ``learning_rate * regularizer.calculate_gradient(w)``
    (taken at the weights before the update), as in the exercise.
    """

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = check_rate(type(self).__name__, "learning_rate", learning_rate)
        self.regularizer = None

    def add_regularizer(self, regularizer) -> None:
        if not callable(getattr(regularizer, "calculate_gradient", None)):
            raise TypeError(f"{type(self).__name__}.add_regularizer: expected an object with calculate_gradient(w) "
                            f"and norm(w), got {type(regularizer).__name__}")
        self.regularizer = regularizer

    def calculate_update(self, weight_tensor: np.ndarray | float,
                         gradient_tensor: np.ndarray | float) -> np.ndarray | float:
        """Return the updated weights (a new array, or a float for float inputs); the inputs are untouched.

        Parameters
        ----------
        weight_tensor : float or ndarray of any shape
        gradient_tensor : float or ndarray of the same shape
        """
        if np.shape(weight_tensor) != np.shape(gradient_tensor):
            raise ValueError(f"{type(self).__name__}.calculate_update: gradient_tensor must have the shape of "
                             f"weight_tensor {np.shape(weight_tensor)}, got {np.shape(gradient_tensor)}")
        updated = self._step(weight_tensor, gradient_tensor)
        if self.regularizer is not None:
            updated = updated - self.learning_rate * self.regularizer.calculate_gradient(weight_tensor)
        return updated

    def _step(self, weight_tensor, gradient_tensor):
        raise NotImplementedError  # abstract
