"""2-D max pooling, "valid" (no padding)."""
from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.layer import Layer

__all__ = ["Pooling"]


def _pair(value: object, what: str) -> tuple[int, int]:
    items = (value, value) if isinstance(value, (int, np.integer)) else tuple(value) \
        if isinstance(value, (tuple, list)) else ()
    if len(items) == 1:
        items = items * 2
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in items):
        raise ValueError(f"Pooling: {what} must be one or two positive ints, got {value!r}")
    return int(items[0]), int(items[1])


class Pooling(Layer):
    """Max over ``pooling_shape`` windows taken every ``stride_shape`` on ``(batch, c, y, x)``.

    The output is ``(batch, c, (y - py) // sy + 1, (x - px) // sx + 1)``. Backward sends each window's error
    to the element that was its max (the first one, for a tie); where windows overlap, the errors add up.
    """

    def __init__(self, stride_shape: int | tuple[int, int], pooling_shape: int | tuple[int, int]) -> None:
        super().__init__()
        self.stride_shape = _pair(stride_shape, "stride_shape")
        self.pooling_shape = _pair(pooling_shape, "pooling_shape")

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, c, y, x) -> the window maxima."""
        x = self._check_tensor(input_tensor, (4,))
        (py, px), (sy, sx) = self.pooling_shape, self.stride_shape
        if x.shape[2] < py or x.shape[3] < px:
            raise ValueError(f"{self.name}.forward: input_tensor's spatial shape {x.shape[2:]} is smaller than the "
                             f"pooling window {self.pooling_shape}")
        windows = sliding_window_view(x, (py, px), axis=(2, 3))[:, :, ::sy, ::sx]     # (b, c, Y, X, py, px)
        flat = windows.reshape(*windows.shape[:4], py * px)
        winner = flat.argmax(axis=-1)
        self._remember((winner, x.shape), winner.shape)
        return np.take_along_axis(flat, winner[..., None], axis=-1)[..., 0]

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E : ndarray of the output's shape -> dL/dX, E routed to each window's max."""
        (winner, shape), e = self._recall(error_tensor)
        (py, px), (sy, sx) = self.pooling_shape, self.stride_shape
        rows, cols = winner.shape[2:]
        grad = np.zeros(shape, dtype=e.dtype)
        for i, j in itertools.product(range(py), range(px)):      # a loop over window offsets only
            grad[:, :, i:i + sy * (rows - 1) + 1:sy, j:j + sx * (cols - 1) + 1:sx] += e * (winner == i * px + j)
        return grad

    def __repr__(self) -> str:
        return f"Pooling({self.stride_shape}, {self.pooling_shape})"
