"""Fully connected (affine) layer with the bias stored as the last row of the weights."""
from __future__ import annotations

import numpy as np

from core._initializer import random_source
from core._validation import all_finite, positive_int, require_finite
from core.layer import TrainableLayer

__all__ = ["FullyConnected"]

# elements per block of output rows that forward adds the bias to and tests while they are in cache:
# 1 MB of float64, one core's L2 share here
BLOCK = 1 << 17



class FullyConnected(TrainableLayer):
    """``Y = X @ W[:-1] + W[-1]``.

    Parameters
    ----------
    input_size, output_size : int
    rng : numpy.random.Generator or int or None
        Source of the initial weights: Glorot uniform, and the bias row uniform in [0.5, 1), strictly positive
        so that ReLU units start alive (with the seed's 3 hidden units on iris, a bias in [0.1, 0.5) left all
        three dead in 5 of 100 seeds, [0.5, 1) in none). None: numpy's global random state.
    dtype : numpy float dtype, default float64
        dtype of the weights; float32 weights with float32 input keep the whole pass in float32.

    Attributes
    ----------
    weights : ndarray of shape (input_size + 1, output_size)
        Rows ``0..input_size-1`` are the weight matrix, the last row is the bias.
    gradient_weights : ndarray of shape (input_size + 1, output_size)
        Set by ``backward``: ``X.T @ E`` stacked on ``E.sum(axis=0)``.
    optimizer : object with ``calculate_update(w, g)`` or None
        When set, ``backward`` updates ``weights`` with it; when None the weights never change.
    """

    def __init__(self, input_size: int, output_size: int, rng: np.random.Generator | int | None = None,
                 dtype: np.dtype | type = np.float64) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "FullyConnected", "input_size")
        self.output_size = positive_int(output_size, "FullyConnected", "output_size")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"FullyConnected: dtype must be a float dtype, got {dtype}")
        rng = random_source(rng)
        limit = np.sqrt(6.0 / (self.input_size + self.output_size))
        weights = np.empty((self.input_size + 1, self.output_size), dtype=dtype)
        weights[:-1] = rng.uniform(-limit, limit, (self.input_size, self.output_size))
        weights[-1] = rng.uniform(0.5, 1.0, self.output_size)  # strictly positive: ReLU units start alive
        self._weights = weights

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weights": (self.input_size + 1, self.output_size)}

    def initialize(self, weights_initializer, bias_initializer) -> None:
        """Fill the weight rows (fan_in = input_size, fan_out = output_size) and the bias row; dtype kept."""
        n_in, n_out = self.input_size, self.output_size
        weights = np.empty_like(self._weights)
        weights[:-1] = weights_initializer.initialize((n_in, n_out), n_in, n_out)
        weights[-1] = np.reshape(bias_initializer.initialize((1, n_out), n_in, n_out), n_out)
        self._weights = weights

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, input_size) -> ndarray of shape (batch, output_size)."""
        x = self._check_input(input_tensor, self.input_size, finite=False)
        self._check_parameters()
        w = self._weights
        with np.errstate(all="ignore"):     # a NaN/inf input is reported below, with its index
            out = np.matmul(x, w[:-1])
            finite = self._add_bias(out, w[-1])
        if not finite:                      # NaN/inf in X or W reach the output (or it overflowed)
            self._explain_non_finite_output(x)
        self._remember(x, out.shape)
        return out

    @staticmethod
    def _add_bias(out: np.ndarray, bias: np.ndarray) -> bool:
        """``out += bias`` in blocks of whole rows, each tested for finiteness while it is in cache; False as
        soon as a block is not finite. Called inside ``np.errstate(all="ignore")``.

        Only numpy's BLAS is used. scipy's ``gemm`` with ``beta = 1`` on an output filled with the bias row
        would fold the add into the product, but scipy ships a second OpenBLAS with its own threads, and
        alternating the two libraries (that forward, numpy's matmul in backward) made forward+backward at
        256x512x256 4x slower (8 ms instead of 2): each library's threads spin for a while after a call, and
        the other's threaded call waits for a core."""
        rows = max(1, BLOCK // out.shape[1])
        for start in range(0, len(out), rows):
            block = out[start:start + rows]
            block += bias
            if not all_finite(block):
                return False
        return True

    def _explain_non_finite_output(self, x: np.ndarray) -> None:
        require_finite(x, f"{self.name}.forward", "input_tensor")
        require_finite(self._weights, f"{self.name}.forward", "weights")
        raise ValueError(f"{self.name}.forward: the output overflowed to inf although input and weights are "
                         f"finite (max |input| {np.abs(x).max():.3g}, max |weight| {np.abs(self._weights).max():.3g})")

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E : ndarray of shape (batch, output_size) -> dL/dX of shape (batch, input_size).

        dL/dX = E @ W[:-1].T (weights before the update), dL/dW[:-1] = X.T @ E, dL/db = sum_rows E.
        """
        x, e = self._recall(error_tensor, finite=False)
        w = self._weights
        grad_w = np.empty(w.shape, dtype=np.result_type(x, e))
        with np.errstate(over="ignore", invalid="ignore"):     # NaN/inf/overflow are reported just below
            np.add.reduce(e, axis=0, out=grad_w[-1])   # the ufunc directly: np.sum adds ~1 us per call
        # the bias row is the column sums of E: NaN or inf anywhere in E makes its column's sum NaN or inf,
        # so testing that short row stands for a pass over E (an overflowing sum is told apart below)
        if not np.isfinite(grad_w[-1]).all():
            require_finite(e, f"{self.name}.backward", "error_tensor")
            raise ValueError(f"{self.name}.backward: the sum of error_tensor over the batch overflowed to inf "
                             f"although it is finite (max |error| {np.abs(e).max():.3g})")
        grad_input = e @ w[:-1].T
        np.matmul(x.T, e, out=grad_w[:-1])
        self._gradient_weights = grad_w
        if self._optimizer is not None:
            self._weights = self._optimizer.calculate_update(w, grad_w)
        return grad_input

    def __repr__(self) -> str:
        return f"{self.name}({self.input_size}, {self.output_size})"
