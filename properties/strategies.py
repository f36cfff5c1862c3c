"""Shared hypothesis strategies: bounded shapes, finite elements, extreme-but-finite magnitudes.

Inputs for the checker come from ``gradcheck.strategies`` (zeros, ties, tiny and large magnitudes), the
same strategies users get; value-bounded matrices stay here for laws that need a bounded range.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gradcheck.strategies import batches

BATCH = st.integers(1, 16)
WIDTH = st.integers(1, 16)
SHAPES = st.tuples(BATCH, WIDTH)

# no subnormal values (below 2.2e-308): no property here asks for them, and they would take examples from the
# cases that matter
UNIT = st.floats(-10, 10, allow_nan=False, allow_infinity=False, allow_subnormal=False)
FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)
EXTREME = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, allow_subnormal=False)
# values at and next to ReLU's kink, mixed with ordinary ones
NEAR_KINKS = st.one_of(st.just(0.0), st.just(-0.0), st.floats(-1e-7, 1e-7, allow_subnormal=False), UNIT)
SCALES = st.sampled_from([1e-3, 1.0, 1e2, 1e4])


def matrices(elements=UNIT, shapes=SHAPES, dtype=np.float64) -> st.SearchStrategy[np.ndarray]:
    return shapes.flatmap(lambda s: arrays(dtype, s, elements=elements))


MATRICES = matrices()
FINITE_MATRICES = matrices(FINITE)
#: what the checker is fed: gradcheck's own inputs (zeros, ties, tiny, large), or values at ReLU's kink
CHECKER_INPUTS = WIDTH.flatmap(lambda width: batches(width, 16))
KINKED_MATRICES = st.one_of(matrices(NEAR_KINKS), CHECKER_INPUTS)
FLOAT32_MATRICES = matrices(st.floats(-100, 100, width=32), dtype=np.float32)


@st.composite
def logits_with_row_scales(draw) -> np.ndarray:
    """Logits up to +-1e4 where each row has its own scale (the seed's global max turned small rows to NaN)."""
    base = draw(matrices(st.floats(-1, 1)))
    scales = np.array(draw(st.lists(SCALES, min_size=len(base), max_size=len(base))))
    return base * scales[:, None]


@st.composite
def one_hot(draw, shape: tuple[int, int]) -> np.ndarray:
    classes = draw(st.lists(st.integers(0, shape[1] - 1), min_size=shape[0], max_size=shape[0]))
    return np.eye(shape[1])[classes]


@st.composite
def probability_rows(draw, shape: tuple[int, int]) -> np.ndarray:
    """Rows that sum to 1, exact zeros included."""
    raw = draw(arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    raw[np.arange(shape[0]), raw.argmax(axis=1)] += 1e-3      # no all-zero row
    return raw / raw.sum(axis=1, keepdims=True)


@st.composite
def predictions_and_labels(draw) -> tuple[np.ndarray, np.ndarray]:
    shape = draw(SHAPES)
    return draw(probability_rows(shape)), draw(one_hot(shape))


SEEDS = st.integers(0, 2**32 - 1)
