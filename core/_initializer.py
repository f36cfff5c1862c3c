"""What every initializer shares: the argument checks of ``initialize(weights_shape, fan_in, fan_out)``."""
from __future__ import annotations

import numpy as np

__all__ = ["Initializer", "random_source"]


def random_source(rng: np.random.Generator | int | None):
    """A Generator for a seed or Generator; for None, the ``np.random`` module itself, whose functions
    (``normal``, ``uniform``, ``standard_normal``) draw from the global state that ``np.random.seed`` sets."""
    return np.random if rng is None or rng is np.random else np.random.default_rng(rng)


class Initializer:
    """Base of the initializers: ``initialize(weights_shape, fan_in, fan_out)`` returns a new float64 array.

    Parameters
    ----------
    rng : numpy.random.Generator or int or None
        Source of random draws. None: numpy's global random state, so ``np.random.seed`` reproduces them (as
        the course's tests expect).
    """

    def __init__(self, rng: np.random.Generator | int | None = None) -> None:
        self._rng = random_source(rng)

    def initialize(self, weights_shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
        shape = tuple(int(s) for s in np.atleast_1d(weights_shape))
        if min(shape, default=1) < 1:
            raise ValueError(f"{type(self).__name__}.initialize: weights_shape must have sizes >= 1, got {shape}")
        for name, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
            if isinstance(fan, bool) or not isinstance(fan, (int, np.integer)) or fan < 1:
                raise ValueError(f"{type(self).__name__}.initialize: {name} must be an int >= 1, got {fan!r}")
        return self._draw(shape, int(fan_in), int(fan_out))

    def _draw(self, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
        raise NotImplementedError  # abstract

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
