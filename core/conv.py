"""Convolution (cross-correlation) over 1 or 2 spatial axes, zero "same" padding, strided."""
from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core._initializer import random_source
from core.layer import BiasedLayer

__all__ = ["Conv"]


def _positive_ints(value: object, what: str) -> tuple[int, ...]:
    items = (value,) if isinstance(value, (int, np.integer)) else tuple(value) if isinstance(value, (tuple, list)) \
        else None
    if items is None or not items or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                                         for v in items):
        raise ValueError(f"Conv: {what} must be positive ints, got {value!r}")
    return tuple(int(v) for v in items)


class Conv(BiasedLayer):
    """``Y[b, k] = sum_c W[k, c] (*) X[b, c] + bias[k]``, a cross-correlation (no kernel flip).

    Parameters
    ----------
    stride_shape : int, or tuple or list of one or two ints
        A single int (or a one-element tuple) applies to every spatial axis.
    convolution_shape : tuple of int
        ``(c, m)`` for 1-D inputs ``(b, c, y)``, ``(c, m, n)`` for 2-D inputs ``(b, c, y, x)``.
    num_kernels : int
    rng : numpy.random.Generator or int or None
        Source of the initial weights and bias, uniform on [0, 1) as in the exercise (``initialize`` sets
        better ones). None: numpy's global random state.

    Padding is zero "same" padding, ``(k-1)//2`` before and ``k//2`` after on each axis (torch's
    ``padding="same"``, TensorFlow's "SAME"), then the output is subsampled by the stride, so each output
    size is ``ceil(in / stride)``.

    Attributes
    ----------
    weights : ndarray of shape (num_kernels, *convolution_shape)
    bias : ndarray of shape (num_kernels,)
    gradient_weights, gradient_bias : ndarray, set by ``backward``
    optimizer : object with ``calculate_update(w, g)`` or None; the bias gets its own deep copy.
    """

    def __init__(self, stride_shape: int | tuple[int, ...] | list[int], convolution_shape: tuple[int, ...],
                 num_kernels: int, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        shape = _positive_ints(convolution_shape, "convolution_shape")
        if len(shape) not in (2, 3):
            raise ValueError(f"Conv: convolution_shape must be (c, m) or (c, m, n), got {convolution_shape!r}")
        self.convolution_shape = shape
        (self.num_kernels,) = _positive_ints(num_kernels, "num_kernels")
        spatial = len(shape) - 1
        stride = _positive_ints(stride_shape, "stride_shape")
        if len(stride) == 1:
            stride = stride * spatial
        if len(stride) != spatial:
            raise ValueError(f"Conv: stride_shape must have 1 or {spatial} entries for a {spatial}-D convolution, "
                             f"got {stride_shape!r}")
        self.stride_shape = stride
        rng = random_source(rng)
        self._weights = rng.uniform(0.0, 1.0, (self.num_kernels, *shape))
        self._bias = rng.uniform(0.0, 1.0, self.num_kernels)

    # ------------------------------------------------------------------------------------- parameters
    def initialize(self, weights_initializer, bias_initializer) -> None:
        """fan_in = c*m*n (one kernel's inputs), fan_out = num_kernels*m*n."""
        kernel = self.convolution_shape[1:]
        fan_in, fan_out = int(np.prod(self.convolution_shape)), self.num_kernels * int(np.prod(kernel))
        self._weights = np.asarray(weights_initializer.initialize(self._weights.shape, fan_in, fan_out), float)
        self._bias = np.asarray(bias_initializer.initialize(self._bias.shape, fan_in, fan_out), float)

    # ------------------------------------------------------------------------------------- the maths
    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weights": (self.num_kernels, *self.convolution_shape), "bias": (self.num_kernels,)}

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, c, y) or (batch, c, y, x) -> (batch, num_kernels, ceil(y/sy)[, ...])."""
        spatial = len(self.convolution_shape) - 1
        x = self._check_tensor(input_tensor, (spatial + 2,))
        self._check_parameters()
        if x.shape[1] != self.convolution_shape[0]:
            raise ValueError(f"{self.name}.forward: input_tensor must have {self.convolution_shape[0]} channels "
                             f"(shape (batch, {self.convolution_shape[0]}, ...)), got shape {x.shape}")
        cols, out = self._im2col(x)
        y = cols @ self._weights.reshape(self.num_kernels, -1).T       # (batch * positions, kernels)
        y += self._bias
        y = np.moveaxis(y.reshape(len(x), *out, self.num_kernels), -1, 1)
        self._remember((cols, x.shape, out), y.shape)
        return y

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E : ndarray of the output's shape -> dL/dX; sets gradient_weights and gradient_bias.

        With C the im2col matrix of forward and E as (positions, kernels): dW = E^T C, db = sum E,
        dX = col2im(E W) (each column entry added back to the input element it was copied from).
        """
        (cols, shape, out), e = self._recall(error_tensor)
        e_flat = np.moveaxis(e, 1, -1).reshape(-1, self.num_kernels)
        w_flat = self._weights.reshape(self.num_kernels, -1)
        grad_input = self._col2im(e_flat @ w_flat, shape, out)
        self._gradient_weights = (e_flat.T @ cols).reshape(self._weights.shape)
        self._gradient_bias = e_flat.sum(axis=0)
        if self._optimizer is not None:
            self._weights = self._optimizer.calculate_update(self._weights, self._gradient_weights)
            self._bias = self._bias_optimizer.calculate_update(self._bias, self._gradient_bias)
        return grad_input

    def _padding(self) -> list[tuple[int, int]]:
        return [((k - 1) // 2, k // 2) for k in self.convolution_shape[1:]]

    def _im2col(self, x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        """Rows of the (padded, strided) windows: (batch * output positions, c * kernel size)."""
        kernel, spatial = self.convolution_shape[1:], len(self.convolution_shape) - 1
        padded = np.pad(x, [(0, 0), (0, 0), *self._padding()])
        axes = tuple(range(2, 2 + spatial))
        windows = sliding_window_view(padded, kernel, axis=axes)          # (b, c, *in, *kernel)
        windows = windows[(slice(None), slice(None), *(slice(None, None, s) for s in self.stride_shape))]
        out = windows.shape[2:2 + spatial]
        order = (0, *axes, 1, *range(2 + spatial, 2 + 2 * spatial))        # (b, *out, c, *kernel)
        return windows.transpose(order).reshape(len(x) * int(np.prod(out)), -1), out

    def _col2im(self, grad_cols: np.ndarray, shape: tuple[int, ...], out: tuple[int, ...]) -> np.ndarray:
        """Add every window entry's gradient back onto the input element it came from; crop the padding."""
        kernel, spatial = self.convolution_shape[1:], len(self.convolution_shape) - 1
        pads = self._padding()
        grad = grad_cols.reshape(shape[0], *out, shape[1], *kernel)
        padded = np.zeros((shape[0], shape[1], *(n + b + a for n, (b, a) in zip(shape[2:], pads))),
                          dtype=grad_cols.dtype)
        for offset in itertools.product(*(range(k) for k in kernel)):     # a loop over kernel offsets only
            target = (slice(None), slice(None),
                      *(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, self.stride_shape, out)))
            padded[target] += np.moveaxis(grad[(slice(None),) * (1 + spatial) + (slice(None),) + offset], -1, 1)
        crop = (slice(None), slice(None), *(slice(b, b + n) for n, (b, _) in zip(shape[2:], pads)))
        return padded[crop]

    def __repr__(self) -> str:
        return f"Conv({self.stride_shape}, {self.convolution_shape}, {self.num_kernels})"
