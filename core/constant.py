"""Constant initializer."""
from __future__ import annotations

import numpy as np

from core._initializer import Initializer

__all__ = ["Constant"]


class Constant(Initializer):
    """Every weight ``value`` (default 0.1, the exercise's bias default)."""

    def __init__(self, value: float = 0.1) -> None:
        super().__init__()
        self.value = float(value)

    def _draw(self, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
        return np.full(shape, self.value)

    def __repr__(self) -> str:
        return f"Constant({self.value})"
