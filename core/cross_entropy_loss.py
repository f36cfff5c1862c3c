"""Cross-entropy loss on probabilities (the output of SoftMax)."""
from __future__ import annotations

import numpy as np

from core._validation import as_batch, check_shape

__all__ = ["CrossEntropyLoss"]

# Python float (not np.float64) so float32 predictions stay float32 under NumPy's promotion rules.
EPS = float(np.finfo(float).eps)


class CrossEntropyLoss:
    """``L = sum_batch sum_classes -y * log(p + eps)``, ``eps = finfo(float).eps`` so ``p = 0`` stays finite."""

    trainable = False

    def __init__(self) -> None:
        self._prediction: np.ndarray | None = None

    def forward(self, prediction_tensor: np.ndarray, label_tensor: np.ndarray) -> float:
        """P, Y : ndarray of shape (batch, classes) -> the loss summed over the batch (a float)."""
        p = as_batch(prediction_tensor, "CrossEntropyLoss.forward", "prediction_tensor")
        y = as_batch(label_tensor, "CrossEntropyLoss.forward", "label_tensor")
        check_shape(y, p.shape, "CrossEntropyLoss.forward", "label_tensor", "prediction_tensor")
        if p.min() < 0:
            index = tuple(int(i) for i in np.unravel_index(p.argmin(), p.shape))
            raise ValueError(f"CrossEntropyLoss.forward: prediction_tensor must be probabilities >= 0, "
                             f"got {p[index]} at index {index}")
        self._prediction = p
        return float(-np.sum(y * np.log(p + EPS)))

    def backward(self, label_tensor: np.ndarray) -> np.ndarray:
        """Y : ndarray of shape (batch, classes) -> dL/dP = -y / (p + eps), of the same shape."""
        if self._prediction is None:
            raise RuntimeError("CrossEntropyLoss.backward called before forward: "
                               "call forward(prediction_tensor, label_tensor) first")
        y = as_batch(label_tensor, "CrossEntropyLoss.backward", "label_tensor")
        check_shape(y, self._prediction.shape, "CrossEntropyLoss.backward", "label_tensor",
                    "the last prediction_tensor")
        return -y / (self._prediction + EPS)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
