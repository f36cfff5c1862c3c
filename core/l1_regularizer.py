"""L1 weight regularizer."""
from __future__ import annotations

import numpy as np

from core._optimizer import check_rate

__all__ = ["L1Regularizer", "L1_Regularizer"]


class L1Regularizer:
    """``norm(w) = alpha * sum |w|``; ``calculate_gradient(w) = alpha * sign(w)`` (0 at 0, a subgradient)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = check_rate("L1Regularizer", "alpha", alpha)

    def calculate_gradient(self, weights: np.ndarray) -> np.ndarray:
        return self.alpha * np.sign(weights)

    def norm(self, weights: np.ndarray) -> float:
        return float(self.alpha * np.abs(weights).sum())

    def __repr__(self) -> str:
        return f"L1Regularizer({self.alpha})"


L1_Regularizer = L1Regularizer      # the exercise's name
