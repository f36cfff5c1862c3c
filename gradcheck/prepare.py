"""Preparing a check: the inputs, and the step and tolerances for the precision the function really has."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["MODES", "MAX_STEP", "MAX_RTOL", "DEFAULT_RTOL", "MIN_STEP_ULPS", "Settings", "as_float64", "is_shape",
           "input_array", "probabilities", "one_hot_like", "validate_settings", "settings_for"]

MODES = ("full", "fast")
MAX_STEP = 0.1          # a first step above a tenth of the value does not resolve anything that varies on its scale
MAX_RTOL = 0.1          # rtol above this would pass gradients off by more than a tenth
MIN_STEP_ULPS = 1024    # a step below this many machine epsilons of the working precision measures rounding
_F64_EPS = float(np.finfo(np.float64).eps)
# rtol is the same in every precision: the precision enters the tolerance through the rounding of the outputs
# each step moves (measured where forward is noisier), not through a per-dtype constant (float32's 1e-3 passed
# one element 0.3 % off where float32 resolves 1e-5)
DEFAULT_RTOL = 1e-6


@dataclass(frozen=True)
class Settings:
    mode: str
    step: float
    machine_eps: float      # machine epsilon of the precision the function is computed in
    rtol: float
    atol: float
    noise: np.ndarray | None = None     # forward's run-to-run noise per readout row, where it has any

    @property
    def precision(self) -> str:
        """The name of the precision the function computes in (``float32``)."""
        return next(np.dtype(t).name for t in (np.float64, np.float32, np.float16)
                    if float(np.finfo(t).eps) == self.machine_eps)


def as_float64(value: object, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"gradcheck: {what} must be a real numeric array or a shape tuple, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"gradcheck: {what} has zero size (shape {arr.shape}): give at least one element")
    if not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"gradcheck: {what} must be finite, got {arr[bad]} at index {bad}")
    return arr.astype(np.float64, copy=True)


def is_shape(value: object) -> bool:
    return isinstance(value, tuple) and len(value) > 0 and all(isinstance(v, (int, np.integer)) for v in value)


def input_array(inputs: object, rng: np.random.Generator, what: str = "inputs") -> np.ndarray:
    """A shape tuple: random normal values; an integer or boolean ndarray: itself, copied and not converted
    (indices, masks: never perturbed); anything else: a float64 copy. A plain list of integers is refused:
    ``[8, 5]`` could be a shape or two values."""
    if is_shape(inputs):
        shape = tuple(int(v) for v in inputs)
        if min(shape) < 1:
            raise ValueError(f"gradcheck: {what} shape {shape} has zero size: every dimension must be >= 1")
        return rng.standard_normal(shape)
    if isinstance(inputs, list) and inputs and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                                   for v in inputs):
        raise TypeError(f"gradcheck: {what} {inputs!r} is a list of integers: give a shape as a tuple "
                        f"{tuple(inputs)!r}, or values as an array (np.array({inputs!r}) for indices)")
    if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "iub":
        if inputs.size == 0:
            raise ValueError(f"gradcheck: {what} has zero size (shape {inputs.shape}): give at least one element")
        return inputs.copy()
    return as_float64(inputs, what)


def probabilities(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    z = input_array(shape, rng, "prediction")
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def one_hot_like(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    label = np.zeros(shape)
    flat = label.reshape(-1, shape[-1])
    flat[np.arange(len(flat)), rng.integers(0, shape[-1], len(flat))] = 1.0
    return label


def _working_itemsize(output: np.ndarray) -> tuple[int, str | None]:
    """The precision the function computes in: its output dtype, or float32 when a float64 output holds
    only float32 numbers (computed in float32 inside, then converted), which random float64 inputs and
    weights would not give by chance."""
    dtype = output.dtype
    itemsize = dtype.itemsize if dtype.kind == "f" and dtype.itemsize in (2, 4, 8) else 8
    if itemsize == 8 and dtype == np.float64:
        values = output[np.isfinite(output)]
        with np.errstate(over="ignore"):
            as32, as16 = values.astype(np.float32), values.astype(np.float16)
        if values.size and np.array_equal(as32, values) and not np.array_equal(as16, values):
            return 4, "every value it returns is a float32 number although its dtype is float64"
    return itemsize, None


def validate_settings(mode: str | None, step: float | None, rtol: float | None, atol: float) -> None:
    """Raise ValueError for a setting that would make a verdict meaningless (see the table in docs/checking.md)."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"gradcheck: mode must be one of {MODES}, got {mode!r}")
    checks = [("step", step, 0.0, MAX_STEP, False), ("rtol", rtol, 0.0, MAX_RTOL, True),
              ("atol", atol, 0.0, None, True)]
    for name, value, low, high, zero_ok in checks:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"gradcheck: {name} must be a real number, got {type(value).__name__} {value!r}")
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"gradcheck: {name} must be finite, got {value}")
        if value < low or (value == low and not zero_ok):
            raise ValueError(f"gradcheck: {name} must be {'>=' if zero_ok else '>'} {low:g}, got {value:g}")
        if name == "step" and value < MIN_STEP_ULPS * _F64_EPS:
            raise ValueError(f"gradcheck: step must be at least {MIN_STEP_ULPS} machine epsilons of float64 "
                             f"({MIN_STEP_ULPS * _F64_EPS:.3g}), got {value:g}: differences that small measure "
                             "rounding, not the derivative")
        if high is not None and value > high:
            why = "it could not resolve anything that varies on a smaller scale" if name == "step" else \
                "it would pass gradients that are off by more than that fraction"
            raise ValueError(f"gradcheck: {name} must be at most {high:g}, got {value:g}: {why}")


def settings_for(mode: str, step: float | None, rtol: float | None, atol: float, output: np.ndarray,
                 again: Callable[[], np.ndarray | None] | None = None) -> tuple[Settings, list[str]]:
    """The step and tolerances for the precision the function really computes in, and warnings saying so.

    ``again()`` returns forward's output at inputs moved by a float64-only amount (or None): a float64
    output that holds only float32 numbers is taken for float32 computation only if it still does there.
    Inputs that are float32 numbers themselves (zeros, integers), or a lossy formula, can give float32
    numbers by chance, and taking them for float32 computation would widen the step and the tolerance."""
    if mode not in MODES:
        raise ValueError(f"gradcheck: mode must be one of {MODES}, got {mode!r}")
    itemsize, evidence = _working_itemsize(np.asarray(output))
    if evidence is not None and again is not None:
        moved = again()
        if moved is not None and _working_itemsize(np.asarray(moved))[0] == 8:
            itemsize, evidence = 8, None
    name = f"float{8 * itemsize}"
    machine_eps = float(np.finfo(f"f{itemsize}").eps)
    chosen_step = machine_eps ** (1 / 3) if step is None else float(step)
    if chosen_step < MIN_STEP_ULPS * machine_eps:
        raise ValueError(f"gradcheck: step {chosen_step:g} is below {MIN_STEP_ULPS} machine epsilons of {name}, the "
                         f"precision the function computes in ({MIN_STEP_ULPS * machine_eps:.3g}): differences that "
                         "small measure rounding, not the derivative")
    chosen_rtol = DEFAULT_RTOL if rtol is None else float(rtol)
    warnings = []
    if itemsize < 8:
        why = evidence or f"it returns {name} even for float64 input and weights"
        warnings.append(f"the function computes in {name} ({why}), so it is checked at {name} precision: "
                        f"step widened to {chosen_step:.2g} (float64 would use {_F64_EPS ** (1 / 3):.2g}), steps "
                        f"rounded to {name} values, and the tolerance allows {name} rounding of the outputs each "
                        "step moves")
    return Settings(mode, chosen_step, machine_eps, chosen_rtol, float(atol)), warnings
