"""Layers as users write them next, outside ``core``: composites with sub-layers, a 2-D convolution, a
phase-dependent layer, functional pairs. Correct unless the name says otherwise."""
from __future__ import annotations

import numpy as np

from core import FullyConnected, ReLU
from tests.broken_layers import MissingBiasGradient


class TwoLayerPerceptron:
    """FC -> ReLU -> FC held in attributes; ``bug=True`` puts a wrong bias gradient in the output layer."""

    def __init__(self, bug: bool = False):
        self.hidden = FullyConnected(4, 5, 0)
        self.activation = ReLU()
        self.out = (MissingBiasGradient if bug else FullyConnected)(5, 3, 1)
        self.alias = self.hidden              # a second name for the same sub-layer: checked once

    def forward(self, input_tensor):
        return self.out.forward(self.activation.forward(self.hidden.forward(input_tensor)))

    def backward(self, error_tensor):
        return self.hidden.backward(self.activation.backward(self.out.backward(error_tensor)))


class Sequential:
    """Layers in a list, applied in order."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, input_tensor):
        for layer in self.layers:
            input_tensor = layer.forward(input_tensor)
        return input_tensor

    def backward(self, error_tensor):
        for layer in reversed(self.layers):
            error_tensor = layer.backward(error_tensor)
        return error_tensor


class Conv2D:
    """'valid' 2-D cross-correlation, stride 1: (b, c, y, x) -> (b, k, y-m+1, x-n+1); weights (k, c, m, n)."""

    def __init__(self, channels: int, kernels: int, m: int, n: int, seed: int = 0, flipped_bias: bool = False):
        rng = np.random.default_rng(seed)
        self.weights = rng.standard_normal((kernels, channels, m, n)) / np.sqrt(channels * m * n)
        self.bias = rng.standard_normal(kernels)
        self.flipped_bias = flipped_bias

    def forward(self, input_tensor):
        self.input_tensor = input_tensor
        k, _, m, n = self.weights.shape
        windows = np.lib.stride_tricks.sliding_window_view(input_tensor, (m, n), axis=(2, 3))  # b c Y X m n
        return np.einsum("bcyxmn,kcmn->bkyx", windows, self.weights) + self.bias[None, :, None, None]

    def backward(self, error_tensor):
        x, w = self.input_tensor, self.weights
        _, _, m, n = w.shape
        windows = np.lib.stride_tricks.sliding_window_view(x, (m, n), axis=(2, 3))
        self.gradient_weights = np.einsum("bcyxmn,bkyx->kcmn", windows, error_tensor)
        self.gradient_bias = error_tensor.sum(axis=(0, 2, 3)) * (-1 if self.flipped_bias else 1)
        grad = np.zeros_like(x)
        for i in range(m):
            for j in range(n):
                grad[:, :, i:i + error_tensor.shape[2], j:j + error_tensor.shape[3]] += \
                    np.einsum("bkyx,kc->bcyx", error_tensor, w[:, :, i, j])
        return grad


class PhaseDropout:
    """Inverted dropout with the course API's ``testing_phase`` (identity when True)."""

    def __init__(self, probability: float = 0.5):
        self.probability, self.testing_phase = probability, False

    def forward(self, input_tensor):
        if self.testing_phase:
            self.mask = np.ones(input_tensor.shape, dtype=bool)
            return input_tensor.copy()
        self.mask = np.random.random(input_tensor.shape) < self.probability
        return input_tensor * self.mask / self.probability

    def backward(self, error_tensor):
        return error_tensor * self.mask if self.testing_phase else error_tensor * self.mask / self.probability


def affine_forward(x, w, b):
    """(out, cache) for out = x @ w + b, as in the functional style of numpy layers."""
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def affine_backward_wrong_db(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, dw, dout.mean(axis=0)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    return dout * (1 - cache ** 2)
