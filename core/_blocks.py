"""Cache-sized blocks: several passes over one block read it from cache instead of memory.

A layer that makes two cheap passes over a large array (compute, then test finiteness) is bound by memory
traffic, not arithmetic. Walking the arrays block by block lets the second pass read what the first has
just touched; the Python loop costs about 1 us a block, under 1 % at this size.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

__all__ = ["BLOCK", "flat_blocks", "zeros_block"]

# elements per block: 1 MB of float64, one core's L2 share here; 128K-256K measured best for ReLU at 4096 x 1000
BLOCK = 1 << 17


def flat_blocks(*arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield tuples of matching 1-D views of ``BLOCK`` elements (the last may be shorter).

    The arrays must be C-contiguous and of one size, so that ``reshape(-1)`` is a view and element ``i`` of
    each block is the same logical element of every array.
    """
    flats = [a.reshape(-1) for a in arrays]
    for start in range(0, flats[0].size, BLOCK):
        yield tuple(flat[start:start + BLOCK] for flat in flats)


@functools.cache
def zeros_block(dtype: np.dtype) -> np.ndarray:
    """A read-only block of ``BLOCK`` zeros of ``dtype``, to slice for the last, shorter block.

    ``np.maximum(x, zeros)`` is 2.5x faster than ``np.maximum(x, 0)`` on a block in cache (numpy 2.4 here:
    23 us against 60 us for 128K float64): the scalar operand takes a slower, unvectorised loop.
    """
    zeros = np.zeros(BLOCK, dtype=dtype)
    zeros.setflags(write=False)
    return zeros
