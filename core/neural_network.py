"""A sequential network: data layer -> layers -> loss layer."""
from __future__ import annotations

import contextlib
import copy

import numpy as np

from core.layer import Phase

__all__ = ["NeuralNetwork"]


class NeuralNetwork:
    """The seed's network container.

    Parameters
    ----------
    optimizer : object with ``calculate_update(w, g)``
        Each trainable layer appended gets its own deep copy.
    weights_initializer, bias_initializer : objects with ``initialize(shape, fan_in, fan_out)``, optional
        When given, every trainable layer appended is initialised with them.

    Attributes
    ----------
    layers : list
        Applied in order by ``forward`` and in reverse by ``backward``.
    loss : list of float
        One entry per ``train`` iteration.
    data_layer : object
        ``forward()`` (or ``next()``) returns ``(input_tensor, label_tensor)``.
    loss_layer : object
        ``forward(prediction, label)`` returns the loss, ``backward(label)`` its gradient.
    """

    def __init__(self, optimizer, weights_initializer=None, bias_initializer=None) -> None:
        self.optimizer = optimizer
        self.weights_initializer = weights_initializer
        self.bias_initializer = bias_initializer
        self.layers: list = []
        self.loss: list[float] = []
        self.data_layer = None
        self.loss_layer = None
        self._label_tensor: np.ndarray | None = None
        self._testing = False

    def _next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        if self.data_layer is None:
            raise RuntimeError("NeuralNetwork.forward: data_layer is not set; assign an object whose "
                               "forward() or next() returns (input_tensor, label_tensor)")
        fetch = getattr(self.data_layer, "forward", None) or getattr(self.data_layer, "next", None)
        if fetch is None:
            raise TypeError(f"NeuralNetwork.data_layer must have forward() or next(), "
                            f"got {type(self.data_layer).__name__}")
        return fetch()

    @property
    def phase(self) -> bool:
        """True in the testing phase, False in training; setting it sets every layer's ``testing_phase``."""
        return self._testing

    @phase.setter
    def phase(self, testing: bool | Phase) -> None:
        """True/False, or a :class:`~core.layer.Phase` (``Phase.test``, ``Phase.train``)."""
        self._testing = testing is not Phase.train if isinstance(testing, Phase) else bool(testing)
        for layer in self.layers:
            layer.testing_phase = self._testing

    def _forward_layers(self, input_tensor: np.ndarray) -> np.ndarray:
        output = input_tensor
        for layer in self.layers:
            output = layer.forward(output)
        return output

    def regularization_loss(self) -> float:
        """The sum of ``norm(weights)`` of every trainable layer whose optimizer has a regularizer."""
        total = 0.0
        for layer in self.layers:
            regularizer = getattr(getattr(layer, "optimizer", None), "regularizer", None)
            if getattr(layer, "trainable", False) and regularizer is not None:
                total += regularizer.norm(layer.weights)
        return total

    def forward(self) -> float:
        """Run one batch from ``data_layer`` through the layers and the loss; return the loss, plus the
        regularizers' norms of the trainable layers' weights."""
        if self.loss_layer is None:
            raise RuntimeError("NeuralNetwork.forward: loss_layer is not set")
        input_tensor, label_tensor = self._next_batch()
        output = self._forward_layers(input_tensor)
        self._label_tensor = label_tensor
        return self.loss_layer.forward(output, label_tensor) + self.regularization_loss()

    def backward(self) -> None:
        """Propagate the loss gradient of the last ``forward`` back through every layer."""
        if self._label_tensor is None:
            raise RuntimeError("NeuralNetwork.backward called before forward: call forward() first")
        error = self.loss_layer.backward(self._label_tensor)
        for layer in reversed(self.layers):
            error = layer.backward(error)

    def append_trainable_layer(self, layer) -> None:
        """Initialise ``layer`` (if the network has initializers), give it a deep copy of the network's
        optimizer, then append it."""
        if self.weights_initializer is not None or self.bias_initializer is not None:
            if self.weights_initializer is None or self.bias_initializer is None:
                raise ValueError("NeuralNetwork: give both weights_initializer and bias_initializer, or neither")
            layer.initialize(self.weights_initializer, self.bias_initializer)
        layer.optimizer = copy.deepcopy(self.optimizer)
        self.layers.append(layer)

    def append_layer(self, layer) -> None:
        """Append ``layer``; trainable layers get an optimizer copy as in ``append_trainable_layer``."""
        if getattr(layer, "trainable", False):
            self.append_trainable_layer(layer)
        else:
            self.layers.append(layer)

    def train(self, iterations: int) -> None:
        """In the training phase, run ``iterations`` forward/backward passes, appending each loss to ``self.loss``."""
        if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
            raise ValueError(f"NeuralNetwork.train: iterations must be an int >= 0, got {iterations!r}")
        self.phase = False
        with self._blas_threads():
            for _ in range(iterations):
                self.loss.append(self.forward())
                self.backward()

    SMALL_WEIGHTS = 1 << 16     # elements: FullyConnected(256, 256) and every layer of the course's networks

    def _blas_threads(self):
        """One BLAS thread while training a network whose weights are all small: its products are too small
        for BLAS threads to pay, and beside busy cores each threaded call waits for a thread (the digits CNN
        took 94 s instead of 7.5 s at a load of 13 on 2 cores). Larger layers keep every thread."""
        sizes = [np.size(getattr(layer, "weights", ())) for layer in self.layers]
        if max(sizes, default=0) > self.SMALL_WEIGHTS:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1, user_api="blas")

    def test(self, input_tensor: np.ndarray) -> np.ndarray:
        """In the testing phase, return the last layer's output for ``input_tensor`` (no loss, no label)."""
        self.phase = True
        return self._forward_layers(input_tensor)
