"""Rectified linear unit."""
from __future__ import annotations

import numpy as np

from core.layer import Layer

__all__ = ["ReLU"]


class ReLU(Layer):
    """``Y = max(X, 0)``; backward passes the error where ``X > 0`` and zero elsewhere."""

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, ...), any rank -> ndarray of the same shape."""
        x = self._check_tensor(input_tensor)
        self._remember(x, x.shape)
        return np.maximum(x, 0)

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E : ndarray of the output's shape -> E masked by ``X > 0`` (the derivative at 0 is taken as 0)."""
        x, e = self._recall(error_tensor)
        return e * (x > 0)
