"""Stochastic gradient descent with momentum."""
from __future__ import annotations

import numpy as np

from core._optimizer import Optimizer, check_rate

__all__ = ["SgdWithMomentum"]


class SgdWithMomentum(Optimizer):
    """``v <- momentum_rate * v - learning_rate * g``; ``w <- w + v`` (v starts at 0).

    The velocity belongs to one tensor: a layer gives each of its tensors its own copy of the optimizer.
    """

    def __init__(self, learning_rate: float, momentum_rate: float) -> None:
        super().__init__(learning_rate)
        self.momentum_rate = check_rate("SgdWithMomentum", "momentum_rate", momentum_rate, upper=1.0)
        self.velocity: np.ndarray | float = 0.0

    def _step(self, weight_tensor, gradient_tensor):
        self.velocity = self.momentum_rate * self.velocity - self.learning_rate * gradient_tensor
        return weight_tensor + self.velocity

    def __repr__(self) -> str:
        return f"SgdWithMomentum(learning_rate={self.learning_rate}, momentum_rate={self.momentum_rate})"
