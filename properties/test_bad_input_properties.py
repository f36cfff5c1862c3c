"""Bad input: the fast finiteness test is exact, and every layer names a NaN/inf element wherever it sits.

The layers test finiteness with numpy's single-threaded sum, per cache-sized block, or through a sum they
compute anyway (the loss). These laws hold those shortcuts to the plain definition: on any layout, dtype and
magnitude (huge finite values overflow the shortcut's sum and must still count as finite), and for a bad
element at any index, including across block boundaries. ReLU tests nothing: its maths carries every bad
element to the same index of its result (``max(NaN, 0)`` is NaN, ``inf * 0`` is NaN), which is the law it is
held to; ``-inf`` in its input is its limit, 0.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core import CrossEntropyLoss, FullyConnected, ReLU, Sigmoid, SoftMax, TanH
from core._validation import all_finite, dot_product
from properties.strategies import predictions_and_labels

BAD = st.sampled_from([np.nan, np.inf, -np.inf])
LAYOUTS = st.sampled_from(["C", "F", "strided", "transposed"])
DTYPES = st.sampled_from([np.float16, np.float32, np.float64])
SHAPES = st.tuples(st.integers(1, 40), st.integers(1, 40))


def laid_out(a: np.ndarray, layout: str) -> np.ndarray:
    """The same values as ``a`` in another memory layout."""
    if layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        wide = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
        wide[:, ::2] = a
        return wide[:, ::2]
    return np.ascontiguousarray(a.T).T


@st.composite
def poisoned(draw, dtype=None, shapes=SHAPES, elements=None):
    """(array, bad indices): finite values of any magnitude of the dtype, then 0-3 elements set to NaN/inf."""
    dtype = np.dtype(dtype or draw(DTYPES))
    if elements is None:
        elements = st.floats(allow_nan=False, allow_infinity=False, width=8 * dtype.itemsize)
    a = draw(arrays(dtype, draw(shapes), elements=elements))
    spots = draw(st.lists(st.tuples(st.integers(0, a.shape[0] - 1), st.integers(0, a.shape[1] - 1)),
                          max_size=3, unique=True))
    for spot in spots:
        a[spot] = draw(BAD)
    return laid_out(a, draw(LAYOUTS)), spots


@given(poisoned())
def test_all_finite_is_exact(case):
    a, spots = case
    assert all_finite(a) == (not spots)


@given(poisoned(np.float64, elements=st.floats(-1e100, 1e100)), st.data())
def test_dot_product_is_the_sum_of_products(case, data):
    a, spots = case
    b = laid_out(data.draw(arrays(np.float64, a.shape, elements=st.floats(-1e100, 1e100))), "C")
    value = dot_product(a, b)
    if spots:
        assert not np.isfinite(value)       # NaN and inf propagate (0 * inf is NaN)
    else:
        # any summation order is within n eps sum|a b| of the exact sum, so within 2 n eps of each other
        products = a * b
        bound = 2 * a.size * np.finfo(float).eps * float(np.sum(np.abs(products)))
        assert abs(value - float(np.sum(products))) <= bound


def _named(owner: str, name: str, index: tuple[int, ...]) -> str:
    where = ", ".join(map(str, index))
    return rf"{owner}: {name} must be finite, got \d+ NaN/inf element\(s\), first at index \({where}\)"


LAYERS = {"SoftMax": SoftMax, "TanH": TanH, "Sigmoid": Sigmoid,
          "FullyConnected": lambda width: FullyConnected(width, 3, np.random.default_rng(0))}


@given(st.sampled_from(sorted(LAYERS)), poisoned(np.float64, elements=st.floats(-10, 10)))
def test_a_layer_names_the_first_bad_input_and_error_element(kind, case):
    x, spots = case
    make = LAYERS[kind]
    layer = make(x.shape[1]) if kind == "FullyConnected" else make()
    if not spots:
        layer.backward(np.ones_like(layer.forward(x)))
        return
    first = min(spots)                      # the first bad element in row-major order
    with pytest.raises(ValueError, match=_named(f"{kind}.forward", "input_tensor", first)):
        layer.forward(x)
    clean = np.where(np.isfinite(x), x, 0.5)
    layer.forward(clean)
    if kind == "FullyConnected":            # the error has the output's width: move the spots into it
        e = np.ones((x.shape[0], 3))
        spots = sorted({(i, j % 3) for i, j in spots})
        for spot in spots:
            e[spot] = np.nan
        first = min(spots)
    else:
        e = np.where(np.isfinite(x), 1.0, x)
    with pytest.raises(ValueError, match=_named(f"{kind}.backward", "error_tensor", first)):
        layer.backward(e)


@given(poisoned(), st.data())
def test_relu_carries_each_bad_element_to_its_own_index(case, data):
    """ReLU tests nothing: NaN and +inf of X reach Y at their index, -inf gives ReLU's limit 0; NaN and inf of E
    reach the gradient at their index whatever the mask (``inf * 0`` is NaN), and no finite element turns bad."""
    x, spots = case
    layer = ReLU()
    y = layer.forward(x)
    np.testing.assert_array_equal(~np.isfinite(y), np.isnan(x) | (x == np.inf))
    assert (y[x == -np.inf] == 0).all()
    e = np.ones_like(x)
    for spot in data.draw(st.lists(st.sampled_from(list(np.ndindex(x.shape))), max_size=3)):
        e[spot] = data.draw(BAD)
    grad = layer.backward(laid_out(e, data.draw(LAYOUTS)))
    np.testing.assert_array_equal(~np.isfinite(grad), ~np.isfinite(e))


@given(predictions_and_labels(), st.sampled_from(["prediction_tensor", "label_tensor"]), BAD, st.data())
def test_the_loss_names_a_bad_element_of_either_argument(case, argument, bad, data):
    p, y = case
    index = data.draw(st.tuples(st.integers(0, p.shape[0] - 1), st.integers(0, p.shape[1] - 1)))
    spoiled = (p if argument == "prediction_tensor" else y).copy()
    spoiled[index] = bad
    args = (spoiled, y) if argument == "prediction_tensor" else (p, spoiled)
    with pytest.raises(ValueError, match=_named("CrossEntropyLoss.forward", argument, index)):
        CrossEntropyLoss().forward(*args)
    if argument == "label_tensor":
        loss = CrossEntropyLoss()
        loss.forward(p, y)
        with pytest.raises(ValueError, match=_named("CrossEntropyLoss.backward", argument, index)):
            loss.backward(spoiled)
