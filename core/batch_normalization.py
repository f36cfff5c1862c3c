"""Batch normalisation per channel, for vectors (b, C) and images (b, C, y, x)."""
from __future__ import annotations

import numpy as np

from core._validation import require_finite
from core.layer import BiasedLayer

__all__ = ["BatchNormalization"]

EPS = 1e-10             # inside the square root, as in the exercise
MOMENTUM = 0.8          # moving average = 0.8 * average + 0.2 * batch statistic


class BatchNormalization(BiasedLayer):
    """``Y = gamma * (X - mean) / sqrt(var + eps) + beta`` per channel.

    Training normalises with the batch's mean and (biased, ``np.var``) variance and updates the moving
    averages, ``avg = 0.8 * avg + 0.2 * batch`` (the first training batch sets them); testing uses the
    moving averages, so it is an affine map per channel.

    Parameters
    ----------
    channels : int

    Attributes
    ----------
    weights : ndarray of shape (channels,)
        gamma, ones at the start.
    bias : ndarray of shape (channels,)
        beta, zeros at the start.
    gradient_weights, gradient_bias : set by ``backward``
    optimizer : the bias gets its own deep copy.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
            raise ValueError(f"BatchNormalization: channels must be an int >= 1, got {channels!r}")
        self.channels = int(channels)
        self._weights, self._bias = np.ones(self.channels), np.zeros(self.channels)
        self.moving_mean: np.ndarray | None = None
        self.moving_var: np.ndarray | None = None
        self._image_shape: tuple[int, ...] | None = None

    # ------------------------------------------------------------------------------------- parameters
    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weights": (self.channels,), "bias": (self.channels,)}

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of the last image given to :meth:`reformat` (the name other years of the course use)."""
        return self._image_shape

    @input_shape.setter
    def input_shape(self, shape: tuple[int, ...] | None) -> None:
        self._image_shape = None if shape is None else tuple(int(s) for s in shape)

    def initialize(self, weights_initializer=None, bias_initializer=None) -> None:
        """gamma and beta stay ones and zeros, whatever the initializers (as in the exercise)."""
        self._weights, self._bias = np.ones(self.channels), np.zeros(self.channels)

    # ------------------------------------------------------------------------------------- shapes
    def reformat(self, tensor: np.ndarray) -> np.ndarray:
        """Image ``(b, C, y, x)`` -> vectors ``(b*y*x, C)``, and back (to the shape of the last image given)."""
        if tensor.ndim == 4:
            self._image_shape = tensor.shape
            return np.moveaxis(tensor, 1, -1).reshape(-1, tensor.shape[1])
        if self._image_shape is None:
            raise RuntimeError("BatchNormalization.reformat: a vector tensor can only be turned back into an image "
                               "after an image was reformatted")
        b, c, y, x = self._image_shape
        return np.moveaxis(tensor.reshape(b, y, x, c), -1, 1)

    # ------------------------------------------------------------------------------------- the maths
    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (batch, channels) or (batch, channels, y, x) -> the same shape."""
        x = self._check_tensor(input_tensor, (2, 4), finite=False)     # tested through the statistics below
        self._check_parameters()
        if x.shape[1] != self.channels:
            raise ValueError(f"{self.name}.forward: input_tensor must have {self.channels} channels on axis 1, "
                             f"got shape {x.shape}")
        image = x.ndim == 4
        v = self.reformat(x) if image else x
        if self.testing_phase:
            require_finite(x, f"{self.name}.forward", "input_tensor")
            mean = np.zeros(self.channels) if self.moving_mean is None else self.moving_mean
            var = np.ones(self.channels) if self.moving_var is None else self.moving_var
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                mean, var = v.mean(axis=0), v.var(axis=0)
            # a NaN or inf anywhere in a channel makes its mean or variance NaN or inf: no pass of its own
            if not (np.isfinite(mean).all() and np.isfinite(var).all()):
                self._non_finite(x, "forward", "input_tensor")
            first = self.moving_mean is None
            self.moving_mean = mean.copy() if first else MOMENTUM * self.moving_mean + (1 - MOMENTUM) * mean
            self.moving_var = var.copy() if first else MOMENTUM * self.moving_var + (1 - MOMENTUM) * var
        inv_std = 1.0 / np.sqrt(var + EPS)
        x_hat = (v - mean) * inv_std
        y = x_hat * self._weights + self._bias
        self._remember((x_hat, inv_std, image, self.testing_phase), x.shape)
        return self.reformat(y) if image else y

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E -> dL/dX through gamma, the mean and the variance; sets gradient_weights (gamma), gradient_bias.

        Training, per channel over the N rows: with g = E * gamma,
        dX = inv_std / N * (N g - sum g - x_hat * sum(g * x_hat)); testing: dX = g * inv_std.
        """
        (x_hat, inv_std, image, testing), e = self._recall(error_tensor, finite=False)
        if image:
            self._image_shape = e.shape
        ev = self.reformat(e) if image else e
        with np.errstate(invalid="ignore", over="ignore"):
            self._gradient_weights = np.sum(ev * x_hat, axis=0)
            self._gradient_bias = ev.sum(axis=0)
        # the bias gradient is the error summed per channel: NaN or inf exactly where the error has one
        if not np.isfinite(self._gradient_bias).all():
            self._non_finite(e, "backward", "error_tensor")
        g = ev * self._weights
        if testing:
            grad = g * inv_std
        else:
            n = len(ev)
            grad = inv_std / n * (n * g - g.sum(axis=0) - x_hat * np.sum(g * x_hat, axis=0))
        if self._optimizer is not None:
            self._weights = self._optimizer.calculate_update(self._weights, self._gradient_weights)
            self._bias = self._bias_optimizer.calculate_update(self._bias, self._gradient_bias)
        return self.reformat(grad) if image else grad

    def _non_finite(self, arr: np.ndarray, method: str, name: str) -> None:
        """Name the first NaN/inf of ``arr``; if there is none, a sum over a channel overflowed."""
        require_finite(arr, f"{self.name}.{method}", name)
        raise ValueError(f"{self.name}.{method}: a sum over a channel of {name} overflowed although it is finite "
                         f"(max |value| {np.abs(arr).max():.3g})")

    def __repr__(self) -> str:
        return f"BatchNormalization({self.channels})"
