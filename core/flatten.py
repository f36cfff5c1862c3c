"""Flatten every axis but the batch."""
from __future__ import annotations

import numpy as np

from core.layer import Layer

__all__ = ["Flatten"]


class Flatten(Layer):
    """``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``; backward restores the shape."""

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        x = self._check_tensor(input_tensor)
        y = x.reshape(len(x), -1)
        self._remember(x.shape, y.shape)
        return y.copy() if np.shares_memory(x, y) else y     # never alias the caller's array

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        shape, e = self._recall(error_tensor)
        return e.reshape(shape).copy()
