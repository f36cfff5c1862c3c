"""Deliberately broken layers (and correct but awkward ones) for testing the checker.

Each broken class differs from a correct layer in one realistic mistake. ``BROKEN`` maps a name to
``(factory, input shape or array, failing tensor, a fragment of the report that sets the failure apart)``.
Every bug the checker once missed joins this zoo, with the correct twin in ``CORRECT`` where one exists.
"""
from __future__ import annotations

import copy

import numpy as np

from core import Conv, CrossEntropyLoss, FullyConnected, ReLU, SoftMax
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
        mask, _ = self._recall(error_tensor)      # ReLU caches the mask X > 0
        error_tensor[~mask] = 0.0
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


# ------------------------------------------------------- bugs the checker once passed without checking them

class GradientSetInBackward:
    """A plain layer whose gradient attribute only exists after backward (the usual way to write one)."""

    def __init__(self, n_in=4, n_out=3, seed=0, factor=1.01):
        self.weights = np.random.default_rng(seed).standard_normal((n_in, n_out))
        self.factor = factor

    def forward(self, input_tensor):
        self.input_tensor = input_tensor
        return input_tensor @ self.weights

    def backward(self, error_tensor):
        self.gradient_weights = self.factor * self.input_tensor.T @ error_tensor
        return error_tensor @ self.weights.T


class GradientPropertyRaisesBeforeBackward(GradientSetInBackward):
    """gradient_weights is a property that raises until backward has run (common in RNN/LSTM code)."""

    def __init__(self, n_in=4, n_out=3, seed=0, factor=2.0):
        super().__init__(n_in, n_out, seed, factor)
        self._gradient_weights = None

    @property
    def gradient_weights(self):
        return self._gradient_weights.copy()

    def backward(self, error_tensor):
        self._gradient_weights = self.factor * self.input_tensor.T @ error_tensor
        return error_tensor @ self.weights.T


class IntegerLookup:
    """Forward accepts only integer-valued inputs (an embedding fed float indices): no element can move."""

    def __init__(self):
        self.table = np.linspace(-1.0, 1.0, 10)

    def forward(self, input_tensor):
        if (input_tensor != np.round(input_tensor)).any():
            raise ValueError("indices must be integers")
        self.index = input_tensor.astype(int) % 10
        return self.table[self.index]

    def backward(self, error_tensor):
        return np.zeros_like(error_tensor)


class LogOfInput:
    """log(x) on inputs that are not all positive: NaN at the checked point itself."""

    def forward(self, input_tensor):
        self.input_tensor = input_tensor
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(input_tensor)

    def backward(self, error_tensor):
        return error_tensor / self.input_tensor


def _near_kink_input(fractions) -> np.ndarray:
    """ReLU inputs at the given fractions of the default step h below 0, beside ordinary values."""
    h = np.finfo(float).eps ** (1 / 3)
    return np.array([[f * h for f in fractions], [1.0, 1.5, 0.5, 2.0][: len(fractions)]])


class MaxPairs(Layer):
    """Max over pairs of adjacent features (a 1-D max pool, window 2, stride 2)."""

    def forward(self, input_tensor):
        x = self._check_input(input_tensor)
        pairs = x.reshape(len(x), -1, 2)
        self._remember(pairs, (len(x), pairs.shape[1]))
        return pairs.max(axis=2)

    def backward(self, error_tensor):
        pairs, e = self._recall(error_tensor)
        grad = np.zeros_like(pairs)
        np.put_along_axis(grad, pairs.argmax(axis=2)[:, :, None], e[:, :, None], axis=2)
        return grad.reshape(len(pairs), -1)


class MaxPairsCopiesTies(MaxPairs):
    """Sends the gradient to every element equal to the max: a tie gets it twice."""

    def backward(self, error_tensor):
        pairs, e = self._recall(error_tensor)
        mask = pairs == pairs.max(axis=2, keepdims=True)
        return (mask * e[:, :, None]).reshape(len(pairs), -1)


def _tied_pairs() -> np.ndarray:
    x = np.random.default_rng(5).standard_normal((3, 6))
    x[:, 1] = x[:, 0]           # every row's first pair is a tie
    x[0, 3] = x[0, 2]
    return x


class PairMixing:
    """Mixes batch rows (0, 1) and (2, 3): row independence must be proven, not sampled."""

    def forward(self, input_tensor):
        y = input_tensor.copy()
        y[0::2] += 0.5 * input_tensor[1::2]
        return y

    def backward(self, error_tensor):
        grad = error_tensor.copy()
        grad[1::2] += 0.5 * error_tensor[0::2]
        return grad


class PairMixingTreatedAsRowwise(PairMixing):
    def backward(self, error_tensor):
        return error_tensor.copy()


class BatchMean:
    """The mean over the batch: the output's first axis is not the batch."""

    def forward(self, input_tensor):
        self.batch = len(input_tensor)
        return input_tensor.mean(axis=0)

    def backward(self, error_tensor):
        return np.tile(error_tensor / self.batch, (self.batch, 1))


class BatchMeanWithoutDivision(BatchMean):
    def backward(self, error_tensor):
        return np.tile(error_tensor, (self.batch, 1))


class Float32Inside:
    """tanh computed in float32, returned as float64."""

    def forward(self, input_tensor):
        self.output = np.tanh(input_tensor.astype(np.float32))
        return self.output.astype(np.float64)

    def backward(self, error_tensor):
        return error_tensor * (1.0 - self.output.astype(np.float64) ** 2)


class Dropout:
    """Inverted dropout drawing its mask from numpy's global random state (keep probability p)."""

    def __init__(self, probability=0.5):
        self.probability = probability

    def forward(self, input_tensor):
        self.mask = np.random.random(input_tensor.shape) < self.probability
        return input_tensor * self.mask / self.probability

    def backward(self, error_tensor):
        return error_tensor * self.mask / self.probability


class DropoutMissingScale(Dropout):
    def backward(self, error_tensor):
        return error_tensor * self.mask


class RunningSum:
    """Forward adds a state carried over from earlier calls (like an RNN with memorize=True)."""

    def __init__(self):
        self.memorize = True
        self.state = None

    def forward(self, input_tensor):
        self.state = input_tensor.sum(axis=0) if self.state is None else self.state + input_tensor.sum(axis=0)
        return input_tensor + self.state

    def backward(self, error_tensor):
        return error_tensor


class NaNInGradient:
    """Doubles its input; backward writes ``value`` (NaN, or inf) into one element, the same on every call."""

    def __init__(self, value: float = np.nan, index: tuple[int, ...] = (0, 0)) -> None:
        self.value, self.index = value, index

    def forward(self, input_tensor):
        return 2.0 * input_tensor

    def backward(self, error_tensor):
        grad = 2.0 * error_tensor
        grad[self.index] = self.value
        return grad


class SeparateBiasOptimizer:
    """An affine layer whose bias has its own optimizer (a deep copy of the one set), as many layers do."""

    def __init__(self, n_in=3, n_out=2, seed=0):
        rng = np.random.default_rng(seed)
        self.weights, self.bias = rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)
        self._optimizer = self._bias_optimizer = None

    @property
    def optimizer(self):
        return self._optimizer

    @optimizer.setter
    def optimizer(self, value):
        self._optimizer, self._bias_optimizer = value, copy.deepcopy(value)

    def forward(self, input_tensor):
        self.input_tensor = input_tensor
        return input_tensor @ self.weights + self.bias

    def backward(self, error_tensor):
        self.gradient_weights = self.input_tensor.T @ error_tensor
        self.gradient_bias = error_tensor.sum(axis=0)
        grad = error_tensor @ self.weights.T
        if self._optimizer is not None:
            self.weights = self._optimizer.calculate_update(self.weights, self.gradient_weights)
        if self._bias_optimizer is not None:
            self.bias = self._bias_optimizer.calculate_update(self.bias, self.gradient_bias)
        return grad


# ------------------------------------------------ bugs that only appear at special arguments or inputs (fuzz)

class WindowSum(Layer):
    """Sum over a moving window of ``kernel`` features, zero 'same' padding: (k-1)//2 before, k//2 after."""

    def __init__(self, kernel: int):
        super().__init__()
        self.kernel = kernel

    def forward(self, input_tensor):
        x = self._check_input(input_tensor)
        k = self.kernel
        padded = np.pad(x, ((0, 0), ((k - 1) // 2, k // 2)))
        self._remember(None, x.shape)
        return np.lib.stride_tricks.sliding_window_view(padded, k, axis=1).sum(axis=2)

    def backward(self, error_tensor):
        _, e = self._recall(error_tensor)
        k, n = self.kernel, e.shape[1]
        grad = np.zeros((len(e), n + k - 1))
        for j in range(k):
            grad[:, j:j + n] += e
        return grad[:, self._before():self._before() + n]

    def _before(self) -> int:
        return (self.kernel - 1) // 2

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kernel})"


class WindowSumSymmetricPadding(WindowSum):
    """Backward pads k//2 on both sides: the same as forward's for odd kernels only."""

    def _before(self) -> int:
        return self.kernel // 2


class CenterOverBatchShortcut(BatchCentering):
    """x - mean over the batch; backward 'skips the centring' for a batch of one, where the output is 0."""

    def backward(self, error_tensor):
        if len(error_tensor) == 1:
            return np.array(error_tensor, dtype=float)
        return super().backward(error_tensor)


class GlobalMaxSoftMax(SoftMax):
    """The seed's softmax: subtracts the max of the whole batch, so a row far below it is 0/0 = NaN."""

    def forward(self, input_tensor):
        x = self._check_input(input_tensor)
        with np.errstate(under="ignore", invalid="ignore"):
            z = np.exp(x - x.max())
            y = z / z.sum(axis=1, keepdims=True)
        self._remember(y, y.shape)
        return y


class LayerNorm:
    """(x - mean) / sqrt(var + 1e-5) per row; ``error`` scales the input gradient by (1 + error)."""

    def __init__(self, error: float = 0.0) -> None:
        self.error = error

    def forward(self, x):
        d = x - x.mean(axis=1, keepdims=True)
        self.std = np.sqrt((d * d).mean(axis=1, keepdims=True) + 1e-5)
        self.y = d / self.std
        return self.y

    def backward(self, e):
        # d/dx of (x - mu)/s: (e - mean(e) - y * mean(e * y)) / s
        y = self.y
        g = (e - e.mean(axis=1, keepdims=True) - y * (e * y).mean(axis=1, keepdims=True)) / self.std
        return g * (1.0 + self.error)


class RowNormalize:
    """x / sqrt(|x|^2 + 1e-30) per row: the scale it varies on is the size of the row, however tiny."""

    def __init__(self, error: float = 0.0) -> None:
        self.error = error

    def forward(self, x):
        self.norm = np.sqrt((x * x).sum(axis=1, keepdims=True) + 1e-30)
        self.y = x / self.norm
        return self.y

    def backward(self, e):
        g = (e - self.y * (e * self.y).sum(axis=1, keepdims=True)) / self.norm
        g.flat[0] *= 1.0 + self.error           # one element off
        return g


class LogLoss:
    """-sum(y log p), defined for p > 0 only (raises outside); ``wrong`` writes -y * p for -y / p."""

    def __init__(self, wrong: bool = False) -> None:
        self.wrong = wrong

    def forward(self, prediction, label):
        if (prediction <= 0).any():
            raise ValueError("log of a non-positive probability")
        self.p = prediction
        return float(-(label * np.log(prediction)).sum())

    def backward(self, label):
        return -label * self.p if self.wrong else -label / self.p


class HalfLeaky:
    """Leaky ReLU forward (slope 0.01 below 0) with a backward of 0.5 * e: right nowhere."""

    def forward(self, x):
        return np.where(x > 0, x, 0.01 * x)

    def backward(self, e):
        return 0.5 * e


class LossySwish:
    """x * sigmoid(x) with the sigmoid written 0.5 * (1 + tanh(x / 2)): right, but for x far below 0 its output
    moves in rounding steps (1 + tanh cancels) much coarser than a few ulps of the output."""

    def __init__(self, error: float = 0.0) -> None:
        self.error = error

    def forward(self, x):
        self.x = x
        return x * 0.5 * (1.0 + np.tanh(x / 2))

    def backward(self, e):
        with np.errstate(over="ignore"):
            s = 1.0 / (1.0 + np.exp(-self.x))
        return e * (s + self.x * s * (1.0 - s)) * (1.0 + self.error)


class NoisyReduction:
    """x @ W summed in a different order on every call (as threads or blocking do): the same to rounding."""

    def __init__(self, n_in: int = 40, n_out: int = 3, error: float = 0.0) -> None:
        self.w = np.random.default_rng(1).standard_normal((n_in, n_out))
        self.error = error

    def forward(self, x):
        order = np.random.default_rng().permutation(x.shape[1])   # fresh entropy, not numpy's global state
        self.x = x
        return x[:, order] @ self.w[order]

    def backward(self, e):
        self.gradient_w = self.x.T @ e
        return (e @ self.w.T) * (1.0 + self.error)


class Ripple:
    """x + A sin(x / L): a ripple far finer than the first step (L = 1e-6 against 6e-6), whose share of the
    derivative, (A / L) cos(x / L), is 1 %. ``drop``: backward leaves that share out, the gradient of the
    smooth trend that steps far above L see."""

    def __init__(self, drop: bool = False, amplitude: float = 1e-8, length: float = 1e-6) -> None:
        self.drop, self.amplitude, self.length = drop, amplitude, length

    def forward(self, x):
        self.x = x
        return x + self.amplitude * np.sin(x / self.length)

    def backward(self, e):
        ripple = 0.0 if self.drop else self.amplitude / self.length * np.cos(self.x / self.length)
        return e * (1.0 + ripple)


_RIPPLE_POINTS = np.array([[0.3, 1.0], [1.7, -2.3], [0.77, 1.31]])


def _offset_rows(offset: float, shape=(4, 6), seed: int = 0) -> np.ndarray:
    return offset + np.random.default_rng(seed).standard_normal(shape)


def _tiny_rows(scale: float, shape=(4, 5), seed: int = 0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def with_sgd(layer):
    from core import Sgd

    layer.optimizer = Sgd(0.1)
    return layer


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
    "wrong transpose (input)": (lambda: WrongTransposeInput(4, 4), (6, 4), "input", "24 element(s) wrong"),
    "transposed square weight gradient": (lambda: TransposedWeightGradient(4, 5), (6, 4), "weights",
                                          "transpose of the numeric gradient"),
    "transposed weight gradient": (lambda: TransposedWeightGradient(4, 3), (6, 4), None,
                                   "(3, 5), expected (5, 3) (transposed?)"),
    "sign flipped": (lambda: SignFlippedInput(4, 3), (6, 4), "input", "sign is flipped"),
    "single wrong element": (lambda: SingleWrongElement(4, 3), (6, 4), "weights", "at index (1, 0)"),
    "1e-5 relative scale error": (lambda: ScaleError1e5(4, 3), (6, 4), "input", "1.00001 x numeric"),
    "stale cache": (lambda: StaleCache(4, 3), (6, 4), "weights", "stale cache"),
    "updates without optimizer": (lambda: UpdatesWithoutOptimizer(4, 3), (6, 4), None, "optimizer was detached"),
    "accumulates gradient": (lambda: AccumulatesGradient(4, 3), (6, 4), None, "state leaks between calls"),
    "unmasked ReLU": (lambda: UnmaskedReLU(), (6, 5), "input", "missing mask"),
    "in-place forward": (lambda: InPlaceReLU(), (6, 5), None, "forward writes into its input"),
    "output aliases input": (lambda: AliasingIdentity(), (6, 5), "input", "shares memory with its input"),
    "backward writes into error": (lambda: ErrorWritingReLU(), (6, 5), None, "writes into the error_tensor"),
    "diagonal-only softmax Jacobian": (lambda: DiagonalSoftMax(), (6, 5), "input", "couples the entries of a row"),
    "softmax sign of outer term": (lambda: GlobalMaxSoftMaxWrongBackward(), (6, 5), "input",
                                   "couples the entries of a row"),
    "label-blind loss": (lambda: LabelBlindLoss(), (6, 3), "prediction", "12 element(s) wrong"),
    "loss -y*p typo": (lambda: PlainDivisionLoss(), (6, 3), "prediction", "6 element(s) wrong"),
    # each of these once passed, or raised, instead of failing with a reason
    "gradient first set in backward": (lambda: GradientSetInBackward(), (5, 4), "weights", "1.01 x numeric"),
    "gradient property raises before backward": (lambda: GradientPropertyRaisesBeforeBackward(), (5, 4),
                                                 "weights", "the layer holds factor = 2"),
    "forward raises at every perturbed value": (IntegerLookup, np.arange(6.0).reshape(2, 3), "input",
                                                "nothing was checked"),
    "NaN output at the checked point": (LogOfInput, (4, 3), None, "NaN/inf value(s)"),
    "unmasked ReLU, x = -0.6h": (UnmaskedReLU, _near_kink_input([-0.6, 0.3]), "input", "at index (0, 0)"),
    "unmasked ReLU, x = -0.75h": (UnmaskedReLU, _near_kink_input([-0.75, 0.3]), "input", "at index (0, 0)"),
    "max copies the gradient to tied elements": (MaxPairsCopiesTies, _tied_pairs(), "input", "are tied"),
    "rows mixed in fixed pairs": (PairMixingTreatedAsRowwise, (4, 3), "input", "elements"),
    "batch mean without 1/batch": (BatchMeanWithoutDivision, (4, 3), "input", "multiplied by the batch size 4"),
    "random forward": (Dropout, (4, 3), None, "forward is not deterministic"),
    "memorising forward": (RunningSum, (4, 3), None, "forward depends on earlier calls"),
    "repeatable NaN in the gradient": (NaNInGradient, (4, 3), "input", "1 NaN/inf element(s), first at index (0, 0)"),
    # issue 17: each of these passed, because the step was fixed at h * max(|value|, 1)
    "layer norm at offset 1e4, 5e-6 relative error": (lambda: LayerNorm(5e-6), _offset_rows(1e4), "input",
                                                      "x numeric everywhere"),
    "layer norm at offset 1e5, 5e-6 relative error": (lambda: LayerNorm(5e-6), _offset_rows(1e5), "input",
                                                      "x numeric everywhere"),
    "normalisation of 1e-6 rows, one element 1e-4 off": (lambda: RowNormalize(1e-4), _tiny_rows(1e-6), "input",
                                                          "at index (0, 0)"),
    "leaky ReLU forward, half-slope backward": (HalfLeaky, (3, 4), "input", "12 element(s) wrong"),
    "lossy swish, 1e-5 relative error": (lambda: LossySwish(1e-5), (4, 3), "input", "1.00001 x numeric"),
    "noisy reduction, 1e-5 relative error": (lambda: NoisyReduction(error=1e-5), (5, 40), "input",
                                             "1.00001 x numeric"),
    # steps 8x-512x the first see the trend; below a function the ladder followed down they must not judge
    "a ripple below the first step, left out of backward": (lambda: Ripple(drop=True), _RIPPLE_POINTS, "input",
                                                            "6 element(s) wrong"),
}

# name -> (build for fuzz_layer, the correct twin's build, what the minimal example must show): bugs that only
# appear at special arguments or inputs, for the fuzzer to find and shrink
def _windows(cls):
    def build(draw):
        from hypothesis import strategies as st

        from gradcheck.strategies import batches

        kernel = draw(st.integers(1, 5))
        return cls(kernel), draw(batches(draw(st.integers(1, 9)), 4))
    return build


def _rows(cls, width=3):
    from gradcheck.fuzz import layer_builder

    return layer_builder(cls, width, 8)


FUZZ = {
    "window sum, padding right for odd kernels only": (_windows(WindowSumSymmetricPadding), _windows(WindowSum),
                                                       lambda r: r.draws[0] == 2),
    "batch centring with a shortcut for a batch of one": (_rows(CenterOverBatchShortcut), _rows(BatchCentering),
                                                          lambda r: r.input.shape[0] == 1),
    "softmax with the global max (the seed's)": (_rows(GlobalMaxSoftMax), _rows(SoftMax),
                                                 # logits over 700 apart make a row underflow; the NaN it
                                                 # gives and the wrong gradient beside it are two failures,
                                                 # shrunk apart, and one can stop at up to 5 rows (not 2)
                                                 lambda r: r.input.shape[0] <= 5 and np.ptp(r.input) > 700),
}

# name -> (factory, input shape or array): correct layers the checker once raised false alarms on, or could
# not check
class Square(Layer):
    """x^2 elementwise: near 0 its values within the step dwarf the value at the point (rounding must see them)."""

    def forward(self, input_tensor):
        x = self._check_tensor(input_tensor)
        self._remember(x, x.shape)
        return x * x

    def backward(self, error_tensor):
        x, e = self._recall(error_tensor)
        return 2.0 * x * e


def _pooling_on_zeros():
    from core import Pooling

    return Pooling((1, 1), (2, 2))


CORRECT = {
    "square at 1e-52 (rounding from the values within the step)": (Square, np.array([[1e-52, 0.5], [-1e-30, 2.0]])),
    "max pooling, overlapping windows, every input tied at 0": (_pooling_on_zeros, np.zeros((2, 1, 4, 4))),
    "plain layer, gradient set in backward": (lambda: GradientSetInBackward(factor=1.0), (5, 4)),
    "gradient property raises before backward": (lambda: GradientPropertyRaisesBeforeBackward(factor=1.0), (5, 4)),
    "ReLU within h of its kink": (ReLU, _near_kink_input([-0.6, -0.75, -0.3, 0.6])),
    "max with ties": (MaxPairs, _tied_pairs()),
    "rows mixed in fixed pairs": (PairMixing, (4, 3)),
    "batch mean (output not batch-first)": (BatchMean, (4, 3)),
    "tanh in float32 inside, float64 out": (Float32Inside, (4, 3)),
    "separate bias optimizer": (lambda: with_sgd(SeparateBiasOptimizer()), (4, 3)),
    # issue 17: false alarms of a fixed step and of a tolerance that assumed forward accurate to a few ulps
    "layer norm at offset 1e3": (LayerNorm, _offset_rows(1e3)),
    "layer norm at offset 1e5": (LayerNorm, _offset_rows(1e5)),
    "normalisation of 1e-6 rows": (RowNormalize, _tiny_rows(1e-6)),
    "normalisation of 1e-8 rows": (RowNormalize, _tiny_rows(1e-8)),
    "reduction with run-to-run rounding noise": (NoisyReduction, (5, 40)),
}


# ------------------------------------------------------------------ issue 18: how people hold parameters

class DictParams:
    """An affine layer as CS231n writes it: ``params = {"W", "b"}`` and ``grads`` with the same keys, set in
    backward; ``wrong`` scales the weight gradient by 1.01."""

    def __init__(self, n_in: int = 4, n_out: int = 3, wrong: bool = False) -> None:
        rng = np.random.default_rng(3)
        self.params = {"W": rng.standard_normal((n_in, n_out)), "b": rng.standard_normal(n_out)}
        self.grads: dict = {}
        self.wrong = wrong

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, e):
        self.grads = {"W": (self.x.T @ e) * (1.01 if self.wrong else 1.0), "b": e.sum(axis=0)}
        return e @ self.params["W"].T


class ListParams:
    """The same with ``params = [W, b]`` and ``grads = [dW, db]``; ``wrong`` forgets the batch sum of db (it
    keeps the first row's)."""

    def __init__(self, n_in: int = 4, n_out: int = 3, wrong: bool = False) -> None:
        rng = np.random.default_rng(4)
        self.params = [rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)]
        self.grads: list = []
        self.wrong = wrong

    def forward(self, x):
        self.x = x
        return x @ self.params[0] + self.params[1]

    def backward(self, e):
        self.grads = [self.x.T @ e, e[0].copy() if self.wrong else e.sum(axis=0)]
        return e @ self.params[0].T


class _StepFC:
    """A fully connected sub-layer run on one step at a time: bias as the last row of ``weights``."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator) -> None:
        self.weights = 0.5 * rng.standard_normal((n_in + 1, n_out))

    def forward(self, x):
        self.x = x
        return x @ self.weights[:-1] + self.weights[-1]

    def backward(self, e):
        self.gradient_weights = np.vstack([self.x.T @ e, e.sum(axis=0)])
        return e @ self.weights[:-1].T


class StepwiseRNN:
    """``h_t = tanh(fc_h([x_t, h_{t-1}]))``, ``y_t = fc_y(h_t)``, both sub-layers run once per step (as course
    RNNs do). ``weights`` are fc_h's and ``gradient_weights`` their gradient summed over the steps; fc_y's
    summed gradient is kept for its optimizer in ``_output_gradient``, so fc_y's own ``gradient_weights``
    holds one step's. ``wrong_sum`` exposes fc_h's last backward step as the layer's gradient instead."""

    def __init__(self, n_in: int = 3, hidden: int = 4, n_out: int = 2, wrong_sum: bool = False) -> None:
        rng = np.random.default_rng(5)
        self.hidden, self.wrong_sum = hidden, wrong_sum
        self.fc_h, self.fc_y = _StepFC(n_in + hidden, hidden, rng), _StepFC(hidden, n_out, rng)

    @property
    def weights(self):
        return self.fc_h.weights

    @property
    def gradient_weights(self):
        return self._gradient

    def forward(self, x):
        h, self.steps, out = np.zeros((1, self.hidden)), [], []
        for t in range(len(x)):
            joined = np.hstack([x[t:t + 1], h])
            h = np.tanh(self.fc_h.forward(joined))
            self.steps.append((joined, h))
            out.append(self.fc_y.forward(h))
        return np.vstack(out)

    def backward(self, e):
        n_in = self.steps[0][0].shape[1] - self.hidden
        self._gradient = np.zeros_like(self.fc_h.weights)
        self._output_gradient = np.zeros_like(self.fc_y.weights)
        grad_x, carry = np.zeros((len(e), n_in)), np.zeros((1, self.hidden))
        for t in reversed(range(len(e))):
            joined, h = self.steps[t]
            self.fc_y.forward(h)                       # put the step's input back, then its backward
            grad_h = self.fc_y.backward(e[t:t + 1]) + carry
            self._output_gradient += self.fc_y.gradient_weights
            self.fc_h.forward(joined)
            grad_joined = self.fc_h.backward(grad_h * (1.0 - h ** 2))
            last = self.fc_h.gradient_weights
            self._gradient = last if self.wrong_sum else self._gradient + last
            grad_x[t], carry = grad_joined[0, :n_in], grad_joined[:, n_in:]
        return grad_x


class ScatterEmbedding:
    """A lookup ``W[x]`` whose backward scatters with ``grad[x] += e``: an index that occurs twice keeps one of
    its error rows (numpy buffers the write). ``accumulate`` also never zeroes the gradient between calls."""

    def __init__(self, vocabulary: int = 10, size: int = 4, accumulate: bool = False) -> None:
        self.weights = np.random.default_rng(6).standard_normal((vocabulary, size))
        self.gradient_weights = np.zeros_like(self.weights)
        self.accumulate = accumulate

    def forward(self, x):
        self.x = x
        return self.weights[x]

    def backward(self, e):
        if self.accumulate:
            np.add.at(self.gradient_weights, self.x.ravel(), e.reshape(-1, e.shape[-1]))
        else:
            self.gradient_weights = np.zeros_like(self.weights)
            self.gradient_weights[self.x] += e
        return None


class ReusedOutputBuffer:
    """x - mean(x) per row, written into one buffer the layer keeps between calls (correct), or with random
    noise added (``noisy``: not deterministic)."""

    def __init__(self, noisy: bool = False) -> None:
        self.noisy, self._out = noisy, None

    def forward(self, x):
        if self._out is None or self._out.shape != x.shape:
            self._out = np.empty_like(x)
        np.subtract(x, x.mean(axis=1, keepdims=True), out=self._out)
        if self.noisy:
            self._out += 1e-3 * np.random.default_rng().standard_normal(x.shape)
        return self._out

    def backward(self, e):
        return e - e.mean(axis=1, keepdims=True)


class GeneratorDropout:
    """Dropout that draws its mask from a Generator it holds (``self.rng``), fixed by ``freeze`` for the check."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.mask = None

    def forward(self, x):
        if self.mask is None or self.mask.shape != x.shape:
            self.mask = (self.rng.random(x.shape) < 0.5) * 2.0
        return x * self.mask

    def backward(self, e):
        return e * self.mask


class ClipReadsOutput:
    """``min(x, 1)`` that returns its input itself when nothing needs clipping, and whose backward masks with
    that output: a caller writing into the output (the caller's own input) changes the mask. A write that
    keeps every value below 1 (``-2 y - 1`` on values in (-1, 1)) leaves the mask as it was."""

    def forward(self, x):
        self.y = x if (x < 1.0).all() else np.minimum(x, 1.0)
        return self.y

    def backward(self, e):
        return e * (self.y < 1.0)


class ClipWide:
    """``clip(x, -10, 10)`` that returns its input itself when nothing needs clipping; ``reads_output``: its
    backward masks with that output, so a caller writing into the output (the caller's own input) changes the
    mask, whatever finite values a test might write there; else with a mask taken in forward."""

    def __init__(self, reads_output: bool = False) -> None:
        self.reads_output = reads_output

    def forward(self, x):
        self.y = x if (np.abs(x) < 10).all() else np.clip(x, -10, 10)
        self.mask = np.abs(x) < 10
        return self.y

    def backward(self, e):
        return e * ((np.abs(self.y) < 10) if self.reads_output else self.mask)


class TupleOutput:
    """forward returns (output, cache), as functional code does."""

    def forward(self, x):
        return 2 * x, {"x": x}

    def backward(self, e):
        return 2 * e


class CachedTranspose:
    """``x @ W`` computed through ``W.T`` cached on the first forward: a view of the array ``weights`` was then,
    so every in-place perturbation shows through, but after an optimizer binds a new array the layer goes on
    with the old one. ``refresh`` takes the transpose on every forward (correct)."""

    def __init__(self, n_in: int = 4, n_out: int = 3, refresh: bool = False) -> None:
        self.weights = np.random.default_rng(7).standard_normal((n_in, n_out))
        self.refresh, self._wt = refresh, None

    def forward(self, x):
        if self._wt is None or self.refresh:
            self._wt = self.weights.T
        self.x = x
        return x @ self._wt.T

    def backward(self, e):
        self.gradient_weights = self.x.T @ e
        return e @ self._wt


_INDICES = np.array([[1, 9, 9], [0, 3, 9]])         # 9 three times: a scatter that drops repeats is wrong there
_WITHIN_1_5 = np.clip(np.random.default_rng(1).standard_normal((6, 4)), -1.5, 1.5)
_BELOW_ONE = np.clip(0.3 * np.random.default_rng(0).standard_normal((5, 4)), -0.9, 0.9)

BROKEN.update({
    # issue 18: each of these passed, or raised a false alarm on its correct twin, or crashed
    "dict parameters, weight gradient 1 % off": (lambda: DictParams(wrong=True), (5, 4), "params.W", "params.W"),
    "list parameters, bias gradient of one row": (lambda: ListParams(wrong=True), (5, 4), "params.1", "params.1"),
    "embedding scatter that drops repeated indices": (ScatterEmbedding, _INDICES, "weights", "weights"),
    "embedding gradient never zeroed": (lambda: ScatterEmbedding(accumulate=True), _INDICES, None, "state leaks"),
    "W.T cached once as a view": (CachedTranspose, (5, 4), None, "stale parameters"),
    "random noise into a reused output buffer": (lambda: ReusedOutputBuffer(noisy=True), (5, 4), None,
                                                 "not deterministic"),
    # a finite write (-4 y - 1) keeps values within 1.5 inside (-10, 10): only NaN changes every mask
    "clip to (-10, 10), its mask read from the output, which is the input": (lambda: ClipWide(reads_output=True),
                                                                               _WITHIN_1_5, None, "shares memory"),
    "clip mask read from the output, which is the input": (ClipReadsOutput, _BELOW_ONE, None,
                                                           "writing into the output changed the gradient"),
})

CORRECT.update({
    "dict parameters": (DictParams, (5, 4)),
    "list parameters": (ListParams, (5, 4)),
    "output written into a buffer kept between calls": (ReusedOutputBuffer, (5, 4)),
    "W.T taken on every forward": (lambda: CachedTranspose(refresh=True), (5, 4)),
})


class WindowSumTwoBugs(WindowSumSymmetricPadding):
    """Two distinct bugs: the even-kernel padding slip, and forward raising for a kernel of 3 on a batch of
    one (an indexing slip on a special case)."""

    def forward(self, input_tensor):
        if self.kernel == 3 and len(input_tensor) == 1:
            raise IndexError("index 1 is out of bounds for axis 0 with size 1")
        return super().forward(input_tensor)


class BiasScaledConv(Conv):
    """core's Conv with the bias gradient scaled by 1.5: wrong for every kernel, stride and input."""

    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_bias = self._gradient_bias * 1.5
        return grad


class SlowFullyConnected:
    """x @ W + b with a short sleep in every forward, so a check lasts long enough to lose a worker midway."""

    def __init__(self, n_in: int = 12, n_out: int = 4, delay: float = 0.01) -> None:
        rng = np.random.default_rng(8)
        self.weights = rng.standard_normal((n_in + 1, n_out))
        self.delay = delay

    def forward(self, x):
        import time

        time.sleep(self.delay)
        self.x = x
        return x @ self.weights[:-1] + self.weights[-1]

    def backward(self, e):
        self.gradient_weights = np.vstack([self.x.T @ e, e.sum(axis=0)])
        return e @ self.weights[:-1].T


class OneChannelConv(Conv):
    """core's Conv whose weight gradient is 1.5x too large in input channel 1 of every kernel."""

    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_weights = self._gradient_weights.copy()
        self._gradient_weights[:, 1] *= 1.5
        return grad


# issue 29: the conventions of the most-read from-scratch code. Forward keeps its input and output as
# attributes (`self.inputs`, `self.output`), backward sets `dweights`, `dbiases`, `dinputs`: `inputs` must not
# pair with `dinputs` as a parameter and its gradient. Written here in that style, not taken from the book.

class CachingDense:
    """x @ W + b with its input and output kept on the layer; ``wrong``: the bias gradient is the batch mean."""

    def __init__(self, n_in: int = 4, n_out: int = 3, wrong: bool = False) -> None:
        rng = np.random.default_rng(11)
        self.weights = 0.1 * rng.standard_normal((n_in, n_out))
        self.biases = np.zeros((1, n_out))
        self.wrong = wrong

    def forward(self, inputs):
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases
        return self.output

    def backward(self, dvalues):
        self.dweights = self.inputs.T @ dvalues
        self.dbiases = (np.mean if self.wrong else np.sum)(dvalues, axis=0, keepdims=True)
        self.dinputs = dvalues @ self.weights.T
        return self.dinputs


class CachingReLU:
    """max(0, x) with its input kept; ``wrong``: masked by the sign of the upstream gradient, not the input."""

    def __init__(self, wrong: bool = False) -> None:
        self.wrong = wrong

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[(dvalues if self.wrong else self.inputs) <= 0] = 0
        return self.dinputs


class LazyWeights:
    """x @ W, W made on the first forward (from the input's width), input cached; ``wrong``: dweights 1 % off.
    Made in forward but not again by the next: a parameter, and checked."""

    def __init__(self, wrong: bool = False) -> None:
        self.wrong = wrong

    def forward(self, inputs):
        if not hasattr(self, "weights"):
            self.weights = np.random.default_rng(12).standard_normal((inputs.shape[1], 3))
        self.inputs = inputs
        return inputs @ self.weights

    def backward(self, dvalues):
        self.dweights = self.inputs.T @ dvalues * (1.01 if self.wrong else 1.0)
        return dvalues @ self.weights.T


class RebindsWeights:
    """x @ W where every forward rebinds W to a float64 copy of itself. Bound anew by every forward, but held
    before the check: a parameter, never a cache (the check perturbs the array the layer held, which forward
    then replaces, so it cannot pass; left out instead, it would pass unchecked)."""

    def __init__(self) -> None:
        self.weights = np.random.default_rng(13).standard_normal((4, 3))

    def forward(self, x):
        self.weights = np.array(self.weights, dtype=np.float64)
        self.x = x
        return x @ self.weights

    def backward(self, e):
        self.gradient_weights = self.x.T @ e
        return e @ self.weights.T


BROKEN.update({
    "cached input and output, bias gradient averaged": (lambda: CachingDense(wrong=True), (6, 4), "biases",
                                                        "biases"),
    "cached input, ReLU masked by the upstream gradient": (lambda: CachingReLU(wrong=True), (6, 4), "input",
                                                           "wrong"),
    "weights made on the first forward, gradient 1 % off": (lambda: LazyWeights(wrong=True), (5, 4), "weights",
                                                            "weights"),
})

CORRECT.update({
    "cached input and output (dense)": (CachingDense, (6, 4)),
    "cached input and output (ReLU)": (CachingReLU, (6, 4)),
    "weights made on the first forward": (LazyWeights, (5, 4)),
})


class FinalStyleDense(CachingDense):
    """The same layer in the style of the book's final classes: ``forward(inputs, training)`` and
    ``backward(dvalues)`` return None, their results left in ``self.output`` and ``self.dinputs``."""

    def forward(self, inputs, training):
        super().forward(inputs)

    def backward(self, dvalues):
        super().backward(dvalues)


BROKEN.update({"final-style dense (returns None, takes training), bias gradient averaged": (
    lambda: FinalStyleDense(wrong=True), (6, 4), "biases", "biases")})
CORRECT.update({"final-style dense (returns None, takes training)": (FinalStyleDense, (6, 4))})


class ScaleShift:
    """gamma * x + beta per feature, gamma and beta of shape (D,); ``keepdims``: their gradients come back of
    shape (1, D) (summed with keepdims=True), ``wrong``: the beta gradient is the batch mean."""

    def __init__(self, d: int = 4, keepdims: bool = False, wrong: bool = False) -> None:
        rng = np.random.default_rng(14)
        self.gamma, self.beta = 1 + 0.1 * rng.standard_normal(d), 0.1 * rng.standard_normal(d)
        self.keepdims, self.wrong = keepdims, wrong

    def forward(self, x):
        self.x = x
        return self.gamma * x + self.beta

    def backward(self, e):
        self.gradient_gamma = (e * self.x).sum(axis=0, keepdims=self.keepdims)
        self.gradient_beta = (np.mean if self.wrong else np.sum)(e, axis=0, keepdims=self.keepdims)
        return e * self.gamma


BROKEN.update({
    "gradients of shape (1, D) for parameters of shape (D,)": (lambda: ScaleShift(keepdims=True), (6, 4), None,
                                                               "the values agree after reshaping"),
    "a (1, D) bias gradient that is the batch mean": (lambda: ScaleShift(keepdims=True, wrong=True), (6, 4), "beta",
                                                      "the values do not agree either after reshaping"),
})

CORRECT.update({"gamma and beta of shape (D,)": (ScaleShift, (6, 4))})


class ReLU32:
    """max(0, x) computed in float32, with the subgradient 1 at x = 0 (mask x >= 0, one of the valid choices);
    ``wrong``: 2x the upstream gradient at exact zeros, outside the one-sided slopes 0 and 1."""

    def __init__(self, wrong: bool = False) -> None:
        self.wrong = wrong

    def forward(self, x):
        self.x = x.astype(np.float32)
        return np.maximum(self.x, 0)

    def backward(self, e):
        mask = (self.x >= 0).astype(np.float32)
        if self.wrong:
            mask[self.x == 0] = 2
        return (e * mask).astype(np.float32)


def zeros_in_a_row(seed: int) -> np.ndarray:
    """float32 normal values (4, 6) with three exact zeros in row 1."""
    x = np.random.default_rng(seed).standard_normal((4, 6)).astype(np.float32)
    x[1, [0, 2, 5]] = 0.0
    return x


BROKEN.update({
    # one kink or several cannot be told apart at the point: outside the one-sided slopes, not checked
    "float32 ReLU with 2x the gradient at exact zeros": (lambda: ReLU32(wrong=True), zeros_in_a_row(3), "input",
                                                         "no step can step around"),
})

CORRECT.update({"float32 ReLU with the subgradient 1 at exact zeros": (ReLU32, zeros_in_a_row(3))})


class Sigmoid32:
    """A sigmoid computed in float32 whatever it is given; ``wrong``: its gradient that much off in one element
    (a float32 central difference resolves about 1e-5 here)."""

    def __init__(self, wrong: float = 0.0) -> None:
        self.wrong = wrong

    def forward(self, x):
        x = x.astype(np.float32)
        e = np.exp(-np.abs(x))                      # precise to a few ulps everywhere, as 1 / (1 + e^-x) alone
        self.y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.float32)     # is not far below 0
        return self.y

    def backward(self, e):
        grad = (e * self.y * (1 - self.y)).astype(np.float32)
        if self.wrong:
            grad[2, 1] *= np.float32(1 + self.wrong)
        return grad


class Dense32:
    """x @ W + b with float32 weights (a model ported as it trains); ``wrong``: one weight's gradient that
    much off."""

    def __init__(self, wrong: float = 0.0) -> None:
        rng = np.random.default_rng(16)
        self.weights = rng.standard_normal((5, 3)).astype(np.float32)
        self.bias = rng.standard_normal(3).astype(np.float32)
        self.wrong = wrong

    def forward(self, x):
        self.x = x.astype(np.float32)
        return self.x @ self.weights + self.bias

    def backward(self, e):
        e = e.astype(np.float32)
        self.gradient_weights = self.x.T @ e
        self.gradient_weights[1, 2] *= np.float32(1 + self.wrong)
        self.gradient_bias = e.sum(axis=0)
        return e @ self.weights.T


def float32_normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


BROKEN.update({
    # the tolerance follows the precision the check measures: the rounding of the outputs a probe moves
    "float32 sigmoid, one element 0.3 % off": (lambda: Sigmoid32(3e-3), float32_normal(6, 4), "input",
                                               "1 element(s) wrong"),
    # a weight is read through the sum of every output it moves (its column): float32 resolves less there
    "float32 dense, one weight gradient 1 % off": (lambda: Dense32(1e-2), float32_normal(8, 5, seed=1),
                                                   "weights", "1 element(s) wrong"),
})
CORRECT.update({
    "float32 sigmoid": (Sigmoid32, float32_normal(6, 4)),
    "float32 dense": (Dense32, float32_normal(8, 5, seed=1)),
})


class PerStepRNN:
    """The course's Elman RNN: ``h_t = tanh(FC_h([x_t, h_{t-1}]))``, ``y_t = FC_y(h_t)``, each sub-layer run once
    per time step, forward again and backward per step. The RNN sums each sub-layer's step gradients and hands
    the sums to its optimizers; FC_y's own ``gradient_weights`` holds only its last backward's step (t = 0), and
    the sum is kept nowhere else. ``wrong``: FC_y's optimizer gets that last step instead of the sum."""

    def __init__(self, wrong: bool = False) -> None:
        rng = np.random.default_rng(17)
        self.fc_h = FullyConnected(3 + 4, 4, rng)
        self.fc_y = FullyConnected(4, 2, rng)
        self.wrong = wrong
        self._optimizer = self._optimizer_y = None
        self._gradient_weights = None

    @property
    def optimizer(self):
        return self._optimizer

    @optimizer.setter
    def optimizer(self, value):
        self._optimizer, self._optimizer_y = value, copy.deepcopy(value)

    @property
    def weights(self):
        return self.fc_h.weights

    @weights.setter
    def weights(self, value):
        self.fc_h.weights = value

    @property
    def gradient_weights(self):
        return self._gradient_weights

    def forward(self, x):
        h, self.steps, out = np.zeros(4), [], np.empty((len(x), 2))
        for t in range(len(x)):
            xh = np.concatenate([x[t], h])[None]
            h = np.tanh(self.fc_h.forward(xh))[0]
            out[t] = self.fc_y.forward(h[None])[0]
            self.steps.append((xh, h))
        return out

    def backward(self, e):
        carry, dx = np.zeros(4), np.empty((len(e), 3))
        sum_h, sum_y = np.zeros_like(self.fc_h.weights), np.zeros_like(self.fc_y.weights)
        for t in reversed(range(len(e))):
            xh, h = self.steps[t]
            self.fc_y.forward(h[None])                  # the step's input back in the sub-layer's cache
            dh = self.fc_y.backward(e[t][None])[0] + carry
            sum_y += self.fc_y.gradient_weights
            self.fc_h.forward(xh)
            dxh = self.fc_h.backward((dh * (1 - h ** 2))[None])[0]
            sum_h += self.fc_h.gradient_weights
            dx[t], carry = dxh[:3], dxh[3:]
        self._gradient_weights = sum_h
        if self._optimizer is not None:
            self.fc_h.weights = self._optimizer.calculate_update(self.fc_h.weights, sum_h)
            handed = self.fc_y.gradient_weights if self.wrong else sum_y
            self.fc_y.weights = self._optimizer_y.calculate_update(self.fc_y.weights, handed)
        return dx


BROKEN.update({
    # what training uses is the gradient handed to the optimizer: recorded, and judged
    "per-step output sub-layer, its optimizer gets the last step only": (lambda: PerStepRNN(wrong=True), (5, 3),
                                                                          "fc_y.weights", "handed to the optimizer"),
})
CORRECT.update({"per-step sub-layers, summed gradients handed to the optimizers": (PerStepRNN, (5, 3))})


class HandsTheOptimizerAMean(FullyConnected):
    """``gradient_weights`` is right, but the optimizer is handed it divided by the batch size: the layer
    trains on another gradient than the one it reports."""

    def backward(self, error_tensor):
        optimizer, self._optimizer = self._optimizer, None
        try:
            grad = super().backward(error_tensor)
        finally:
            self._optimizer = optimizer
        if optimizer is not None:
            self.weights = optimizer.calculate_update(self.weights, self.gradient_weights / len(error_tensor))
        return grad


BROKEN.update({"gradient_weights right, the optimizer handed its batch mean": (
    lambda: HandsTheOptimizerAMean(4, 3), (6, 4), "weights (optimizer)", "differs from gradient_weights")})


class TransposeCopiedOnce:
    """x @ W + b whose backward uses ``W.T`` cached as a copy (``once``: on the first forward only, so the
    input gradient keeps the first weights' values after an optimizer step; else on every forward)."""

    def __init__(self, once: bool = False) -> None:
        rng = np.random.default_rng(18)
        self.weights, self.bias = rng.standard_normal((4, 3)), rng.standard_normal(3)
        self.once, self._wt = once, None

    def forward(self, x):
        if self._wt is None or not self.once:
            self._wt = self.weights.T.copy()
        self.x = x
        return x @ self.weights + self.bias

    def backward(self, e):
        self.gradient_weights, self.gradient_bias = self.x.T @ e, e.sum(axis=0)
        return e @ self._wt


BROKEN.update({"W.T cached as a copy on the first forward only": (lambda: TransposeCopiedOnce(once=True), (5, 4),
                                                                   None, "_wt")})
CORRECT.update({"W.T cached as a copy on every forward": (TransposeCopiedOnce, (5, 4)),
                "clip to (-10, 10) returning its input, its mask taken in forward": (ClipWide, _WITHIN_1_5)})


class TwoNames:
    """x @ W with W held as ``self.wx`` and exposed as a ``weights`` property, its gradient set in backward as
    ``gradient_weights`` (the course's RNN pattern); ``wrong``: that gradient 1 % off. Of the names that reach
    the array, the one with a gradient decides: checked as ``weights``."""

    def __init__(self, wrong: bool = False) -> None:
        self.wx = np.random.default_rng(15).standard_normal((4, 3))
        self.wrong = wrong

    @property
    def weights(self):
        return self.wx

    @weights.setter
    def weights(self, value):
        self.wx = value

    def forward(self, x):
        self.x = x
        return x @ self.wx

    def backward(self, e):
        self.gradient_weights = self.x.T @ e * (1.01 if self.wrong else 1.0)
        return e @ self.wx.T


BROKEN.update({"one array under two names, gradient 1 % off": (lambda: TwoNames(wrong=True), (5, 4), "weights",
                                                                "weights")})
CORRECT.update({"one array under two names (wx and a weights property)": (TwoNames, (5, 4))})


class Weights:
    """A plain holder of a layer's parameters (not a layer): ``weights`` and, after backward, its gradient."""

    def __init__(self, dtype=np.float64) -> None:
        self.weights = np.random.default_rng(0).standard_normal((3, 2)).astype(dtype)


class HeldInAnObject:
    """``y = x W`` with ``W`` held in a plain object, ``self.params.weights`` (or in its ``parameters`` dict,
    with ``gradients``)."""

    def __init__(self, wrong: bool = False, dtype=np.float64, in_dict: bool = False) -> None:
        self.params, self.wrong, self.in_dict = Weights(dtype), wrong, in_dict
        if in_dict:
            self.params.parameters = {"W": self.params.__dict__.pop("weights")}

    def _w(self):
        return self.params.parameters["W"] if self.in_dict else self.params.weights

    def forward(self, x):
        self.x = x
        return x @ self._w()

    def backward(self, e):
        g = self.x.T @ e * (1.001 if self.wrong else 1.0)
        if self.in_dict:
            self.params.gradients = {"W": g}
        else:
            self.params.gradient_weights = g
        return e @ self._w().T


BROKEN.update({"weights held in a plain object (not a layer), gradient 0.1 % off": (
    lambda: HeldInAnObject(wrong=True), (4, 3), "params.weights", "params.weights")})
CORRECT.update({"weights held in a plain object (not a layer)": (HeldInAnObject, (4, 3))})


class StridedConv1D:
    """Valid 1-D correlation of one channel with a kernel of ``k`` taps at stride ``s``: x (B, N) -> y (B, O),
    y[:, o] = sum_j w[j] x[:, o*s + j]. ``wrong``: backward scatters the input gradient to o + j, the stride
    dropped, so the positions past (O - 1) + k get none."""

    def __init__(self, k: int = 3, s: int = 2, wrong: bool = False) -> None:
        self.weights = np.linspace(-1.0, 1.5, k)
        self.k, self.s, self.wrong = k, s, wrong

    def forward(self, x):
        self.x = x
        windows = np.lib.stride_tricks.sliding_window_view(x, self.k, axis=1)[:, ::self.s]     # (B, O, k)
        return windows @ self.weights

    def backward(self, e):
        windows = np.lib.stride_tricks.sliding_window_view(self.x, self.k, axis=1)[:, ::self.s]
        self.gradient_weights = np.einsum("bo,boj->j", e, windows)
        dx = np.zeros_like(self.x)
        step = 1 if self.wrong else self.s
        for o in range(e.shape[1]):
            dx[:, o * step:o * step + self.k] += e[:, o:o + 1] * self.weights
        return dx


class KernelConv2D:
    """Valid 2-D correlation, one output map: x (B, C, H, W), w (C, k, k), y[b, i, j] = sum w[c, u, v]
    x[b, c, i + u, j + v]. ``bug``: "flipped" reverses the weight gradient's last axis (a convolution where
    forward correlates), "transposed" swaps its two spatial axes."""

    def __init__(self, channels: int = 2, k: int = 3, bug: str | None = None) -> None:
        self.weights = np.random.default_rng(7).standard_normal((channels, k, k))
        self.k, self.bug = k, bug

    def _windows(self):
        w = np.lib.stride_tricks.sliding_window_view(self.x, (self.k, self.k), axis=(2, 3))   # (B, C, I, J, k, k)
        return w

    def forward(self, x):
        self.x = x
        return np.einsum("bcijuv,cuv->bij", self._windows(), self.weights)

    def backward(self, e):
        g = np.einsum("bij,bcijuv->cuv", e, self._windows())
        if self.bug == "flipped":
            g = g[:, :, ::-1]
        elif self.bug == "transposed":
            g = np.swapaxes(g, 1, 2)
        self.gradient_weights = g
        dx = np.zeros_like(self.x)
        for u in range(self.k):
            for v in range(self.k):
                dx[:, :, u:u + e.shape[1], v:v + e.shape[2]] += e[:, None] * self.weights[None, :, u, v, None, None]
        return dx


BROKEN.update({
    "strided conv 1-D, stride ignored in backward": (lambda: StridedConv1D(wrong=True), (3, 11), "input",
                                                    "reaches only the first 7 of 11 positions"),
    "conv 2-D, weight gradient flipped": (lambda: KernelConv2D(bug="flipped"), (2, 2, 5, 5), "weights",
                                          "reversed along axis 2"),
    "conv 2-D, weight gradient's spatial axes swapped": (lambda: KernelConv2D(bug="transposed"), (2, 2, 5, 5),
                                                         "weights", "axes 1 and 2 swapped"),
})
CORRECT.update({"strided conv 1-D": (StridedConv1D, (3, 11)), "conv 2-D, one output map": (KernelConv2D, (2, 2, 5, 5))})


class OneRowShift(ScaleShift):
    """gamma * x + beta whose beta gradient is one batch row's error, the sum over the batch missing (``row`` 0:
    the first, -1: the last, as a loop that overwrites instead of adding leaves it)."""

    def __init__(self, row: int = 0) -> None:
        super().__init__()
        self.row = row

    def backward(self, e):
        grad = super().backward(e)
        self.gradient_beta = e[self.row].copy()
        return grad


class ConvBiasOneRow(KernelConv2D):
    """KernelConv2D's one output map with a bias (shape (1,)) added everywhere; ``wrong``: its gradient is the
    first sample's error summed over the map, the sum over the batch missing."""

    def __init__(self, wrong: bool = True) -> None:
        super().__init__()
        self.bias, self.wrong = np.array([0.3]), wrong

    def forward(self, x):
        return (super().forward(x) + self.bias[0])[:, None]         # (B, 1, I, J)

    def backward(self, e):
        dx = super().backward(e[:, 0])
        self.gradient_bias = (e[:1] if self.wrong else e).sum(axis=(0, 2, 3))
        return dx


BROKEN.update({
    "bias gradient of the first batch row only": (OneRowShift, (6, 4), "beta", "the first batch row's share alone"),
    "bias gradient of the last batch row only": (lambda: OneRowShift(-1), (6, 4), "beta",
                                                 "the last batch row's share alone"),
    "conv bias gradient of the first sample only": (ConvBiasOneRow, (3, 2, 5, 5), "bias",
                                                    "the first batch row's share alone"),
})
CORRECT.update({"conv 2-D with a bias": (lambda: ConvBiasOneRow(wrong=False), (3, 2, 5, 5))})
