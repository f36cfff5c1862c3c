"""Plain stochastic gradient descent."""
from __future__ import annotations

from core._optimizer import Optimizer

__all__ = ["Sgd"]


class Sgd(Optimizer):
    """``w <- w - learning_rate * g``.

    Parameters
    ----------
    learning_rate : float
        Step size; a finite positive number.
    """

    def _step(self, weight_tensor, gradient_tensor):
        return weight_tensor - self.learning_rate * gradient_tensor

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.learning_rate})"
