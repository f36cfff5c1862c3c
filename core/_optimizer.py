"""What the optimizers share: the learning-rate check and the shape check of ``calculate_update``."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["check_rate", "check_update_arguments"]


def check_rate(owner: str, name: str, value: object, upper: float | None = None) -> float:
    """A finite number > 0 (and < ``upper`` when given), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0 or (upper is not None and value >= upper):
        bound = f"in (0, {upper:g})" if upper is not None else "finite and > 0"
        raise ValueError(f"{owner}: {name} must be {bound}, got {value}")
    return float(value)


def check_update_arguments(owner: str, weight_tensor: object, gradient_tensor: object) -> None:
    if np.shape(weight_tensor) != np.shape(gradient_tensor):
        raise ValueError(f"{owner}.calculate_update: gradient_tensor must have the shape of weight_tensor "
                         f"{np.shape(weight_tensor)}, got {np.shape(gradient_tensor)}")
