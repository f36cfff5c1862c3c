"""What RNN and LSTM share: the sub-layers, memory, the optimizers, and the output layer y_t = sigmoid(FC_y(h_t))."""
from __future__ import annotations

import copy

import numpy as np

from core._initializer import random_source
from core.fully_connected import FullyConnected
from core.layer import TrainableLayer
from core.sigmoid import Sigmoid

__all__ = ["Recurrent"]


def _size(value: object, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be an int >= 1, got {value!r}")
    return int(value)


class Recurrent(TrainableLayer):
    """Base of the recurrent layers. The input is one sequence ``(time, input_size)``: the first axis is time.

    Sub-layers: ``hidden_layer``, a FullyConnected on ``[x_t, h_{t-1}]`` with ``gates * hidden_size`` outputs
    (its weights are this layer's ``weights``), and ``output_layer``, FC_y on ``h_t``. ``memorize=False``
    starts every forward from a zero state; True carries the last state over. ``optimizer`` applies to both
    sub-layers (each gets its own deep copy), once per backward, with the gradients summed over time.
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        owner = type(self).__name__
        self.input_size = _size(input_size, "input_size", owner)
        self.hidden_size = _size(hidden_size, "hidden_size", owner)
        self.output_size = _size(output_size, "output_size", owner)
        rng = random_source(rng)
        self.hidden_layer = FullyConnected(self.input_size + self.hidden_size, self.gates * self.hidden_size, rng)
        self.output_layer = FullyConnected(self.hidden_size, self.output_size, rng)
        self._sigmoid = Sigmoid()
        self.memorize = False
        self._state: tuple[np.ndarray, ...] | None = None       # carried over when memorize is True
        self._optimizers: dict[str, object] = {}

    @property
    def weights(self) -> np.ndarray:
        """The hidden (gate) layer's weights, shape ``(input_size + hidden_size + 1, gates * hidden_size)``."""
        return self.hidden_layer.weights

    @weights.setter
    def weights(self, value: np.ndarray) -> None:
        self.hidden_layer.weights = value

    @property
    def gradient_weights(self) -> np.ndarray | None:
        return self.hidden_layer.gradient_weights

    def _optimizer_set(self, value) -> None:
        """Each sub-layer gets its own copy, applied once per backward."""
        self._optimizers = {} if value is None else {"hidden": copy.deepcopy(value), "output": copy.deepcopy(value)}

    def initialize(self, weights_initializer, bias_initializer) -> None:
        self.hidden_layer.initialize(weights_initializer, bias_initializer)
        self.output_layer.initialize(weights_initializer, bias_initializer)

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : ndarray of shape (time, input_size) -> ndarray of shape (time, output_size)."""
        x = self._check_input(input_tensor, self.input_size)
        start = self._state if self.memorize and self._state is not None else self._zero_state()
        hidden, cache, last = self._run(x, start)
        if self.memorize:
            self._state = last
        self._remember(cache, (len(x), self.output_size))
        return self._sigmoid.forward(self.output_layer.forward(hidden))

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E : ndarray of shape (time, output_size) -> dL/dX of shape (time, input_size).

        Back through the output layer for all steps at once, then back through time; the hidden layer's
        gradient is the sum over time, set by one pass of the sub-layer over the stacked step inputs.
        """
        cache, e = self._recall(error_tensor)
        grad_hidden = self.output_layer.backward(self._sigmoid.backward(e))
        grad_input, grad_pre, inputs = self._back_through_time(cache, grad_hidden)
        self.hidden_layer.forward(inputs)
        self.hidden_layer.backward(grad_pre)           # sets hidden_layer.gradient_weights, summed over time
        for key, layer in (("hidden", self.hidden_layer), ("output", self.output_layer)):
            optimizer = self._optimizers.get(key)
            if optimizer is not None:
                layer.weights = optimizer.calculate_update(layer.weights, layer.gradient_weights)
        return grad_input

    def _zero_state(self) -> tuple[np.ndarray, ...]:
        raise NotImplementedError  # abstract

    def _run(self, x: np.ndarray, state: tuple[np.ndarray, ...]):
        """(hidden states (time, hidden), cache for backward, last state)."""
        raise NotImplementedError  # abstract

    def _back_through_time(self, cache, grad_hidden: np.ndarray):
        """(dL/dX, dL/d pre-activations (time, gates*hidden), the stacked step inputs [x_t, h_{t-1}])."""
        raise NotImplementedError  # abstract

    def __repr__(self) -> str:
        return f"{self.name}({self.input_size}, {self.hidden_size}, {self.output_size})"
