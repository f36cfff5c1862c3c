"""Hold a layer to a reference implementation: its forward too, not only its backward.

A gradient check proves that backward matches forward; a wrong forward (a flipped kernel, a pooling that drops
the last window, a variance with the wrong denominator) whose backward is exact for it passes. Here the same
input goes through the layer and a reference, and the same random upstream error back through both::

    check_against(MyConv(1, (3, 5), 4), core.Conv(1, (3, 5), 4), (2, 3, 9))
    check_against(MyLinear(5, 3), torch.nn.Linear(5, 3), (8, 5))

The pipeline: find the layer's parameters (as a gradient check does) -> run the layer in its own precision ->
carry its parameters over to the reference (:mod:`gradcheck.carry`) -> run the reference in float64 -> compare
``output``, ``input`` (backward's gradient of the input) and every parameter gradient, by the layer's names.

A reference is a layer with the same protocol, a torch ``nn.Module`` (run as a float64 deep copy), or a
function ``f(x) -> y``: a function has no backward, so its input gradient is estimated by this checker's
finite differences of ``f`` (a gradient check of the layer's backward against the reference's forward), and
a layer with parameters cannot be compared with one (give a layer or a module).

Each element must agree within ``REFERENCE_TOLERANCE_TEXT``. Nothing of the layer or the reference changes:
both are held (:func:`gradcheck.state.held`) and a torch module is copied. Every run starts from the same
numpy global random state (held puts it back), so a layer and a layer reference that draw from it (dropout in
training) draw the same.
"""
from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gradcheck.carry import Carried, CarryError, by_mapping, candidates
from gradcheck.diagnosis import pattern
from gradcheck.parameters import assign, find_parameters, per_call_arrays, resolve
from gradcheck.prepare import input_array
from gradcheck.report import ElementArrays, ElementError, GradcheckReport, GradientCheckError, TensorCheck, invariants
from gradcheck.state import held, is_layer, with_sublayers
from gradcheck.targets import LayerTarget, describe, other_point_of

__all__ = ["check_against", "assert_matches", "compare_tensors", "REFERENCE_ULPS", "REFERENCE_TOLERANCE_TEXT"]

REFERENCE_ULPS = 1024       # the rounding a layer and its reference may differ by, in units of the layer's eps
REFERENCE_TOLERANCE_TEXT = (f"|layer - reference| <= {REFERENCE_ULPS} eps (|reference| + max |reference| of the "
                            "tensor) + atol + rtol |reference|, eps of the layer's precision")
_PHASES = (None, "train", "test")
WORST = 10


@dataclass
class _Run:
    output: np.ndarray
    input: np.ndarray | None            # backward's gradient of the input (None: not computed)
    gradients: dict[str, np.ndarray]    # by the side's own parameter names


# ------------------------------------------------------------------------------------------ the two sides

def _set_phase(owners: Sequence[tuple[str, object]], phase: str | None) -> None:
    """The course's ``testing_phase`` on the layer and every sub-layer that has it."""
    if phase is not None:
        for _, obj in owners:
            if hasattr(obj, "testing_phase"):
                obj.testing_phase = phase == "test"


class _LayerSide:
    """A layer with the exercise protocol: its parameters as found by a gradient check, run under
    :func:`held`, so that it is as it was after every run."""

    def __init__(self, layer: object, x: np.ndarray, phase: str | None, parameters, problems: list[str],
                 warnings: list[str]) -> None:
        self.layer, self.phase, self.label = layer, phase, describe(layer)
        self.owners = with_sublayers([("", layer)])
        if phase is not None and not any(hasattr(obj, "testing_phase") for _, obj in self.owners):
            warnings.append(f"{self.label} has no testing_phase attribute: run as it is for phase {phase!r}")
        with held(self.owners) as state:       # a first forward and backward, then the parameters
            _set_phase(self.owners, phase)
            target = LayerTarget(layer, x, np.random.default_rng(0))
            target.output()
            target.backward_pass([])
            found = find_parameters(state, self.owners, parameters, problems,
                                    per_call_arrays(state, self.owners, target.output))
            warnings.extend(state.warnings)
            self.start = {p.label: np.array(p.live) for p in found}     # the values the layer was given
        self.params = [(p.owner, p.path, p.grad_path, p.label) for p in found]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {label: value.shape for label, value in self.start.items()}

    def values(self) -> dict[str, np.ndarray]:
        return {label: value.copy() for label, value in self.start.items()}

    def run(self, x: np.ndarray, error: Callable[[tuple], np.ndarray], values: Mapping[str, np.ndarray] | None,
            problems: list[str]) -> _Run:
        with held(self.owners):
            _set_phase(self.owners, self.phase)
            for owner, path, _, label in self.params if values is not None else []:
                live = resolve(owner, path)
                if isinstance(live, np.ndarray) and live.flags.writeable:
                    np.copyto(live, values[label], casting="unsafe")
                else:
                    assign(owner, path, np.array(values[label], dtype=np.float64))
            target = LayerTarget(self.layer, x, np.random.default_rng(0))
            y = np.array(target._forward(x.copy()))
            target.error = e = error(y.shape)
            if e is None:
                return _Run(y, None, {})
            grad = target.backward_pass(problems).get("input")
            grads = {label: np.array(resolve(owner, grad_path), dtype=np.float64)
                     for owner, _, grad_path, label in self.params}
            return _Run(y, None if grad is None else np.array(grad), grads)


class _TorchSide:
    """A torch ``nn.Module``, run as a float64 deep copy in the phase asked for (``train()``/``eval()``)."""

    def __init__(self, module: object, phase: str | None) -> None:
        import torch

        self.torch = torch
        self.label = describe(module)
        self.module = copy.deepcopy(module).double()
        if phase is not None:
            self.module.train(phase == "train")

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {n: tuple(p.shape) for n, p in self.module.named_parameters()}

    def run(self, x: np.ndarray, error: Callable[[tuple], np.ndarray], values: Mapping[str, np.ndarray] | None,
            problems: list[str]) -> _Run:
        torch = self.torch
        params = dict(self.module.named_parameters())
        with torch.no_grad():
            for name, p in params.items():
                if values is not None:
                    p.copy_(torch.from_numpy(np.asarray(values[name], dtype=np.float64)))
                p.grad = None
        floats = x.dtype.kind == "f"
        t = torch.tensor(x, dtype=torch.float64 if floats else None, requires_grad=floats)
        y = self.module(t)
        e = error(tuple(y.shape))
        out = y.detach().numpy().copy()
        if e is None:
            return _Run(out, None, {})
        y.backward(torch.from_numpy(np.asarray(e, dtype=np.float64)))
        grads = {n: (p.grad.numpy().copy() if p.grad is not None else np.zeros(tuple(p.shape)))
                 for n, p in params.items()}
        return _Run(out, t.grad.numpy().copy() if floats and t.grad is not None else None, grads)


class _FunctionSide:
    """A function ``f(x) -> y``: output only; its input gradient comes from finite differences."""

    def __init__(self, function: Callable) -> None:
        self.function, self.label = function, getattr(function, "__qualname__", describe(function))

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def run(self, x: np.ndarray, error: Callable[[tuple], np.ndarray], values: Mapping[str, np.ndarray] | None,
            problems: list[str]) -> _Run:
        return _Run(np.array(self.function(x.astype(np.float64) if x.dtype.kind == "f" else x.copy()),
                             dtype=np.float64), None, {})


def _is_torch_module(obj: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _side_of(reference: object, phase: str | None, x: np.ndarray, problems: list[str], warnings: list[str]):
    if isinstance(reference, type):
        raise TypeError(f"check_against: the reference {reference.__name__} is a class; give an instance "
                        f"({reference.__name__}(...)) built with the layer's arguments")
    if _is_torch_module(reference):
        return _TorchSide(reference, phase)
    if is_layer(reference):
        return _LayerSide(reference, x, phase, None, problems, warnings)
    if callable(reference):
        return _FunctionSide(reference)
    raise TypeError(f"check_against: the reference must be a layer (forward/backward), a torch nn.Module or a "
                    f"function f(x) -> y, got {type(reference).__name__}")


# ------------------------------------------------------------------------------------------ comparing

def _eps(dtype: np.dtype) -> float:
    return float(np.finfo(dtype).eps) if np.dtype(dtype).kind == "f" else float(np.finfo(np.float64).eps)


def _tolerance(reference: np.ndarray, eps: float, rtol: float, atol: float) -> np.ndarray:
    magnitude = np.abs(np.where(np.isfinite(reference), reference, 0.0))
    return REFERENCE_ULPS * eps * (magnitude + magnitude.max(initial=0.0)) + atol + rtol * magnitude


def _hint(name: str, layer: np.ndarray, reference: np.ndarray, failed: np.ndarray, tolerance: np.ndarray,
          batch: int) -> str | None:
    """What the difference looks like: a constant factor, the reference reversed or moved by one along an
    axis, or wrong only at the last positions along an axis."""
    if not failed.any() or not (np.isfinite(layer).all() and np.isfinite(reference).all()):
        return None
    near = lambda a, b, tol: bool((np.abs(a - b) <= tol).all())     # noqa: E731
    for axis in range(layer.ndim):
        n = layer.shape[axis]
        if n >= 2 and near(layer, np.flip(reference, axis), tolerance):
            return (f"the layer's {name} equals the reference's reversed along axis {axis}: a flipped kernel "
                    "(convolution against cross-correlation) or a reversed index?")
        for shift in (1, -1) if n >= 3 else ():
            inner = range(max(0, -shift), n - max(0, shift))
            moved = range(max(0, shift), n - max(0, -shift))
            if near(np.take(layer, inner, axis), np.take(reference, moved, axis), np.take(tolerance, moved, axis)):
                return (f"the layer's {name} equals the reference's moved by one place along axis {axis}: padding off "
                        "by one (before against after), or an offset in the window index?")
    valid = np.abs(reference) > tolerance
    if (failed & valid).sum() >= 2:
        ratio = layer[valid] / reference[valid]
        c = float(np.median(ratio))
        if near(layer, c * reference, 2 * tolerance + 1e-9 * np.abs(layer)) and abs(c - 1) > 1e-6:
            what = "the sign is flipped" if abs(c + 1) < 1e-6 else "a constant factor: a normalisation (1/n against " \
                "1/(n-1), a mean against a sum) or a scale applied once too often?"
            n = batch
            if n > 1 and min(abs(c - np.sqrt((n - 1) / n)), abs(c - np.sqrt(n / (n - 1)))) < 1e-6:
                what = f"sqrt((n - 1) / n) or its inverse for the batch n = {n}: a variance divided by n - 1 " \
                       "where the reference divides by n (np.var's ddof), or the other way round?"
            return f"the layer's {name} equals {c:.6g} x the reference's everywhere: {what}"
    for axis in range(1, layer.ndim):
        wrong = np.moveaxis(failed, axis, 0).reshape(layer.shape[axis], -1).any(axis=1)
        if wrong[-1] and not wrong[:-1].any() and len(wrong) > 1:
            return (f"only the last position along axis {axis} differs: a window, step or padding dropped (or "
                    "added) at the end?")
    return None


def _shape_problem(mine: tuple[int, ...], theirs: tuple[int, ...]) -> str:
    text = f"output shape: the layer gives {mine}, the reference {theirs}"
    if len(mine) == len(theirs):
        fewer = [i for i, (a, b) in enumerate(zip(mine, theirs)) if a == b - 1]
        more = [i for i, (a, b) in enumerate(zip(mine, theirs)) if a == b + 1]
        if (fewer or more) and len(fewer) + len(more) == sum(a != b for a, b in zip(mine, theirs)):
            axes = ", ".join(map(str, fewer or more))
            text += (f": one position {'fewer' if fewer else 'more'} along axis {axes}: a window or step "
                     f"{'dropped' if fewer else 'added'} at the end (range(0, n - p, s) against range(0, n - p + 1, "
                     "s)), or padding?")
    return text


def compare_tensors(name: str, layer: np.ndarray, reference: np.ndarray, eps: float, rtol: float, atol: float,
                    batch: int = 0, method: str = "reference") -> TensorCheck:
    """One tensor of two computations element by element (``REFERENCE_TOLERANCE_TEXT``), with its worst
    elements, a hint, and the element arrays the pictures draw."""
    a, r = np.asarray(layer, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    tol = _tolerance(r, eps, rtol, atol)
    with np.errstate(invalid="ignore"):
        error = np.abs(a - r)
        same_inf = np.isinf(a) & (a == r)
        agree = _agreeing(a, r, tol)
        badness = np.where(same_inf, 0.0, np.nan_to_num(error / np.maximum(tol, 1e-300), nan=np.inf))
        rel = np.where(same_inf, 0.0, error / np.maximum(np.abs(r), 1e-300))
    failed = ~agree
    order = np.argsort(-badness, axis=None, kind="stable")[:WORST]
    worst = [ElementError(tuple(int(i) for i in np.unravel_index(k, a.shape)), float(a.flat[k]), float(r.flat[k]),
                          float(error.flat[k]), float(tol.flat[k])) for k in order if failed.flat[k]]
    finite = np.isfinite(r)
    check = TensorCheck(name=name, shape=a.shape, method=method, checked=int(a.size), failed=int(failed.sum()),
                        max_abs_error=float(np.nan_to_num(error, nan=np.inf).max(initial=0.0)),
                        max_rel_error=float(np.nan_to_num(rel, nan=np.inf).max(initial=0.0)), worst=worst,
                        scale=float(np.abs(r[finite]).max(initial=0.0)), max_tolerance=float(tol.max(initial=0.0)),
                        hint=_hint(name, a, r, failed, tol, batch), pattern=pattern(a, r, failed, tol))
    check.elements = ElementArrays(analytic=a, numeric=r, tolerance=tol, failed=failed,
                                   checked=np.ones(a.shape, dtype=bool), level=np.zeros(a.shape, dtype=int), values=r)
    return check


def _agreeing(a: np.ndarray, r: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Elements within ``tol`` of each other, or the same infinity."""
    with np.errstate(invalid="ignore"):
        error = np.abs(a - r)
        return (np.isinf(a) & (a == r)) | (np.isfinite(error) & (error <= tol))


def _agrees(layer: np.ndarray, reference: np.ndarray, eps: float, rtol: float, atol: float) -> bool:
    """Every element agrees (what choosing a layout needs: no report, no hint)."""
    if layer.shape != reference.shape:
        return False
    r = np.asarray(reference, dtype=np.float64)
    return bool(_agreeing(np.asarray(layer, dtype=np.float64), r, _tolerance(r, eps, rtol, atol)).all())


# ------------------------------------------------------------------------------------------ the check

def _carry_overs(layer: _LayerSide, reference, mapping: Callable | None) -> list[Carried | None]:
    mine, theirs = layer.shapes(), reference.shapes()
    if mapping is not None:
        return [by_mapping(mapping, layer.values(), theirs)]
    if isinstance(reference, _FunctionSide):
        return [None]
    if not mine and not theirs:
        return [None]
    return candidates(mine, theirs)


def _function_input_gradient(layer: _LayerSide, function: Callable, x: np.ndarray, seed: int, rtol: float | None,
                             atol: float) -> GradcheckReport:
    """The layer's backward against finite differences of the reference function (a gradient check)."""
    from gradcheck.check import check_function

    def forward(x):
        return np.asarray(function(x), dtype=np.float64), x

    def backward(dout, cache):
        return layer.run(cache, lambda shape: dout, None, []).input

    return check_function(forward, backward, x, seed=seed, rtol=rtol, atol=atol)


def _layout(mine: _LayerSide, theirs, carry_overs: list[Carried | None], x: np.ndarray, eps: float, rtol: float,
            atol: float) -> Carried | None:
    """The first carry-over (simplest first) under which the two outputs agree at a second point, the checked
    input moved by random factors and shifts: the checked input may not tell layouts apart (zeros cannot tell
    W from W.T); or the simplest when none does (the report then shows how they differ)."""
    if len(carry_overs) == 1:
        return carry_overs[0]
    probe = other_point_of(x, np.random.default_rng(7))
    ours = mine.run(probe, lambda shape: None, None, []).output
    values = mine.values()
    for carried in carry_overs:
        if _agrees(ours, theirs.run(probe, lambda shape: None, carried.values(values), []).output, eps, rtol, atol):
            return carried
    return carry_overs[0]


def check_against(layer, reference, inputs, *, mapping: Callable[[dict], Mapping] | None = None,
                  phase: str | None = None, parameters: Sequence[str] | None = None, rtol: float = 0.0,
                  atol: float = 0.0, seed: int = 0) -> GradcheckReport:
    """Compare ``layer`` with ``reference`` on one input: output, input gradient, every parameter gradient.

    Parameters
    ----------
    layer : object with ``forward(x)`` and ``backward(e)``
    reference : a layer with the same protocol, a torch ``nn.Module``, or a function ``f(x) -> y``
        Built with the layer's arguments; its parameters are replaced by the layer's (carried over), and put
        back afterwards (a torch module is copied).
    inputs : ndarray of shape (batch, ...) or tuple of int
        The input, or its shape (standard normal values drawn with ``seed``). Never modified.
    mapping : callable ``mapping(params) -> dict``, optional
        The reference's tensors by name from the layer's parameters by label, where the automatic carry-over
        (see :mod:`gradcheck.carry`) cannot find them: ``lambda p: {"weight": p["W"].T, "bias": p["b"]}``.
    phase : {None, "train", "test"}
        Sets ``testing_phase`` on the layer and its sub-layers (and ``train()``/``eval()`` on a torch
        module); None: both as they are.
    parameters : list of str, optional
        The layer's parameters to carry over and compare, by path, as in :func:`~gradcheck.check_layer`.
    rtol, atol : float
        Added to the tolerance (see ``REFERENCE_TOLERANCE_TEXT``).
    seed : int
        Seeds the input (when a shape is given) and the upstream error.

    Returns
    -------
    GradcheckReport
        Tensors ``output``, ``input`` and the layer's parameters; ``ok`` only if every element agreed.
        ``report.against`` names the reference and the carry-over used.
    """
    return _validated(_against(layer, reference, inputs, mapping, phase, parameters, rtol, atol, seed))


def _against(layer, reference, inputs, mapping, phase, parameters, rtol, atol, seed) -> GradcheckReport:
    """check_against's pipeline (see its docstring)."""
    if phase not in _PHASES:
        raise ValueError(f"check_against: phase must be None, 'train' or 'test', got {phase!r}")
    for what, value in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
            raise ValueError(f"check_against: {what} must be a finite number >= 0, got {value!r}")
    rng = np.random.default_rng(seed)
    x = input_array(inputs, rng)
    problems: list[str] = []
    warnings: list[str] = []
    mine = _LayerSide(layer, x, phase, parameters, problems, warnings)
    theirs = _side_of(reference, phase, x, problems, warnings)
    report = GradcheckReport(target=mine.label, mode="reference", seed=seed, step=0.0, rtol=rtol, atol=atol,
                             against=theirs.label, problems=problems, warnings=warnings)
    errors: dict[tuple, np.ndarray] = {}

    def error(shape: tuple) -> np.ndarray:       # one upstream error per output shape, the same for both sides
        return errors.setdefault(tuple(shape), np.random.default_rng([seed, 1]).standard_normal(shape))

    ours = mine.run(x, error, None, problems)
    eps = _eps(ours.output.dtype)
    report.precision = str(ours.output.dtype) if ours.output.dtype.kind == "f" else "float64"
    if isinstance(theirs, _FunctionSide) and mine.params:
        problems.append(f"{mine.label} has parameters ({', '.join(p[3] for p in mine.params)}); a function reference "
                        "has none to carry them to: give a layer or a torch module as the reference")
        return report
    try:
        carry_overs = _carry_overs(mine, theirs, mapping)
    except CarryError as exc:
        problems.append(f"carry-over: {exc}")
        return report
    values = mine.values()
    carried = _layout(mine, theirs, carry_overs, x, eps, rtol, atol)
    run = theirs.run(x, error, None if carried is None else carried.values(values), problems)
    if carried is not None:
        report.against += f" (carried over: {carried.describe()})"
    if ours.output.shape != run.output.shape:
        problems.append(_shape_problem(ours.output.shape, run.output.shape))
        return report
    batch = len(x) if x.ndim else 0
    report.tensors.append(compare_tensors("output", ours.output, run.output, eps, rtol, atol, batch))
    if isinstance(theirs, _FunctionSide):
        if x.dtype.kind == "f":
            numeric = _function_input_gradient(mine, theirs.function, x, seed, rtol or None, atol)
            for t in numeric.tensors:
                t.name = "input"
            report.tensors.extend(numeric.tensors)
            report.problems.extend(numeric.problems)
            report.warnings.extend(numeric.warnings)
        return report
    if ours.input is not None and run.input is not None:
        report.tensors.append(compare_tensors("input", ours.input, run.input, eps, rtol, atol, batch))
    elif ours.input is not None or run.input is not None:
        problems.append(f"input gradient: {'the reference' if ours.input is not None else 'the layer'} gives none")
    back = carried.gradients_back(run.gradients) if carried is not None else {}
    for label, gradient in ours.gradients.items():
        report.tensors.append(compare_tensors(label, gradient, back[label], eps, rtol, atol, batch))
    return report


def _validated(report: GradcheckReport) -> GradcheckReport:
    if os.environ.get("GRADCHECK_VALIDATE"):        # the test suite holds every check to the report's laws
        broken = invariants(report)
        if broken:
            raise AssertionError(f"reference report of {report.target} breaks its invariants: {'; '.join(broken)}")
    return report


def assert_matches(layer, reference, inputs, **kwargs) -> GradcheckReport:
    """:func:`check_against` that raises :class:`~gradcheck.GradientCheckError` when anything differs."""
    __tracebackhide__ = True
    report = check_against(layer, reference, inputs, **kwargs)
    if not report.ok:
        raise GradientCheckError(report)
    return report

