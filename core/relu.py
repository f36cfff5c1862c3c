"""Rectified linear unit."""
from __future__ import annotations

import numpy as np

from core._blocks import flat_blocks, zeros_block
from core._validation import all_finite, require_finite
from core.layer import Layer

__all__ = ["ReLU"]


class ReLU(Layer):
    """``Y = max(X, 0)``; backward passes the error where ``X > 0`` and zero elsewhere.

    Forward keeps the mask ``X > 0`` (one byte an element) rather than ``X``. Both passes walk their arrays in
    cache-sized blocks, whatever their size (one path: a small array is one block), and test each block's
    finiteness while it is still in cache, with numpy's own single-threaded sum; ``np.maximum`` against a block
    of zeros instead of the scalar 0 takes numpy's vectorised loop, which pays for most of the tests.
    """

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, ...), any rank -> ndarray of the same shape."""
        x = np.ascontiguousarray(self._check_tensor(input_tensor, finite=False))
        y, mask, zeros = np.empty_like(x), np.empty(x.shape, dtype=bool), zeros_block(x.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            for xb, yb, mb in flat_blocks(x, y, mask):
                np.maximum(xb, zeros[:len(xb)], out=yb)     # NaN and inf pass through without a warning
                np.greater(xb, 0, out=mb)
                if not all_finite(xb):                      # tested while the block is in cache
                    self._reject(x)
        self._remember(mask, x.shape)
        return y

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E : ndarray of the output's shape -> E masked by ``X > 0`` (the derivative at 0 is taken as 0)."""
        mask, e = self._recall(error_tensor, finite=False)
        e = np.ascontiguousarray(e)
        grad = np.empty_like(e)
        with np.errstate(over="ignore", invalid="ignore"):      # inf * 0 is NaN, reported below
            for eb, mb, gb in flat_blocks(e, mask, grad):
                np.multiply(eb, mb, out=gb)
                if not all_finite(gb):                      # finite exactly where E is (inf * 0 is NaN)
                    self._reject_error(e)
        return grad

    def _reject(self, x: np.ndarray) -> None:
        require_finite(x, f"{self.name}.forward", "input_tensor")

    def _reject_error(self, e: np.ndarray) -> None:
        require_finite(e, f"{self.name}.backward", "error_tensor")
