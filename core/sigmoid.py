"""Logistic sigmoid."""
from __future__ import annotations

import numpy as np

from core.layer import Layer

__all__ = ["Sigmoid"]


class Sigmoid(Layer):
    """``Y = 1 / (1 + exp(-X))`` elementwise, on inputs of any rank; backward uses the stored output."""

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, ...) -> ndarray of the same shape, in [0, 1].

        exp is only taken of -|x|, so no input overflows: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below.
        """
        x = self._check_tensor(input_tensor)
        z = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1.0, z) / (1.0 + z)
        self._remember(y, y.shape)
        return y.astype(x.dtype, copy=False)

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E -> E * Y * (1 - Y): d sigma(x)/dx = sigma(x) (1 - sigma(x))."""
        y, e = self._recall(error_tensor)
        return e * y * (1.0 - y)
