"""Cross-entropy loss on probabilities (the output of SoftMax)."""
from __future__ import annotations

import math

import numpy as np

from core._validation import all_finite, as_batch, check_shape, dot_product, require_finite

__all__ = ["CrossEntropyLoss"]

# Python float (not np.float64) so float32 predictions stay float32 under NumPy's promotion rules.
EPS = float(np.finfo(float).eps)


class CrossEntropyLoss:
    """``L = sum_batch sum_classes -y * log(p + eps)``, ``eps = finfo(float).eps`` so ``p = 0`` stays finite.

    Bad input is found without a pass of its own over either argument (the checks cost about 8 % of a
    forward+backward at 4096 x 1000): ``min(P) >= 0`` is the one extra reduction, and it is false for a NaN
    as well as for a negative or ``-inf`` entry. The loss itself then stands for the finiteness of both
    arguments: with ``P`` in ``[0, inf]``, any NaN or inf in ``P`` or ``Y`` makes a term ``y * log(p + eps)``
    NaN or inf (``inf * 0`` is NaN), so a finite loss proves both finite. Backward's ``-y / (p + eps)``
    divides by numbers in ``[eps, max]``: it is finite exactly where ``y`` is, so the result stands for ``Y``.
    Whenever a sum is not finite the arguments are tested element by element for the message.
    """

    trainable = False

    def __init__(self) -> None:
        self._prediction: np.ndarray | None = None

    def forward(self, prediction_tensor: np.ndarray, label_tensor: np.ndarray) -> float:
        """P, Y : ndarray of shape (batch, classes) -> the loss summed over the batch (a float)."""
        owner = "CrossEntropyLoss.forward"
        p = as_batch(prediction_tensor, owner, "prediction_tensor", finite=False)
        y = as_batch(label_tensor, owner, "label_tensor", finite=False)
        check_shape(y, p.shape, owner, "label_tensor", "prediction_tensor")
        if not np.minimum.reduce(p, axis=None) >= 0:        # NaN compares false too
            require_finite(p, owner, "prediction_tensor")
            index = tuple(int(i) for i in np.unravel_index(p.argmin(), p.shape))
            raise ValueError(f"{owner}: prediction_tensor must be probabilities >= 0, got {p[index]} at index {index}")
        log_p = p + EPS
        np.log(log_p, out=log_p)
        loss = -dot_product(y, log_p)
        if not math.isfinite(loss):
            require_finite(p, owner, "prediction_tensor")
            require_finite(y, owner, "label_tensor")
            raise ValueError(f"{owner}: the loss overflowed to {loss} although both arguments are finite "
                             f"(max |label| {np.abs(y).max():.3g})")
        self._prediction = p
        return loss

    def backward(self, label_tensor: np.ndarray) -> np.ndarray:
        """Y : ndarray of shape (batch, classes) -> dL/dP = -y / (p + eps), of the same shape."""
        owner = "CrossEntropyLoss.backward"
        if self._prediction is None:
            raise RuntimeError(f"{owner} called before forward: call forward(prediction_tensor, label_tensor) first")
        y = as_batch(label_tensor, owner, "label_tensor", finite=False)
        check_shape(y, self._prediction.shape, owner, "label_tensor", "the last prediction_tensor")
        grad = self._prediction + EPS
        if grad.dtype != np.result_type(y, grad):           # float64 labels with float32 predictions: promote
            grad = grad.astype(np.result_type(y, grad))
        with np.errstate(over="ignore"):                      # an overflow is reported below
            np.divide(y, grad, out=grad)
        np.negative(grad, out=grad)
        if not all_finite(grad):
            require_finite(y, owner, "label_tensor")
            raise ValueError(f"{owner}: -label / (prediction + eps) overflowed to inf although the label is finite "
                             f"(max |label| {np.abs(y).max():.3g})")
        return grad

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
