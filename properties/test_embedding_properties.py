"""Embedding against an independent oracle: a lookup is a product with one-hot rows, ``W[x] = onehot(x) @ W``,
so its weight gradient is ``onehot(x).T @ E`` (repeated indices add up), and the gradient checker agrees."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from core import Embedding
from gradcheck import check_layer


@st.composite
def lookups(draw):
    vocabulary, size = draw(st.integers(1, 8)), draw(st.integers(1, 5))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    return Embedding(vocabulary, size, seed), rng.integers(0, vocabulary, shape), rng


def _one_hot(x: np.ndarray, vocabulary: int) -> np.ndarray:
    return (x.reshape(-1, 1) == np.arange(vocabulary)).astype(float)


@given(lookups())
def test_forward_and_backward_are_products_with_one_hot_rows(case):
    layer, x, rng = case
    hot = _one_hot(x, layer.vocabulary_size)
    y = layer.forward(x)
    np.testing.assert_allclose(y.reshape(-1, layer.embedding_size), hot @ layer.weights, rtol=0, atol=0)
    e = rng.standard_normal(y.shape)
    assert layer.backward(e) is None
    np.testing.assert_allclose(layer.gradient_weights, hot.T @ e.reshape(-1, layer.embedding_size),
                               rtol=1e-12, atol=1e-12)


@given(lookups())
def test_the_gradient_checker_agrees(case):
    layer, x, _ = case
    report = check_layer(layer, x)
    assert report.ok and [t.name for t in report.tensors] == ["weights"], str(report)
