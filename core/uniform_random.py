"""Uniform random initializer."""
from __future__ import annotations

import numpy as np

from core._initializer import Initializer

__all__ = ["UniformRandom"]


class UniformRandom(Initializer):
    """Weights uniform on [0, 1)."""

    def _draw(self, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
        return self._rng.uniform(0.0, 1.0, shape)
