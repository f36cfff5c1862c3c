"""The analytic gradients, taken so that the usual state bugs of hand-written layers show up as problems."""
from __future__ import annotations

import numpy as np

from gradcheck.state import Parameter

__all__ = ["STATE_LEAKS", "gradient_of", "layer_gradients", "same_gradients", "analytic_layer_pass"]

STATE_LEAKS = "the same forward then backward, run twice, gave different gradients: backward depends on the " \
               "calls before it (state leaks between calls, e.g. a gradient accumulated with += )"

def _changed(what: str, before: np.ndarray, after: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(before != after)[0])
    return f"{what} (element {idx} changed from {before[idx]:.6g} to {after[idx]:.6g})"


def gradient_of(value: object, expected_shape: tuple[int, ...], what: str, problems: list[str]) -> np.ndarray | None:
    if value is None:
        problems.append(f"{what} is None after backward: backward must set it")
        return None
    arr = np.asarray(value)
    if arr.shape != expected_shape:
        hint = " (transposed?)" if arr.shape == expected_shape[::-1] else ""
        problems.append(f"{what} has shape {arr.shape}, expected {expected_shape}{hint}")
        return None
    return arr.astype(np.float64, copy=True)


def layer_gradients(layer, x: np.ndarray, error: np.ndarray, params: list[Parameter],
                     problems: list[str]) -> dict[str, np.ndarray | None]:
    """forward(x); backward(E) on fresh copies, checking that neither call writes into what it was given."""
    x_in, e_in = x.copy(), error.copy()
    layer.forward(x_in)
    if not np.array_equal(x_in, x):
        problems.append(_changed("forward writes into its input array", x, x_in))
    grad = layer.backward(e_in)
    if not np.array_equal(e_in, error):
        problems.append(_changed("backward writes into the error_tensor it is given", error, e_in))
    grads = {"input": gradient_of(grad, x.shape, "backward's return value (the input gradient)", problems)}
    for p in params:
        grads[p.label] = gradient_of(getattr(p.owner, p.grad_name, None), p.start.shape, p.grad_name, problems)
        if p.reset():
            problems.append(f"backward changed {p.label} although the optimizer was detached "
                            "(with no optimizer the weights must never change)")
    return grads


def same_gradients(a: dict, b: dict) -> bool:
    return all((a[k] is None) == (b[k] is None) and (a[k] is None or np.allclose(a[k], b[k], rtol=1e-12, atol=0))
               for k in a)


def analytic_layer_pass(layer, x: np.ndarray, error: np.ndarray, params: list[Parameter],
                         problems: list[str]) -> dict[str, np.ndarray | None]:
    """The analytic gradients (the caller has just run forward on a different input, so a stale cache shows).

    Also checks that a second identical forward/backward gives the same result, and that a forward output
    sharing memory with its input cannot corrupt backward.
    """
    grads = layer_gradients(layer, x, error, params, problems)
    again = layer_gradients(layer, x, error, params, [])
    if not same_gradients(grads, again):
        problems.append(STATE_LEAKS)
    x_in = x.copy()
    y = layer.forward(x_in)
    if isinstance(y, np.ndarray) and np.shares_memory(y, x_in):
        y[...] = -2.0 * y - 1.0       # what a caller writing into the output would do to the layer's cache
        scribbled = {"input": gradient_of(layer.backward(error.copy()), x.shape, "input gradient", [])}
        if not same_gradients({"input": grads["input"]}, scribbled):
            problems.append("forward returns an array that shares memory with its input, and backward reads "
                            "it: writing into the output changed the gradient")
    return grads

