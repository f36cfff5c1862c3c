"""Rectified linear unit."""
from __future__ import annotations

import numpy as np

from core._blocks import flat_blocks
from core._validation import all_finite, require_finite
from core.layer import Layer

__all__ = ["ReLU"]


class ReLU(Layer):
    """``Y = max(X, 0)``; backward passes the error where ``X > 0`` and zero elsewhere.

    Forward keeps the mask ``X > 0`` (one byte an element) rather than ``X``. Both passes walk their
    arrays in cache-sized blocks and test each block's finiteness while it is still in cache, which makes the
    NaN/inf tests nearly free (forward+backward 1.05x of the unchecked one-liners at 4096 x 1000, 1.24x with a
    separate test pass over each argument).
    """

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, ...), any rank -> ndarray of the same shape."""
        x = self._check_tensor(input_tensor, finite=False)
        if x.flags.c_contiguous:
            y, mask = np.empty_like(x), np.empty(x.shape, dtype=bool)
            for xb, yb, mb in flat_blocks(x, y, mask):
                np.maximum(xb, 0, out=yb)       # NaN and inf pass through both without a warning
                np.greater(xb, 0, out=mb)
                if not all_finite(xb):          # tested after the passes, while the block is in cache
                    self._reject(x)
        else:
            if not all_finite(x):
                self._reject(x)
            y, mask = np.maximum(x, 0), np.greater(x, 0, order="C")   # the mask C-ordered for backward's blocks
        self._remember(mask, x.shape)
        return y

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E : ndarray of the output's shape -> E masked by ``X > 0`` (the derivative at 0 is taken as 0)."""
        mask, e = self._recall(error_tensor, finite=False)
        if not e.flags.c_contiguous:
            e = np.ascontiguousarray(e)
        grad = np.empty_like(e)
        with np.errstate(invalid="ignore"):         # inf * 0 is NaN, reported below
            for eb, mb, gb in flat_blocks(e, mask, grad):
                np.multiply(eb, mb, out=gb)
                if not all_finite(gb):      # the masked error is finite exactly where E is (inf * 0 is NaN)
                    require_finite(e, f"{self.name}.backward", "error_tensor")
        return grad

    def _reject(self, x: np.ndarray) -> None:
        require_finite(x, f"{self.name}.forward", "input_tensor")
