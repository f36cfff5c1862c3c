"""L2 weight regularizer."""
from __future__ import annotations

import numpy as np

from core._optimizer import check_rate

__all__ = ["L2Regularizer", "L2_Regularizer"]


class L2Regularizer:
    """``norm(w) = alpha * sum w^2``; ``calculate_gradient(w) = alpha * w`` (as in the exercise: the gradient of
    ``alpha/2 * sum w^2``; the property tests check it against ``norm`` with that factor 2 stated)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = check_rate("L2Regularizer", "alpha", alpha)

    def calculate_gradient(self, weights: np.ndarray) -> np.ndarray:
        return self.alpha * weights

    def norm(self, weights: np.ndarray) -> float:
        return float(self.alpha * np.sum(np.square(weights)))

    def __repr__(self) -> str:
        return f"L2Regularizer({self.alpha})"


L2_Regularizer = L2Regularizer      # the exercise's name
