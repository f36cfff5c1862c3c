"""Adam (Kingma and Ba, 2015)."""
from __future__ import annotations

import numpy as np

from core._optimizer import Optimizer, check_rate

__all__ = ["Adam"]

EPS = 1e-8


class Adam(Optimizer):
    """Bias-corrected Adam.

    ``v <- mu v + (1 - mu) g``, ``r <- rho r + (1 - rho) g^2``, then with ``k`` the step count
    ``w <- w - learning_rate * v_hat / (sqrt(r_hat) + eps)``, ``v_hat = v / (1 - mu^k)``,
    ``r_hat = r / (1 - rho^k)``, ``eps = 1e-8``. The moments belong to one tensor: a layer gives each of its
    tensors its own copy of the optimizer.
    """

    def __init__(self, learning_rate: float, mu: float = 0.9, rho: float = 0.999) -> None:
        super().__init__(learning_rate)
        self.mu = check_rate("Adam", "mu", mu, upper=1.0)
        self.rho = check_rate("Adam", "rho", rho, upper=1.0)
        self.v: np.ndarray | float = 0.0
        self.r: np.ndarray | float = 0.0
        self.k = 0

    def _step(self, weight_tensor, gradient_tensor):
        g = gradient_tensor
        self.k += 1
        self.v = self.mu * self.v + (1.0 - self.mu) * g
        self.r = self.rho * self.r + (1.0 - self.rho) * g * g
        v_hat = self.v / (1.0 - self.mu ** self.k)
        r_hat = self.r / (1.0 - self.rho ** self.k)
        return weight_tensor - self.learning_rate * v_hat / (np.sqrt(r_hat) + EPS)

    def __repr__(self) -> str:
        return f"Adam(learning_rate={self.learning_rate}, mu={self.mu}, rho={self.rho})"
