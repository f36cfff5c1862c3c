"""Deliberately broken layers (and a few correct but awkward ones) for testing the checker.

Each broken class differs from a correct ``core`` layer in one realistic mistake. ``BROKEN`` maps a name
to ``(factory, input shape, what the report must show)``.
"""
from __future__ import annotations

import numpy as np

from core import CrossEntropyLoss, FullyConnected, ReLU, SoftMax
from core.layer import Layer


class MissingBiasGradient(FullyConnected):
    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_weights[-1] = 0.0
        return grad


class BiasGradientMean(FullyConnected):
    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_weights[-1] /= len(error_tensor)
        return grad


class MeanInsteadOfSum(FullyConnected):
    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_weights /= len(error_tensor)
        return grad


class WrongTransposeInput(FullyConnected):
    """E @ W[:-1] instead of E @ W[:-1].T (only runs when input_size == output_size)."""

    def backward(self, error_tensor):
        super().backward(error_tensor)
        return np.asarray(error_tensor) @ self.weights[:-1]


class TransposedWeightGradient(FullyConnected):
    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_weights = self._gradient_weights.T.copy()
        return grad


class SignFlippedInput(FullyConnected):
    def backward(self, error_tensor):
        return -super().backward(error_tensor)


class SingleWrongElement(FullyConnected):
    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_weights[1, 0] *= 1.001
        return grad


class ScaleError1e5(FullyConnected):
    """The input gradient is off by a relative 1e-5 everywhere."""

    def backward(self, error_tensor):
        return super().backward(error_tensor) * (1 + 1e-5)


class StaleCache(FullyConnected):
    """Keeps the input of its first forward call forever."""

    def forward(self, input_tensor):
        first = self._cache
        out = super().forward(input_tensor)
        if first is not None:
            self._cache = first
        return out


class UpdatesWithoutOptimizer(FullyConnected):
    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._weights = self._weights - 0.1 * self._gradient_weights
        return grad


class AccumulatesGradient(FullyConnected):
    """gradient_weights += instead of = (right on the first backward only)."""

    def backward(self, error_tensor):
        previous = self._gradient_weights
        grad = super().backward(error_tensor)
        if previous is not None:
            self._gradient_weights = self._gradient_weights + previous
        return grad


class UnmaskedReLU(ReLU):
    def backward(self, error_tensor):
        self._recall(error_tensor)
        return np.array(error_tensor, dtype=float)


class InPlaceReLU(Layer):
    """Clips its input array in place and returns it (and caches it)."""

    def forward(self, input_tensor):
        input_tensor[input_tensor < 0] = 0.0
        self._remember(input_tensor, input_tensor.shape)
        return input_tensor

    def backward(self, error_tensor):
        y, e = self._recall(error_tensor)
        return e * (y > 0)


class AliasingIdentity(Layer):
    """Returns its input array itself, caches it, and (copy-pasted from ReLU) masks the error with it."""

    def forward(self, input_tensor):
        self._remember(input_tensor, input_tensor.shape)
        return input_tensor

    def backward(self, error_tensor):
        x, e = self._recall(error_tensor)
        return e * (x > 0)


class ErrorWritingReLU(ReLU):
    """Masks the error tensor in place."""

    def backward(self, error_tensor):
        x, _ = self._recall(error_tensor)
        error_tensor[x <= 0] = 0.0
        return error_tensor.copy()


class DiagonalSoftMax(SoftMax):
    """Only the diagonal of the Jacobian: y * (1 - y) * e."""

    def backward(self, error_tensor):
        y, e = self._recall(error_tensor)
        return y * (1 - y) * e


class GlobalMaxSoftMaxWrongBackward(SoftMax):
    """Forgets the minus sign of the outer-product term: y * (e + <e, y>)."""

    def backward(self, error_tensor):
        y, e = self._recall(error_tensor)
        return y * (e + np.sum(e * y, axis=1, keepdims=True))


class LabelBlindLoss(CrossEntropyLoss):
    """-1 / p instead of -y / p."""

    def backward(self, label_tensor):
        return -1.0 / (self._prediction + 1e-16)


class PlainDivisionLoss(CrossEntropyLoss):
    """Gradient -y * p (a typo for -y / p)."""

    def backward(self, label_tensor):
        return -np.asarray(label_tensor) * self._prediction


# ------------------------------------------------------------------------------ correct but awkward layers

class Tanh(Layer):
    def forward(self, input_tensor):
        x = self._check_input(input_tensor)
        y = np.tanh(x)
        self._remember(y, y.shape)
        return y

    def backward(self, error_tensor):
        y, e = self._recall(error_tensor)
        return e * (1 - y * y)     # d tanh = 1 - tanh^2


class RowMax(Layer):
    """Max over each row, kept as a column: ties and near-ties are kinks."""

    def forward(self, input_tensor):
        x = self._check_input(input_tensor)
        self._remember(x, (len(x), 1))
        return x.max(axis=1, keepdims=True)

    def backward(self, error_tensor):
        x, e = self._recall(error_tensor)
        grad = np.zeros_like(x)
        grad[np.arange(len(x)), x.argmax(axis=1)] = e[:, 0]
        return grad


class BatchCentering(Layer):
    """x - mean over the batch: rows are NOT independent (the checker must notice)."""

    def forward(self, input_tensor):
        x = self._check_input(input_tensor)
        self._remember(None, x.shape)
        return x - x.mean(axis=0)

    def backward(self, error_tensor):
        _, e = self._recall(error_tensor)
        return e - e.mean(axis=0)


class Float32Only(Layer):
    """Computes in float32 whatever it is given (x^2 / 2)."""

    def forward(self, input_tensor):
        x = self._check_input(input_tensor).astype(np.float32)
        self._remember(x, x.shape)
        return 0.5 * x * x

    def backward(self, error_tensor):
        x, e = self._recall(error_tensor)
        return (e * x).astype(np.float32)


def big_weights_fc(rng=None) -> FullyConnected:
    layer = FullyConnected(5, 4, rng)
    layer.weights = layer.weights * 1e3
    return layer


# name -> (factory, input shape, tensor expected to fail ('input', 'weights', 'prediction', or None when the
# failure is a hygiene problem), a fragment expected in the report text)
BROKEN = {
    "missing bias gradient": (lambda: MissingBiasGradient(4, 3), (6, 4), "weights", "bias row"),
    "bias gradient mean": (lambda: BiasGradientMean(4, 3), (6, 4), "weights", "bias row"),
    "mean instead of sum": (lambda: MeanInsteadOfSum(4, 3), (6, 4), "weights", "divided by the batch size 6"),
    "wrong transpose (input)": (lambda: WrongTransposeInput(4, 4), (6, 4), "input", "input"),
    "transposed square weight gradient": (lambda: TransposedWeightGradient(4, 5), (6, 4), "weights",
                                          "transpose of the numeric gradient"),
    "transposed weight gradient": (lambda: TransposedWeightGradient(4, 3), (6, 4), None,
                                   "(3, 5), expected (5, 3) (transposed?)"),
    "sign flipped": (lambda: SignFlippedInput(4, 3), (6, 4), "input", "sign is flipped"),
    "single wrong element": (lambda: SingleWrongElement(4, 3), (6, 4), "weights", "at index (1, 0)"),
    "1e-5 relative scale error": (lambda: ScaleError1e5(4, 3), (6, 4), "input", "1 x numeric"),
    "stale cache": (lambda: StaleCache(4, 3), (6, 4), "weights", "stale cache"),
    "updates without optimizer": (lambda: UpdatesWithoutOptimizer(4, 3), (6, 4), None, "optimizer was detached"),
    "accumulates gradient": (lambda: AccumulatesGradient(4, 3), (6, 4), None, "state leaks between calls"),
    "unmasked ReLU": (lambda: UnmaskedReLU(), (6, 5), "input", "missing mask"),
    "in-place forward": (lambda: InPlaceReLU(), (6, 5), None, "forward writes into its input"),
    "output aliases input": (lambda: AliasingIdentity(), (6, 5), "input", "shares memory with its input"),
    "backward writes into error": (lambda: ErrorWritingReLU(), (6, 5), None, "writes into the error_tensor"),
    "diagonal-only softmax Jacobian": (lambda: DiagonalSoftMax(), (6, 5), "input", "input"),
    "softmax sign of outer term": (lambda: GlobalMaxSoftMaxWrongBackward(), (6, 5), "input", "input"),
    "label-blind loss": (lambda: LabelBlindLoss(), (6, 3), "prediction", "prediction"),
    "loss -y*p typo": (lambda: PlainDivisionLoss(), (6, 3), "prediction", "prediction"),
}
