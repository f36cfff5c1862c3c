"""The checks: ``check_layer``, ``check_loss``, ``check_network`` and ``assert_gradients``.

Each is a short pipeline: prepare inputs -> hold the state -> analytic pass (with hygiene checks) ->
numeric differences per tensor -> compare and diagnose -> report.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradcheck.diagnosis import diagnose
from gradcheck.numeric import (
    DOMAIN_ERRORS,
    SAFETY,
    Readout,
    column_groups,
    compare,
    directional_difference,
    element_groups,
    finite_differences,
)
from gradcheck.report import ElementError, GradcheckReport, GradientCheckError, TensorCheck
from gradcheck.state import HeldState, Parameter, held

__all__ = ["check_layer", "check_loss", "check_network", "assert_gradients"]

_MODES = ("full", "fast")
_WORST = 5
_DIRECTIONS = 2
_F64_EPS = float(np.finfo(np.float64).eps)
_DEFAULT_RTOL = {8: 1e-6, 4: 1e-3, 2: 3e-2}     # by the itemsize of the precision the layer computes in
_STATE_LEAKS = "the same forward then backward, run twice, gave different gradients: backward depends on the " \
               "calls before it (state leaks between calls, e.g. a gradient accumulated with += )"


@dataclass
class _Settings:
    mode: str
    step: float
    eps: float      # machine epsilon of the precision the function is computed in
    rtol: float
    atol: float


# ---------------------------------------------------------------------------------------------- inputs

def _as_float64(value: object, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"gradcheck: {what} must be a real numeric array or a shape tuple, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"gradcheck: {what} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"gradcheck: {what} must be finite")
    return arr.astype(np.float64, copy=True)


def _is_shape(value: object) -> bool:
    return isinstance(value, tuple) and len(value) > 0 and all(isinstance(v, (int, np.integer)) for v in value)


def _input_array(inputs: object, rng: np.random.Generator) -> np.ndarray:
    if _is_shape(inputs):
        return rng.standard_normal(tuple(int(v) for v in inputs))
    return _as_float64(inputs, "inputs")


def _probabilities(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal(shape)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def _one_hot_like(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    label = np.zeros(shape)
    flat = label.reshape(-1, shape[-1])
    flat[np.arange(len(flat)), rng.integers(0, shape[-1], len(flat))] = 1.0
    return label


def _settings(mode: str, eps: float | None, rtol: float | None, atol: float, output: object,
              report: GradcheckReport) -> _Settings:
    """Working precision from the dtype the function returns; float32 widens the defaults, said in the report."""
    if mode not in _MODES:
        raise ValueError(f"gradcheck: mode must be one of {_MODES}, got {mode!r}")
    dtype = np.asarray(output).dtype
    itemsize = dtype.itemsize if dtype.kind == "f" and dtype.itemsize in _DEFAULT_RTOL else 8
    machine_eps = float(np.finfo(f"f{itemsize}").eps)
    step = machine_eps ** (1 / 3) if eps is None else float(eps)
    chosen_rtol = _DEFAULT_RTOL[itemsize] if rtol is None else float(rtol)
    if itemsize < 8:
        report.warnings.append(
            f"the layer computes in {dtype} even for float64 input and weights, so it is checked in {dtype}: "
            f"step widened to {step:.2g} and rtol to {chosen_rtol:g} (float64 would use "
            f"{_F64_EPS ** (1 / 3):.2g} and {_DEFAULT_RTOL[8]:g})")
    report.step, report.rtol, report.atol = step, chosen_rtol, float(atol)
    return _Settings(mode, step, machine_eps, chosen_rtol, float(atol))


# ----------------------------------------------------------------------------------------- analytic pass

def _changed(what: str, before: np.ndarray, after: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(before != after)[0])
    return f"{what} (element {idx} changed from {before[idx]:.6g} to {after[idx]:.6g})"


def _gradient(value: object, expected_shape: tuple[int, ...], what: str, problems: list[str]) -> np.ndarray | None:
    if value is None:
        problems.append(f"{what} is None after backward: backward must set it")
        return None
    arr = np.asarray(value)
    if arr.shape != expected_shape:
        hint = " (transposed?)" if arr.shape == expected_shape[::-1] else ""
        problems.append(f"{what} has shape {arr.shape}, expected {expected_shape}{hint}")
        return None
    return arr.astype(np.float64, copy=True)


def _layer_gradients(layer, x: np.ndarray, error: np.ndarray, params: list[Parameter],
                     problems: list[str]) -> dict[str, np.ndarray | None]:
    """forward(x); backward(E) on fresh copies, checking that neither call writes into what it was given."""
    x_in, e_in = x.copy(), error.copy()
    layer.forward(x_in)
    if not np.array_equal(x_in, x):
        problems.append(_changed("forward writes into its input array", x, x_in))
    grad = layer.backward(e_in)
    if not np.array_equal(e_in, error):
        problems.append(_changed("backward writes into the error_tensor it is given", error, e_in))
    grads = {"input": _gradient(grad, x.shape, "backward's return value (the input gradient)", problems)}
    for p in params:
        grads[p.label] = _gradient(getattr(p.owner, p.grad_name, None), p.start.shape, p.grad_name, problems)
        if p.reset():
            problems.append(f"backward changed {p.label} although the optimizer was detached "
                            "(with no optimizer the weights must never change)")
    return grads


def _same(a: dict, b: dict) -> bool:
    return all((a[k] is None) == (b[k] is None) and (a[k] is None or np.allclose(a[k], b[k], rtol=1e-12, atol=0))
               for k in a)


def _analytic_layer_pass(layer, x: np.ndarray, error: np.ndarray, params: list[Parameter],
                         problems: list[str]) -> dict[str, np.ndarray | None]:
    """The analytic gradients (the caller has just run forward on a different input, so a stale cache shows).

    Also checks that a second identical forward/backward gives the same result, and that a forward output
    sharing memory with its input cannot corrupt backward.
    """
    grads = _layer_gradients(layer, x, error, params, problems)
    again = _layer_gradients(layer, x, error, params, [])
    if not _same(grads, again):
        problems.append(_STATE_LEAKS)
    x_in = x.copy()
    y = layer.forward(x_in)
    if isinstance(y, np.ndarray) and np.shares_memory(y, x_in):
        y[...] = -2.0 * y - 1.0       # what a caller writing into the output would do to the layer's cache
        scribbled = {"input": _gradient(layer.backward(error.copy()), x.shape, "input gradient", [])}
        if not _same({"input": grads["input"]}, scribbled):
            problems.append("forward returns an array that shares memory with its input, and backward reads "
                            "it: writing into the output changed the gradient")
    return grads


# ---------------------------------------------------------------------------------------------- numerics

def _layer_readout(layer, x: np.ndarray, error: np.ndarray) -> Readout:
    """Per-row values of sum(forward(x) * E) and their magnitudes (row i only depends on row i if independent)."""
    def readout() -> tuple[np.ndarray, np.ndarray]:
        y = np.asarray(layer.forward(x.copy()))
        if y.shape != error.shape:
            raise RuntimeError(f"gradcheck: forward returned shape {y.shape} for a perturbed input, "
                               f"but {error.shape} before")
        terms = (y * error).reshape(len(y), -1)
        return terms.sum(axis=1), np.abs(terms).sum(axis=1)
    return readout


def _scalar_readout(evaluate: Callable[[], float]) -> Readout:
    def readout() -> tuple[np.ndarray, np.ndarray]:
        value = float(evaluate())
        return np.array([value]), np.array([abs(value)])
    return readout


def _rows_independent(layer, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> bool:
    """Moving some rows of x must leave the other rows of the output bit-for-bit alone (checked, not assumed)."""
    if len(x) == 1:
        return True
    moved = np.zeros(len(x), dtype=bool)
    moved[rng.permutation(len(x))[: len(x) // 2]] = True
    for rows in (moved, ~moved):
        x2 = x.copy()
        x2[rows] *= rng.uniform(0.5, 1.5, x2[rows].shape)
        x2[rows] += rng.standard_normal(x2[rows].shape) * 0.1
        try:
            y2 = np.asarray(layer.forward(x2))
        except DOMAIN_ERRORS:
            return False
        if y2.shape != y.shape or not np.array_equal(y2[~rows], y[~rows]):
            return False
    return True


def _worst(index_shape: tuple[int, ...], flat: np.ndarray, analytic: np.ndarray, numeric: np.ndarray,
           error: np.ndarray, tolerance: np.ndarray) -> list[ElementError]:
    return [ElementError(tuple(int(v) for v in np.unravel_index(i, index_shape)), float(analytic[i]),
                         float(numeric[i]), float(error[i]), float(tolerance[i])) for i in flat]


def _full_check(name: str, tensor: np.ndarray, analytic: np.ndarray, readout: Readout, groups, method: str,
                s: _Settings, batch: int | None) -> TensorCheck:
    d = finite_differences(tensor, groups, readout, s.step, s.eps)
    a = analytic.ravel()
    c = compare(a, d, s.rtol, s.atol)
    with np.errstate(all="ignore"):
        # relative to the gradient's size, floored at the rounding noise so tiny gradients don't read as 100 %
        size = np.maximum(np.maximum(np.abs(a), np.abs(d.numeric)), np.maximum(SAFETY * d.rounding, 1e-300))
        rel = np.where(c.checked & ~c.kink, c.error / size, 0.0)
        badness = np.where(c.checked, c.error / np.maximum(c.tolerance, 1e-300), -1.0)
    pool = np.flatnonzero(c.failed) if c.failed.any() else np.flatnonzero(c.checked)
    order = pool[np.argsort(-badness[pool], kind="stable")][:_WORST]
    skipped: dict[str, int] = {}
    for reason in d.skipped.values():
        skipped[reason] = skipped.get(reason, 0) + 1
    hint = diagnose(name, analytic, d.numeric.reshape(tensor.shape), c.failed.reshape(tensor.shape),
                    c.tolerance.reshape(tensor.shape), batch)
    max_abs = float(np.where(c.kink, 0.0, c.error).max(initial=0.0))
    return TensorCheck(name=name, shape=tuple(tensor.shape), method=method, checked=int(c.checked.sum()),
                       failed=int(c.failed.sum()), max_abs_error=max_abs, max_rel_error=float(rel.max(initial=0.0)),
                       worst=_worst(tensor.shape, order, a, d.numeric, c.error, c.tolerance),
                       kinks=int(c.kink.sum()), skipped=skipped, hint=hint)


def _fast_check(tensor: np.ndarray, analytic: np.ndarray, readout: Readout, s: _Settings,
                rng: np.random.Generator) -> tuple[bool, float, float, str]:
    """Directional derivatives along random directions: O(1) evaluations whatever the tensor's size."""
    worst_err, worst_rel, detail = 0.0, 0.0, ""
    for _ in range(_DIRECTIONS):
        u = rng.standard_normal(tensor.shape)
        direction = u / np.abs(u).max() * np.maximum(np.abs(tensor), 1.0)
        try:
            numeric, coarse, rounding = directional_difference(tensor, direction, readout, s.step, s.eps)
        except DOMAIN_ERRORS as exc:     # the full check skips just the elements outside the domain
            return False, worst_err, worst_rel, f"forward raised {type(exc).__name__} along a random direction"
        expected = float(np.sum(analytic * direction))
        error = abs(expected - numeric)
        tol = s.atol + s.rtol * abs(numeric) + SAFETY * (abs(coarse - numeric) + rounding)
        worst_err = max(worst_err, error)
        worst_rel = max(worst_rel, error / max(abs(expected), abs(numeric), 1e-300))
        if not error <= tol:
            return False, worst_err, worst_rel, f"directional derivative: analytic {expected:.6g}, " \
                                                f"numeric {numeric:.6g}, tolerance {tol:.3g}"
        detail = f"{_DIRECTIONS} random directions agree"
    return True, worst_err, worst_rel, detail


def _check_tensor(name: str, tensor: np.ndarray, analytic: np.ndarray | None, readout: Readout, groups,
                  method: str, s: _Settings, rng: np.random.Generator, batch: int | None) -> TensorCheck | None:
    if analytic is None:        # already reported as a problem (missing or wrong shape)
        return None
    if s.mode == "fast":
        passed, err, rel, detail = _fast_check(tensor, analytic, readout, s, rng)
        if passed:
            return TensorCheck(name, tuple(tensor.shape), "directions", tensor.size, 0, err, rel, note=detail)
        check = _full_check(name, tensor, analytic, readout, groups, method, s, batch)
        verdict = "localised the wrong elements" if not check.ok else \
            f"passed{f' ({check.kinks} kinks within the step)' if check.kinks else ''}"
        check.note = f"fast check failed ({detail}); the full check {verdict}"
        return check
    return _full_check(name, tensor, analytic, readout, groups, method, s, batch)


def _mark_stale(report: GradcheckReport, recheck: Callable[[], list[TensorCheck | None]]) -> None:
    """If the failed gradients are right for the input of the earlier forward call, say it is a stale cache."""
    failed = {t.name for t in report.tensors if not t.ok}
    again = [c for c in recheck() if c is not None and c.name in failed]
    if failed and len(again) == len(failed) and all(c.ok for c in again):
        for t in report.tensors:
            if not t.ok:
                t.hint = "backward returned the gradient for the input of an earlier forward call, not the " \
                         "latest one (stale cache): store the input (or what backward needs) on every forward"


def _describe(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 60 and " at 0x" not in text else type(obj).__name__


def _finish(report: GradcheckReport, state: HeldState, checks: list[TensorCheck | None]) -> GradcheckReport:
    report.tensors.extend(c for c in checks if c is not None)
    report.warnings.extend(state.warnings)
    if state.promoted:
        report.warnings.append(f"{', '.join(state.promoted)} checked as float64 copies (restored afterwards)")
    return report


# ------------------------------------------------------------------------------------------- public API

def check_layer(layer, inputs, *, mode: str = "full", eps: float | None = None, rtol: float | None = None,
                atol: float = 0.0, seed: int = 0) -> GradcheckReport:
    """Check ``layer.backward`` (and ``gradient_weights``) against finite differences of ``layer.forward``.

    Parameters
    ----------
    layer : object with ``forward(x)`` and ``backward(e)``; optionally ``weights``/``gradient_weights``
        (and ``bias``/``gradient_bias``) and ``optimizer``, which is detached during the check.
    inputs : ndarray of shape (batch, ...) or tuple of int
        The input, or its shape (standard normal values drawn with ``seed``). Never modified.
    mode : {"full", "fast"}
        "full" checks every element; "fast" checks random directional derivatives and falls back to the
        full check for a tensor that fails, so failures still come with indices.
    eps : float, optional
        Relative step; default the cube root of the machine epsilon of the precision the layer computes in.
    rtol, atol : float
        Added to the tolerance derived from the error estimates. rtol defaults to 1e-6 (1e-3 for a layer
        that computes in float32).
    seed : int
        Seeds the input (when a shape is given), the upstream error E and the fast-mode directions.

    Returns
    -------
    GradcheckReport
        The checked scalar is ``sum(forward(x) * E)``; one entry for the input and one per parameter.
    """
    rng = np.random.default_rng(seed)
    x = _input_array(inputs, rng)
    x_other = x * rng.uniform(0.5, 1.5, x.shape) + 0.1 * rng.standard_normal(x.shape)
    report = GradcheckReport(target=_describe(layer), mode=mode, seed=seed, step=0.0, rtol=0.0, atol=atol)
    with held([("", layer)]) as state:
        y = layer.forward(x_other.copy())      # first call on another input: a cache that sticks shows up
        s = _settings(mode, eps, rtol, atol, y, report)
        error = rng.standard_normal(np.shape(y))
        grads = _analytic_layer_pass(layer, x, error, state.parameters, report.problems)
        independent = _rows_independent(layer, x, np.asarray(layer.forward(x.copy())), rng)
        groups, method = (column_groups(x.shape), "columns") if independent else (element_groups(x.size),
                                                                                  "elements")

        def compare_at(point: np.ndarray) -> list[TensorCheck | None]:
            readout = _layer_readout(layer, point, error)
            return [_check_tensor("input", point, grads["input"], readout, groups, method, s, rng, len(x))] + \
                [_check_tensor(p.label, p.live, grads[p.label], readout, element_groups(p.live.size),
                               "elements", s, rng, len(x)) for p in state.parameters]

        _finish(report, state, compare_at(x))
        if not report.ok:
            _mark_stale(report, lambda: compare_at(x_other.copy()))
    return report


def check_loss(loss_layer, prediction, label=None, *, mode: str = "full", eps: float | None = None,
               rtol: float | None = None, atol: float = 0.0, seed: int = 0) -> GradcheckReport:
    """Check ``loss_layer.backward(label)`` against finite differences of ``loss_layer.forward(p, label)``.

    ``prediction`` is an array or a shape (random probability rows are drawn); ``label`` defaults to
    random one-hot rows of the same shape. Other parameters as :func:`check_layer`.
    """
    rng = np.random.default_rng(seed)
    p = _probabilities(tuple(prediction), rng) if _is_shape(prediction) else _as_float64(prediction, "prediction")
    y = _one_hot_like(p.shape, rng) if label is None else _as_float64(label, "label")
    report = GradcheckReport(target=_describe(loss_layer), mode=mode, seed=seed, step=0.0, rtol=0.0, atol=atol)

    def gradient(pred: np.ndarray, problems: list[str]) -> np.ndarray | None:
        p_in, y_in = pred.copy(), y.copy()
        loss_layer.forward(p_in, y_in)
        if not (np.array_equal(p_in, pred) and np.array_equal(y_in, y)):
            problems.append("forward writes into its prediction or label array")
        y_in = y.copy()
        grad = loss_layer.backward(y_in)
        if not np.array_equal(y_in, y):
            problems.append("backward writes into the label array it is given")
        return _gradient(grad, p.shape, "backward's return value (the prediction gradient)", problems)

    with held([("", loss_layer)]) as state:
        p_other = np.clip(p * rng.uniform(0.5, 1.5, p.shape), 0.0, None)
        s = _settings(mode, eps, rtol, atol, loss_layer.forward(p_other.copy(), y.copy()), report)
        grad = gradient(p, report.problems)
        if not _same({"g": grad}, {"g": gradient(p, [])}):
            report.problems.append(_STATE_LEAKS)

        def compare_at(point: np.ndarray) -> list[TensorCheck | None]:
            readout = _scalar_readout(lambda: loss_layer.forward(point.copy(), y.copy()))
            return [_check_tensor("prediction", point, grad, readout, element_groups(point.size), "elements",
                                  s, rng, len(p))]

        _finish(report, state, compare_at(p))
        if not report.ok:
            _mark_stale(report, lambda: compare_at(p_other.copy()))
    return report


class _FixedBatch:
    """Serves the same batch on every call, so the network's loss is a function of its weights alone."""

    def __init__(self, batch: tuple[np.ndarray, np.ndarray]) -> None:
        self.batch = batch

    def forward(self) -> tuple[np.ndarray, np.ndarray]:
        return self.batch

    next = forward


def check_network(network, *, mode: str = "full", eps: float | None = None, rtol: float | None = None,
                  atol: float = 0.0, seed: int = 0) -> GradcheckReport:
    """Check the gradient of the network's loss w.r.t. every trainable layer's weights.

    One batch is drawn from ``network.data_layer`` and served again for every evaluation; the data layer,
    the optimizers, the weights and ``network.loss`` are all as before when the check returns.
    """
    rng = np.random.default_rng(seed)
    layers = [(f"layers[{i}]", layer) for i, layer in enumerate(network.layers)]
    names = ", ".join(_describe(layer) for layer in network.layers)
    report = GradcheckReport(target=f"NeuralNetwork[{names}] + {_describe(network.loss_layer)}", mode=mode,
                             seed=seed, step=0.0, rtol=0.0, atol=atol)
    data_layer, losses = network.data_layer, list(network.loss)
    fetch = getattr(data_layer, "forward", None) or getattr(data_layer, "next", None)
    if fetch is None:
        raise TypeError(f"check_network: network.data_layer must have forward() or next() returning "
                        f"(input_tensor, label_tensor), got {type(data_layer).__name__}")
    network.data_layer = _FixedBatch(tuple(np.array(b, copy=True) for b in fetch()))
    try:
        with held(layers) as state:
            s = _settings(mode, eps, rtol, atol, network.forward(), report)
            network.backward()
            grads = {p.label: _gradient(getattr(p.owner, p.grad_name, None), p.start.shape,
                                        f"{p.label}.{p.grad_name}", report.problems) for p in state.parameters}
            for p in state.parameters:
                if p.reset():
                    report.problems.append(f"network.backward changed {p.label} although the optimizers "
                                           "were detached")
            readout = _scalar_readout(network.forward)
            _finish(report, state, [_check_tensor(p.label, p.live, grads[p.label], readout,
                                                  element_groups(p.live.size), "elements", s, rng, None)
                                    for p in state.parameters])
    finally:
        network.data_layer = data_layer
        network.loss[:] = losses
    return report


def _is_loss(obj: object) -> bool:
    try:
        params = inspect.signature(obj.forward).parameters.values()
    except (TypeError, ValueError, AttributeError):
        return False
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) == 2


def assert_gradients(target, *args, **kwargs) -> GradcheckReport:
    """Run the right check for ``target`` and raise :class:`GradientCheckError` if it fails.

    A network (``layers`` and ``loss_layer``) -> :func:`check_network`; an object whose ``forward`` takes
    two arguments -> :func:`check_loss`; anything else -> :func:`check_layer`. Returns the report on success::

        assert_gradients(FullyConnected(4, 3), (8, 4))
        assert_gradients(CrossEntropyLoss(), (8, 3))
    """
    if hasattr(target, "layers") and hasattr(target, "loss_layer"):
        report = check_network(target, *args, **kwargs)
    elif _is_loss(target):
        report = check_loss(target, *args, **kwargs)
    else:
        report = check_layer(target, *args, **kwargs)
    if not report.ok:
        raise GradientCheckError(report)
    return report
