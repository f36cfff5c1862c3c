"""Data layers on scikit-learn's bundled data sets (no download)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["SklearnData", "IrisData", "DigitsData", "RunningSumSigns", "one_hot"]


def one_hot(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """labels : int ndarray of shape (n,) -> float64 ndarray of shape (n, num_classes)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"one_hot: labels must be a 1-D int array, got shape {labels.shape} dtype {labels.dtype}")
    k = int(labels.max()) + 1 if num_classes is None else num_classes
    out = np.zeros((labels.size, k))
    out[np.arange(labels.size), labels] = 1.0
    return out


class SklearnData:
    """A shuffled 2/3 train, 1/3 test split of a scikit-learn data set, served in batches.

    Features are divided by their largest absolute value; labels are one-hot. The training part is
    reshuffled at the start of every epoch; the last batch of an epoch may be smaller.

    Parameters
    ----------
    loader : callable returning a ``Bunch`` with ``data`` and ``target``
    batch_size : int
    rng : numpy.random.Generator or int or None
    sample_shape : tuple of int, optional
        Shape of one sample (``(1, 8, 8)`` serves digits as images for a convolution); default flat.
    """

    def __init__(self, loader: Callable, batch_size: int, rng: np.random.Generator | int | None = None,
                 sample_shape: tuple[int, ...] | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"{type(self).__name__}: batch_size must be an int >= 1, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self._rng = np.random.default_rng(rng)
        bunch = loader()
        features = np.asarray(bunch.data, dtype=np.float64)
        features = features / np.abs(features).max()
        if sample_shape is not None:
            features = features.reshape(len(features), *sample_shape)
        labels = one_hot(np.asarray(bunch.target))
        order = self._rng.permutation(len(features))
        self._data, self._label = features[order], labels[order]
        self.split = int(len(features) * 2 / 3)
        # plain state, no generator, so that a deep copy serves the same batches (gradcheck relies on it)
        self._epoch_order = np.zeros(0, dtype=int)
        self._position = 0

    def forward(self) -> tuple[np.ndarray, np.ndarray]:
        """Next training batch: (input of shape (batch, features), one-hot labels of shape (batch, classes))."""
        if self._position >= len(self._epoch_order):
            self._epoch_order, self._position = self._rng.permutation(self.split), 0
        idx = self._epoch_order[self._position:self._position + self.batch_size]
        self._position += self.batch_size
        return self._data[idx], self._label[idx]

    next = forward

    def get_train_set(self) -> tuple[np.ndarray, np.ndarray]:
        return self._data[:self.split], self._label[:self.split]

    def get_test_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The held-out third: (input, one-hot labels)."""
        return self._data[self.split:], self._label[self.split:]


class IrisData(SklearnData):
    """Iris: 150 x 4 features, 3 classes (100 train, 50 test)."""

    def __init__(self, batch_size: int, rng: np.random.Generator | int | None = None) -> None:
        from sklearn.datasets import load_iris  # imported here: scikit-learn is slow to import

        super().__init__(load_iris, batch_size, rng)


class DigitsData(SklearnData):
    """Digits: 1797 x 64 (8x8 images), 10 classes (1198 train, 599 test); ``images=True`` serves
    ``(batch, 1, 8, 8)``."""

    def __init__(self, batch_size: int, rng: np.random.Generator | int | None = None, images: bool = False) -> None:
        from sklearn.datasets import load_digits

        super().__init__(load_digits, batch_size, rng, (1, 8, 8) if images else None)


class RunningSumSigns:
    """A sequence task: one sequence ``(length, 1)`` of standard normal steps per batch; the label at each step
    is the sign of the running sum so far, one-hot ``(length, 2)`` (class 1: sum >= 0). Solving it needs
    memory, so it is a task for a recurrent layer (the batch axis is time).

    Parameters
    ----------
    length : int
    rng : numpy.random.Generator or int or None
    test_sequences : int
        How many fixed sequences ``get_test_set`` returns (drawn once, never served by ``forward``'s stream).
    """

    def __init__(self, length: int = 20, rng: np.random.Generator | int | None = None,
                 test_sequences: int = 100) -> None:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise ValueError(f"RunningSumSigns: length must be an int >= 1, got {length!r}")
        self.length = int(length)
        self._rng = np.random.default_rng(rng)
        test_rng = np.random.default_rng(self._rng.integers(2**63))
        self._test = [self._sequence(test_rng) for _ in range(test_sequences)]

    def _sequence(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = rng.standard_normal((self.length, 1))
        return x, one_hot((np.cumsum(x[:, 0]) >= 0).astype(int), 2)

    def forward(self) -> tuple[np.ndarray, np.ndarray]:
        """A new sequence and its labels."""
        return self._sequence(self._rng)

    next = forward

    def get_test_set(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Fixed (sequence, labels) pairs."""
        return list(self._test)
