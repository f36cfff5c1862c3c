"""A zoo of wrong forwards with exact backwards: each passes a gradient check (its backward is right for its own
forward) and differs from its reference (core's layer); with ``wrong=False`` each is its correct twin.

Written from scratch (not by calling core), so that a bug in core would not hide a bug here.
"""
from __future__ import annotations

import numpy as np

import core

__all__ = ["FlippedConv1D", "PaddedConv1D", "EdgePaddedConv1D", "LastWindowPooling", "RowSoftMax", "VarianceBatchNorm",
           "ZOO"]


def _windows(padded: np.ndarray, k: int) -> np.ndarray:
    """(b, c, n) -> (b, n - k + 1, c * k): every window of length k, channels first within a window."""
    view = np.lib.stride_tricks.sliding_window_view(padded, k, axis=2)        # (b, c, positions, k)
    return np.moveaxis(view, 2, 1).reshape(padded.shape[0], view.shape[2], -1)


class _Conv1D:
    """``y[b, o, t] = sum_{c, j} W[o, c, j] xpad[b, c, t + j] + bias[o]``, stride 1, zero "same" padding with
    ``before`` zeros in front (core's: (k - 1) // 2)."""

    def __init__(self, channels: int, kernel: int, kernels: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.weights = rng.standard_normal((kernels, channels, kernel))
        self.bias = rng.standard_normal(kernels)
        self.k = kernel

    def _pads(self) -> tuple[int, int]:
        return (self.k - 1) // 2, self.k // 2

    def _kernel(self) -> np.ndarray:
        return self.weights

    def _padded(self, x: np.ndarray) -> np.ndarray:
        return np.pad(x, [(0, 0), (0, 0), self._pads()])

    def _unpadded(self, padded: np.ndarray) -> np.ndarray:
        """The gradient of the padded input as the input's: the padding's share dropped."""
        before, n = self._pads()[0], self.shape[2]
        return padded[:, :, before:before + n]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.shape = x.shape
        self.cols = _windows(self._padded(x), self.k)                                 # (b, n, c*k)
        kernel = self._kernel()
        w = kernel.reshape(len(kernel), -1)                                           # (o, c*k)
        return np.moveaxis(self.cols @ w.T, 2, 1) + self.bias[None, :, None]

    def backward(self, e: np.ndarray) -> np.ndarray:
        # y = cols @ w.T: dW = sum over (b, t) of e (x) cols; dcols = e @ w, added back onto the window entries
        et = np.moveaxis(e, 1, 2)                                                     # (b, n, o)
        kernel = self._kernel()
        w = kernel.reshape(len(kernel), -1)
        grad = np.einsum("bto,btk->ok", et, self.cols).reshape(kernel.shape)
        self.gradient_weights = self._unkernel(grad)
        self.gradient_bias = e.sum(axis=(0, 2))
        dcols = (et @ w).reshape(*et.shape[:2], self.shape[1], self.k)              # (b, n, c, k)
        b, c, n = self.shape
        padded = np.zeros((b, c, n + self.k - 1))
        for j in range(self.k):
            padded[:, :, j:j + n] += np.moveaxis(dcols[:, :, :, j], 1, 2)
        return self._unpadded(padded)

    def _unkernel(self, grad: np.ndarray) -> np.ndarray:
        return grad


class FlippedConv1D(_Conv1D):
    """A convolution, not a cross-correlation: the kernel reversed in forward (and its gradient reversed back)."""

    def __init__(self, channels: int, kernel: int, kernels: int, seed: int = 0, wrong: bool = True) -> None:
        super().__init__(channels, kernel, kernels, seed)
        self.wrong = wrong

    def _kernel(self) -> np.ndarray:
        return self.weights[..., ::-1] if self.wrong else self.weights

    def _unkernel(self, grad: np.ndarray) -> np.ndarray:
        return grad[..., ::-1] if self.wrong else grad


class PaddedConv1D(_Conv1D):
    """"Same" padding with the extra zero of an even kernel in front (k // 2 before) instead of behind: the same
    for odd kernels."""

    def __init__(self, channels: int, kernel: int, kernels: int, seed: int = 0, wrong: bool = True) -> None:
        super().__init__(channels, kernel, kernels, seed)
        self.wrong = wrong

    def _pads(self) -> tuple[int, int]:
        return (self.k // 2, (self.k - 1) // 2) if self.wrong else super()._pads()


class EdgePaddedConv1D(_Conv1D):
    """"Same" padding whose zeros after the input are copies of its last value (np.pad's "edge" at the end):
    only the last output positions differ, for kernels of 2 and more."""

    def __init__(self, channels: int, kernel: int, kernels: int, seed: int = 0, wrong: bool = True) -> None:
        super().__init__(channels, kernel, kernels, seed)
        self.wrong = wrong

    def _padded(self, x: np.ndarray) -> np.ndarray:
        if not self.wrong:
            return super()._padded(x)
        before, after = self._pads()
        return np.concatenate([np.zeros((*x.shape[:2], before)), x, np.repeat(x[:, :, -1:], after, axis=2)], axis=2)

    def _unpadded(self, padded: np.ndarray) -> np.ndarray:
        grad = super()._unpadded(padded).copy()
        if self.wrong:      # the copies of the last value send their gradient to it
            grad[:, :, -1] += padded[:, :, self._pads()[0] + self.shape[2]:].sum(axis=2)
        return grad


class LastWindowPooling:
    """Max pooling of (b, c, y, x) over (p, p) windows every s, windows started at ``range(0, n - p, s)``:
    the last window is dropped whenever ``(n - p) % s == 0`` (``range(0, n - p + 1, s)`` is right)."""

    def __init__(self, stride: int, pool: int, wrong: bool = True) -> None:
        self.s, self.p, self.wrong = stride, pool, wrong

    def _starts(self, n: int) -> range:
        return range(0, n - self.p + (0 if self.wrong else 1), self.s)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.shape = x.shape
        rows, cols = self._starts(x.shape[2]), self._starts(x.shape[3])
        out = np.empty((*x.shape[:2], len(rows), len(cols)))
        self.winners = {}
        for a, i in enumerate(rows):
            for b, j in enumerate(cols):
                window = x[:, :, i:i + self.p, j:j + self.p].reshape(*x.shape[:2], -1)
                k = window.argmax(axis=-1)
                self.winners[a, b] = (i, j, k)
                out[:, :, a, b] = np.take_along_axis(window, k[..., None], -1)[..., 0]
        return out

    def backward(self, e: np.ndarray) -> np.ndarray:
        grad = np.zeros(self.shape)
        bi, ci = np.indices(self.shape[:2])
        for (a, b), (i, j, k) in self.winners.items():
            np.add.at(grad, (bi, ci, i + k // self.p, j + k % self.p), e[:, :, a, b])
        return grad


class RowSoftMax:
    """Softmax over the batch axis (0) instead of each row's classes (1), with its exact backward."""

    def __init__(self, wrong: bool = True) -> None:
        self.axis = 0 if wrong else 1

    def forward(self, x: np.ndarray) -> np.ndarray:
        z = np.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = z / z.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, e: np.ndarray) -> np.ndarray:
        # J^T e along the axis: y * (e - <e, y>)
        return self.y * (e - (e * self.y).sum(axis=self.axis, keepdims=True))


class VarianceBatchNorm:
    """Batch normalisation of (b, c) with the unbiased variance (divided by n - 1) where core and torch
    normalise by the biased one (divided by n); ``eps`` as core's."""

    def __init__(self, channels: int, wrong: bool = True) -> None:
        self.weights, self.bias = np.ones(channels), np.zeros(channels)
        self.ddof = 1 if wrong else 0
        self.testing_phase = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.centred = x - x.mean(axis=0)
        self.m = len(x) - self.ddof
        self.v = (self.centred ** 2).sum(axis=0) / self.m + core.batch_normalization.EPS
        self.x_hat = self.centred / np.sqrt(self.v)
        return self.weights * self.x_hat + self.bias

    def backward(self, e: np.ndarray) -> np.ndarray:
        # g = dL/dx_hat; through the mean and v = S / m + eps, dv/dx_i = 2 (x_i - mean) / m
        self.gradient_weights, self.gradient_bias = (e * self.x_hat).sum(axis=0), e.sum(axis=0)
        g = e * self.weights
        return (g - g.mean(axis=0) - self.centred * (g * self.centred).sum(axis=0) / (self.m * self.v)) / \
            np.sqrt(self.v)


# name: (wrong layer factory, its correct twin, core's reference, input shape)
ZOO = {
    "a convolution's kernel flipped": (lambda: FlippedConv1D(2, 3, 3), lambda: FlippedConv1D(2, 3, 3, wrong=False),
                                       lambda: core.Conv(1, (2, 3), 3), (2, 2, 7)),
    "same padding off by one for an even kernel": (lambda: PaddedConv1D(2, 4, 3),
                                                   lambda: PaddedConv1D(2, 4, 3, wrong=False),
                                                   lambda: core.Conv(1, (2, 4), 3), (2, 2, 7)),
    "the end padded with the last value, not zeros": (lambda: EdgePaddedConv1D(2, 3, 3),
                                                      lambda: EdgePaddedConv1D(2, 3, 3, wrong=False),
                                                      lambda: core.Conv(1, (2, 3), 3), (2, 2, 7)),
    "the last pooling window dropped": (lambda: LastWindowPooling(2, 2), lambda: LastWindowPooling(2, 2, wrong=False),
                                        lambda: core.Pooling(2, 2), (2, 2, 6, 6)),
    "softmax over the batch axis": (lambda: RowSoftMax(), lambda: RowSoftMax(wrong=False), core.SoftMax, (4, 5)),
    "batch norm with the unbiased variance": (lambda: VarianceBatchNorm(3), lambda: VarianceBatchNorm(3, wrong=False),
                                              lambda: core.BatchNormalization(3), (6, 3)),
}
