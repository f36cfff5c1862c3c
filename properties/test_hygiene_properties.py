"""No layer writes into its input; float32 in gives float32 out."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from core import CrossEntropyLoss, FullyConnected, ReLU, SoftMax
from properties.strategies import FLOAT32_MATRICES, MATRICES, predictions_and_labels

LAYERS = st.sampled_from(["fc", "relu", "softmax"])


def _make(kind, width, dtype):
    return {"fc": lambda: FullyConnected(width, 3, np.random.default_rng(0), dtype=dtype),
            "relu": ReLU, "softmax": SoftMax}[kind]()


@given(MATRICES, LAYERS)
def test_layers_never_write_into_their_arguments(x, kind):
    layer = _make(kind, x.shape[1], np.float64)
    x0 = x.copy()
    y = layer.forward(x)
    e = np.ones_like(y)
    layer.backward(e)
    np.testing.assert_array_equal(x, x0)
    assert (e == 1).all()
    assert not np.shares_memory(x, y)


@given(FLOAT32_MATRICES, LAYERS)
def test_float32_in_float32_out(x, kind):
    layer = _make(kind, x.shape[1], np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


@given(predictions_and_labels())
def test_loss_never_writes_into_its_arguments(case):
    p, y = case
    p0, y0 = p.copy(), y.copy()
    loss = CrossEntropyLoss()
    loss.forward(p, y)
    loss.backward(y)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(y, y0)


@given(MATRICES, st.sampled_from(["relu", "softmax"]))
def test_row_independent_layers_batch_equals_stacked_rows(x, kind):
    layer = _make(kind, x.shape[1], np.float64)
    rows = np.vstack([layer.forward(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(layer.forward(x), rows)
