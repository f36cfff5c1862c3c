"""The small base class every layer derives from."""
from __future__ import annotations

import copy
import enum
from typing import Any

import numpy as np

from core._validation import as_batch, as_tensor, check_shape

__all__ = ["Layer", "TrainableLayer", "BiasedLayer", "Phase"]


class Phase(enum.Enum):
    """The phase as other years of the course name it: ``layer.phase = Phase.test`` is
    ``layer.testing_phase = True`` (validation counts as testing)."""

    train = "train"
    test = "test"
    validation = "validation"


class Layer:
    """Base of all layers: the forward cache and the checks on ``backward``'s error tensor.

    Subclasses implement ``forward(input_tensor)`` and ``backward(error_tensor)``. ``forward`` stores what
    ``backward`` needs with :meth:`_remember`; ``backward`` fetches it with :meth:`_recall`, which raises
    ``RuntimeError`` if ``forward`` has not run yet. ``testing_phase`` is False (training) until set.
    """

    trainable: bool = False

    def __init__(self) -> None:
        self._cache: Any = None
        self._output_shape: tuple[int, ...] | None = None
        self.testing_phase = False      # True: the testing phase (Dropout off, BatchNorm's moving averages)

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def phase(self) -> Phase:
        """:class:`Phase` alias of ``testing_phase``."""
        return Phase.test if self.testing_phase else Phase.train

    @phase.setter
    def phase(self, value: Phase | bool) -> None:
        self.testing_phase = value is not Phase.train if isinstance(value, Phase) else bool(value)

    def _check_input(self, input_tensor: object, width: int | None = None, finite: bool = True) -> np.ndarray:
        """A 2-D ``(batch, width)`` input."""
        return as_batch(input_tensor, f"{self.name}.forward", "input_tensor", width, finite)

    def _check_tensor(self, input_tensor: object, ndims: tuple[int, ...] | None = None,
                      finite: bool = True) -> np.ndarray:
        """An input of any rank (or of a rank in ``ndims``), batch first."""
        return as_tensor(input_tensor, f"{self.name}.forward", "input_tensor", ndims, finite)

    def _remember(self, cache: Any, output_shape: tuple[int, ...]) -> None:
        self._cache = cache
        self._output_shape = output_shape

    def _recall(self, error_tensor: object, finite: bool = True) -> tuple[Any, np.ndarray]:
        """Return ``(cache, error)`` with ``error`` checked against the shape of the last forward output.

        ``finite=False`` leaves NaN/inf to the caller: a test of its own, or a result that carries them."""
        if self._output_shape is None:
            raise RuntimeError(f"{self.name}.backward called before forward: call forward(input_tensor) first")
        error = as_tensor(error_tensor, f"{self.name}.backward", "error_tensor", finite=finite)
        check_shape(error, self._output_shape, f"{self.name}.backward", "error_tensor", "the last forward output")
        return self._cache, error

    def __repr__(self) -> str:
        return f"{self.name}()"


class TrainableLayer(Layer):
    """A layer with ``weights``, ``gradient_weights`` and a settable ``optimizer``.

    ``weights`` (and ``bias``) take any real array: integers are cast to the layer's float dtype, and any shape
    is accepted at assignment (course code reshapes in steps); ``forward`` checks the shapes against
    :meth:`_expected_shapes` and names what it expected.
    """

    trainable = True

    def __init__(self) -> None:
        super().__init__()
        self._weights: np.ndarray = np.empty(0)
        self._gradient_weights: np.ndarray | None = None
        self._optimizer = None

    def _replacement(self, value: object, current: np.ndarray, name: str) -> np.ndarray:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}.{name} must be a real numeric array, got dtype {arr.dtype}")
        if arr.dtype.kind != "f":
            arr = arr.astype(current.dtype if current.dtype.kind == "f" else np.float64)
        return arr

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape each parameter must have when forward runs (name -> shape)."""
        return {"weights": self._weights.shape}

    def _check_parameters(self) -> None:
        """Raise ``ValueError`` naming the parameter whose assigned shape forward cannot use."""
        for name, shape in self._expected_shapes().items():
            actual = getattr(self, name).shape
            if actual != tuple(shape):
                raise ValueError(f"{self.name}.forward: {name} must have shape {tuple(shape)}, got {actual} "
                                 f"(as assigned to {self.name}.{name})")

    def set_optimizer(self, optimizer) -> None:
        """Alias of ``layer.optimizer = optimizer`` (other years of the course)."""
        self.optimizer = optimizer

    @property
    def weights(self) -> np.ndarray:
        return self._weights

    @weights.setter
    def weights(self, value: np.ndarray) -> None:
        self._weights = self._replacement(value, self._weights, "weights")


    @property
    def gradient_weights(self) -> np.ndarray | None:
        """Gradient of the loss w.r.t. ``weights`` from the last ``backward`` (None before it)."""
        return self._gradient_weights

    @property
    def optimizer(self):
        return self._optimizer

    @optimizer.setter
    def optimizer(self, value) -> None:
        if value is not None and not callable(getattr(value, "calculate_update", None)):
            raise TypeError(f"{self.name}.optimizer must have calculate_update(w, g), got {type(value).__name__}")
        self._optimizer = value
        self._optimizer_set(value)

    def _optimizer_set(self, value) -> None:
        """Give the layer's other tensors their own copies of the optimizer (none here)."""


class BiasedLayer(TrainableLayer):
    """A trainable layer with its own ``bias`` tensor and ``gradient_bias``; the bias gets a deep copy of the
    optimizer, so stateful optimizers (momentum, Adam) keep separate state per tensor."""

    def __init__(self) -> None:
        super().__init__()
        self._bias: np.ndarray = np.empty(0)
        self._gradient_bias: np.ndarray | None = None
        self._bias_optimizer = None

    @property
    def bias(self) -> np.ndarray:
        return self._bias

    @bias.setter
    def bias(self, value: np.ndarray) -> None:
        self._bias = self._replacement(value, self._bias, "bias")

    @property
    def gradient_bias(self) -> np.ndarray | None:
        return self._gradient_bias

    def _optimizer_set(self, value) -> None:
        self._bias_optimizer = copy.deepcopy(value)
