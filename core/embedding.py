"""Embedding: a lookup of one learned vector per index."""
from __future__ import annotations

import numpy as np

from core._initializer import random_source
from core._validation import positive_int
from core.layer import TrainableLayer

__all__ = ["Embedding"]


class Embedding(TrainableLayer):
    """``Y[..., :] = W[X[...]]``: each integer of the input picks a row of ``weights``.

    Parameters
    ----------
    vocabulary_size, embedding_size : int
    rng : numpy.random.Generator or int or None
        Source of the initial weights, standard normal.

    Attributes
    ----------
    weights : ndarray of shape (vocabulary_size, embedding_size)
    gradient_weights : ndarray of shape (vocabulary_size, embedding_size)
        Set by ``backward``: row ``v`` is the sum of the error rows of every position that holds index ``v``
        (an index that occurs twice gets both), zero for indices that do not occur.
    optimizer : object with ``calculate_update(w, g)`` or None
        When set, ``backward`` updates ``weights`` with it; when None the weights never change.
    """

    def __init__(self, vocabulary_size: int, embedding_size: int,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.vocabulary_size = positive_int(vocabulary_size, "Embedding", "vocabulary_size")
        self.embedding_size = positive_int(embedding_size, "Embedding", "embedding_size")
        self._weights = random_source(rng).standard_normal((self.vocabulary_size, self.embedding_size))

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weights": (self.vocabulary_size, self.embedding_size)}

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        """X : integer ndarray of shape (batch, ...) in [0, vocabulary_size) -> ndarray of shape
        (batch, ..., embedding_size)."""
        x = np.asarray(input_tensor)
        self._check_parameters()
        if x.dtype.kind not in "iu":
            raise TypeError(f"{self.name}.forward: input_tensor must hold integer indices, got dtype {x.dtype}")
        if x.ndim < 1 or x.size == 0:
            raise ValueError(f"{self.name}.forward: input_tensor must have a batch axis and at least one index, "
                             f"got shape {x.shape}")
        bad = (x < 0) | (x >= self.vocabulary_size)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise IndexError(f"{self.name}.forward: index {x[first]} at {first} is outside [0, "
                             f"{self.vocabulary_size})")
        self._remember(x.copy(), x.shape + (self.embedding_size,))
        return self._weights[x]         # fancy indexing: a new array, never a view of the weights

    def backward(self, error_tensor: np.ndarray) -> None:
        """E : ndarray of shape (batch, ..., embedding_size) -> None (indices have no gradient).

        dL/dW[v] = sum of E[p] over the positions p with X[p] = v: ``np.add.at`` adds repeated indices once
        each (``grad[X] += E`` would keep only one of them)."""
        x, e = self._recall(error_tensor)
        grad = np.zeros_like(self._weights)
        np.add.at(grad, x.ravel(), e.reshape(-1, self.embedding_size))
        self._gradient_weights = grad
        if self._optimizer is not None:
            self._weights = self._optimizer.calculate_update(self._weights, grad)
        return None

    def __repr__(self) -> str:
        return f"{self.name}({self.vocabulary_size}, {self.embedding_size})"
