"""Hyperbolic tangent."""
from __future__ import annotations

import numpy as np

from core.layer import Layer

__all__ = ["TanH"]


class TanH(Layer):
    """``Y = tanh(X)`` elementwise, on inputs of any rank; backward uses the stored output."""

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, ...) -> ndarray of the same shape, in (-1, 1)."""
        y = np.tanh(self._check_tensor(input_tensor))
        self._remember(y, y.shape)
        return y

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E -> E * (1 - Y^2): d tanh(x)/dx = 1 - tanh(x)^2."""
        y, e = self._recall(error_tensor)
        return e * (1.0 - y * y)
