"""Long short-term memory layer."""
from __future__ import annotations

import numpy as np

from core._recurrent import Recurrent

__all__ = ["LSTM"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


class LSTM(Recurrent):
    """Standard gates on ``u_t = [x_t, h_{t-1}]``: ``[f, i, g, o] = FC_gates(u_t)`` (sigmoid, sigmoid, tanh,
    sigmoid), ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``, ``y_t = sigmoid(FC_y(h_t))``.

    ``weights`` are the gate layer's, of shape ``(input_size + hidden_size + 1, 4 * hidden_size)``, columns in
    the order forget, input, candidate, output; see :class:`Recurrent` for memory and optimizers.
    """

    gates = 4

    def _zero_state(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.hidden_size), np.zeros(self.hidden_size)

    def _run(self, x, state):
        h, c = state
        n, w = self.hidden_size, self.hidden_layer.weights
        steps = len(x)
        inputs = np.empty((steps, self.input_size + n))
        gates = np.empty((steps, 4 * n))          # f, i, g, o after their nonlinearities
        cells, hidden = np.empty((steps + 1, n)), np.empty((steps, n))
        cells[0] = c
        for t in range(steps):                    # the loop over time; everything in a step is vectorised
            inputs[t, :self.input_size], inputs[t, self.input_size:] = x[t], h
            z = inputs[t] @ w[:-1] + w[-1]
            gates[t, :2 * n], gates[t, 2 * n:3 * n], gates[t, 3 * n:] = \
                _sigmoid(z[:2 * n]), np.tanh(z[2 * n:3 * n]), _sigmoid(z[3 * n:])
            f, i, g, o = np.split(gates[t], 4)
            cells[t + 1] = f * cells[t] + i * g
            h = o * np.tanh(cells[t + 1])
            hidden[t] = h
        return hidden, (inputs, gates, cells), (h.copy(), cells[-1].copy())

    def _back_through_time(self, cache, grad_hidden):
        inputs, gates, cells = cache
        n, w = self.hidden_size, self.hidden_layer.weights[:-1]
        steps = len(inputs)
        grad_pre = np.empty((steps, 4 * n))
        grad_input = np.empty((steps, self.input_size))
        carry_h, carry_c = np.zeros(n), np.zeros(n)       # dL/dh_t and dL/dc_t through step t+1
        for t in reversed(range(steps)):
            f, i, g, o = np.split(gates[t], 4)
            tanh_c = np.tanh(cells[t + 1])
            dh = grad_hidden[t] + carry_h
            dc = dh * o * (1.0 - tanh_c ** 2) + carry_c
            # through each gate's nonlinearity: sigmoid' = s(1-s), tanh' = 1-t^2
            grad_pre[t] = np.concatenate([dc * cells[t] * f * (1 - f), dc * g * i * (1 - i),
                                          dc * i * (1 - g ** 2), dh * tanh_c * o * (1 - o)])
            grad_step = w @ grad_pre[t]
            grad_input[t], carry_h = grad_step[:self.input_size], grad_step[self.input_size:]
            carry_c = dc * f
        return grad_input, grad_pre, inputs
