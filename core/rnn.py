"""Elman recurrent layer."""
from __future__ import annotations

import numpy as np

from core._recurrent import Recurrent

__all__ = ["RNN"]


class RNN(Recurrent):
    """``h_t = tanh(FC_h([x_t, h_{t-1}]))``, ``y_t = sigmoid(FC_y(h_t))`` over a sequence ``(time, input_size)``.

    ``weights`` are FC_h's, of shape ``(input_size + hidden_size + 1, hidden_size)``; see :class:`Recurrent`
    for memory and optimizers.
    """

    gates = 1

    def _zero_state(self) -> tuple[np.ndarray]:
        return (np.zeros(self.hidden_size),)

    def _run(self, x, state):
        (h,) = state
        w = self.hidden_layer.weights
        inputs = np.empty((len(x), self.input_size + self.hidden_size))
        hidden = np.empty((len(x), self.hidden_size))
        for t in range(len(x)):                 # the loop over time; everything in a step is vectorised
            inputs[t, :self.input_size], inputs[t, self.input_size:] = x[t], h
            h = np.tanh(inputs[t] @ w[:-1] + w[-1])
            hidden[t] = h
        return hidden, (inputs, hidden), (h.copy(),)

    def _back_through_time(self, cache, grad_hidden):
        inputs, hidden = cache
        w = self.hidden_layer.weights[:-1]
        grad_pre = np.empty_like(hidden)
        grad_input = np.empty((len(hidden), self.input_size))
        carry = np.zeros(self.hidden_size)      # dL/dh_t through h_{t+1}
        for t in reversed(range(len(hidden))):
            grad_pre[t] = (grad_hidden[t] + carry) * (1.0 - hidden[t] ** 2)     # through tanh
            grad_step = w @ grad_pre[t]
            grad_input[t], carry = grad_step[:self.input_size], grad_step[self.input_size:]
        return grad_input, grad_pre, inputs
