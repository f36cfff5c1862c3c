"""Hypothesis strategies for checker inputs, for ``fuzz_layer`` and for your own ``@given`` tests.

Hand-written layers break at special inputs: exact zeros (ReLU's kink), ties (the max of a pool), tiny and
large magnitudes (underflow, saturation). These strategies mix them into ordinary values::

    from hypothesis import given
    from gradcheck.strategies import arrays, batches

    @given(batches(5))                      # (batch, 5) arrays, batch from 1 to 16
    def test_my_layer(x):
        assert_gradients(MyLayer(), x)

    @given(arrays((2, 3, 8, 8)))            # any fixed shape, or a strategy of shapes
    def test_my_conv(x): ...
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

__all__ = ["ELEMENTS", "arrays", "batches"]

_SIGNS = st.sampled_from([1.0, -1.0])
# where standard normal values lie; shrinks towards 0
_ORDINARY = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)
_TINY = st.builds(lambda m, s: m * s, st.floats(1e-8, 1e-5), _SIGNS)
_LARGE = st.builds(lambda m, s: m * s, st.floats(10.0, 1e3), _SIGNS)

#: one element: an ordinary value, an exact zero, a tiny magnitude (1e-8 to 1e-5) or a large one (10 to 1e3)
ELEMENTS: SearchStrategy[float] = st.one_of(_ORDINARY, st.just(0.0), _TINY, _LARGE)


def _with_ties(draw, values: np.ndarray) -> np.ndarray:
    """Copy some elements onto others (ties); shrinks towards none."""
    if values.size > 1:
        index = st.integers(0, values.size - 1)
        for target, source in draw(st.lists(st.tuples(index, index), max_size=min(values.size, 8))):
            values.flat[target] = values.flat[source]
    return values


@st.composite
def arrays(draw, shape: int | tuple[int, ...] | SearchStrategy) -> np.ndarray:
    """float64 arrays of ``shape`` (an int, a tuple, or a strategy of either) whose elements mix ordinary
    values, exact zeros, tiny and large magnitudes (:data:`ELEMENTS`), with some elements copied onto
    others to make ties. Everything shrinks towards small shapes, zeros and no ties."""
    if isinstance(shape, SearchStrategy):
        shape = draw(shape)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    return _with_ties(draw, draw(hnp.arrays(np.float64, shape, elements=ELEMENTS)))


@st.composite
def batches(draw, features: int | tuple[int, ...], max_batch: int = 16) -> np.ndarray:
    """``(batch, *features)`` arrays (elements as in :func:`arrays`) with ``1 <= batch <= max_batch``;
    ``features`` is an int, or a tuple for N-D inputs such as ``(channels, height, width)``. Rows are drawn
    as a list, so a failure shrinks to the fewest rows that still show it."""
    trailing = (features,) if isinstance(features, (int, np.integer)) else tuple(features)
    if max_batch < 1:
        raise ValueError(f"batches: max_batch must be >= 1, got {max_batch}")
    row = hnp.arrays(np.float64, trailing, elements=ELEMENTS)
    return _with_ties(draw, np.stack(draw(st.lists(row, min_size=1, max_size=max_batch))))
