"""He normal initializer."""
from __future__ import annotations

import numpy as np

from core._initializer import Initializer

__all__ = ["He"]


class He(Initializer):
    """Weights normal with mean 0 and std ``sqrt(2 / fan_in)`` (He et al., 2015), for ReLU networks."""

    def _draw(self, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
        return self._rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
