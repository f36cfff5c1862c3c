"""Inverted dropout."""
from __future__ import annotations

import numpy as np

from core.layer import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Training: ``X * mask / p`` with ``mask`` drawn from numpy's global random state (``np.random.seed``
    reproduces it), each unit kept with probability ``p``; testing: the identity.

    Parameters
    ----------
    probability : float in (0, 1]
        The keep probability ``p``.
    """

    def __init__(self, probability: float) -> None:
        super().__init__()
        if isinstance(probability, bool) or not isinstance(probability, (int, float, np.floating)) or \
                not 0.0 < probability <= 1.0:
            raise ValueError(f"Dropout: probability (the keep probability) must be in (0, 1], got {probability!r}")
        self.probability = float(probability)

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        x = self._check_tensor(input_tensor)
        if self.testing_phase:
            self._remember(None, x.shape)
            return x.copy()
        scale = (np.random.random(x.shape) < self.probability) / self.probability
        self._remember(scale, x.shape)
        return x * scale.astype(x.dtype, copy=False)

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        """E -> E * mask / p with forward's mask (E itself in the testing phase)."""
        scale, e = self._recall(error_tensor)
        return e.copy() if scale is None else e * scale.astype(e.dtype, copy=False)

    def __repr__(self) -> str:
        return f"Dropout({self.probability})"
