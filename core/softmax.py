"""Row-wise softmax."""
from __future__ import annotations

import numpy as np

from core.layer import Layer

__all__ = ["SoftMax"]


class SoftMax(Layer):
    """``Y[i] = exp(X[i] - max X[i]) / sum exp(X[i] - max X[i])``, stable for any finite logits."""

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, classes) -> probabilities of the same shape, rows sum to 1."""
        x = self._check_input(input_tensor)
        y = x - x.max(axis=1, keepdims=True)   # each row's own max: the largest exponent is exp(0) = 1
        np.exp(y, out=y)
        y /= y.sum(axis=1, keepdims=True)
        self._remember(y, y.shape)
        return y

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E : ndarray of shape (batch, classes) -> J^T E per row, J = diag(y) - y y^T.

        (diag(y) - y y^T) e = y * (e - <e, y>), vectorised over the batch.
        """
        y, e = self._recall(error_tensor)
        grad = e - np.einsum("ij,ij->i", e, y)[:, None]
        grad *= y
        return grad
