"""Preparing a check: the inputs, and the step and tolerances for the precision the layer computes in."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcheck.report import GradcheckReport

__all__ = ["MODES", "Settings", "as_float64", "is_shape", "input_array", "probabilities", "one_hot_like",
           "settings_for"]

MODES = ("full", "fast")
_F64_EPS = float(np.finfo(np.float64).eps)
_DEFAULT_RTOL = {8: 1e-6, 4: 1e-3, 2: 3e-2}     # by the itemsize of the precision the layer computes in


@dataclass
class Settings:
    mode: str
    step: float
    eps: float      # machine epsilon of the precision the function is computed in
    rtol: float
    atol: float


def as_float64(value: object, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"gradcheck: {what} must be a real numeric array or a shape tuple, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"gradcheck: {what} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"gradcheck: {what} must be finite")
    return arr.astype(np.float64, copy=True)


def is_shape(value: object) -> bool:
    return isinstance(value, tuple) and len(value) > 0 and all(isinstance(v, (int, np.integer)) for v in value)


def input_array(inputs: object, rng: np.random.Generator) -> np.ndarray:
    if is_shape(inputs):
        return rng.standard_normal(tuple(int(v) for v in inputs))
    return as_float64(inputs, "inputs")


def probabilities(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal(shape)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def one_hot_like(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    label = np.zeros(shape)
    flat = label.reshape(-1, shape[-1])
    flat[np.arange(len(flat)), rng.integers(0, shape[-1], len(flat))] = 1.0
    return label


def settings_for(mode: str, eps: float | None, rtol: float | None, atol: float, output: object,
              report: GradcheckReport) -> Settings:
    """Working precision from the dtype the function returns; float32 widens the defaults, said in the report."""
    if mode not in MODES:
        raise ValueError(f"gradcheck: mode must be one of {MODES}, got {mode!r}")
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
    return Settings(mode, step, machine_eps, chosen_rtol, float(atol))

